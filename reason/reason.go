// Package reason is why triagem decided what it did: a code and its values, which the log
// keeps as an English sentence and the team's templates write in the team's language.
package reason

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// Reason is one step of a decision's explanation.
type Reason struct {
	Code string
	// Args are the code's values, already written as they should read ("0.93",
	// "insurance"), in the order of its keys.
	Args []string
}

// A code's English sentence, with {key} where each of its values goes, in the order of
// New's arguments. The sentences are the log's: docs/AUDIT.md's queries and the auditors'
// habits depend on them, so a new wording is a new code.
type form struct {
	english string
	keys    []string
}

// The codes. "text" carries a sentence made elsewhere (a screen's or a parser's finding),
// which no template translates.
var forms = map[string]form{
	"text":               {"{text}", []string{"text"}},
	"injection-ignored":  {"sentences addressed to an automated system were ignored", nil},
	"no-evidence":        {"no category has enough evidence", nil},
	"scored":             {"{category} scored {score}, next best {next_score}", []string{"category", "score", "next_score"}},
	"rules-unsure":       {"confidence {confidence} is below the threshold {threshold}", []string{"confidence", "threshold"}},
	"sensitive-evidence": {"{category} also has evidence ({score}): a sensitive case is never routed elsewhere on a guess", []string{"category", "score"}},
	"probability": {"{category} has probability {probability} (model and rules), next {next} {next_probability}",
		[]string{"category", "probability", "next", "next_probability"}},
	"below-threshold": {"probability {probability} is below the {threshold} needed to route {category} automatically",
		[]string{"probability", "threshold", "category"}},
	"sensitive-probability": {"{category} has probability {probability}: a sensitive case is never routed elsewhere on a guess",
		[]string{"category", "probability"}},
	"llm-unusable":    {"the language model gave no usable answer ({error}): a human decides", []string{"error"}},
	"llm-agrees":      {"the language model agrees ({category}, {confidence}): routed", []string{"category", "confidence"}},
	"llm-disagrees":   {"the language model says {llm}, the local model {category}: a human decides", []string{"llm", "category"}},
	"llm-unsure":      {"unsure locally, and the language model says {llm}: a human decides", []string{"llm"}},
	"not-answered":    {"not answered: {why}", []string{"why"}},
	"for-an-agent":    {"{why}: left for an agent", []string{"why"}},
	"no-department":   {"the procedure names no department for this: a human decides", nil},
	"form-no-address": {"a web form's mail with no single address to answer: a human decides", nil},
	"procedure":       {"procedure: {label} go to {to}", []string{"label", "to"}},
	"duplicate":       {"same Message-ID as case {case}: forwarded once, by policy", []string{"case"}},

	// Why an agent's reply to a draft was not obeyed: the log's words, and the notice's.
	"refused-auto-reply":     {"an automatic reply is never obeyed: {why}", []string{"why"}},
	"refused-from-count":     {"the reply has {n} From addresses; it must have exactly one", []string{"n"}},
	"refused-not-agent":      {"the sender {from} is not a configured agent (the display name does not count)", []string{"from"}},
	"refused-no-token":       {"the reply is not addressed to a draft's reply address", nil},
	"refused-many-tokens":    {"the reply is addressed to more than one draft", nil},
	"refused-token":          {"the reply's token is not valid: {why}", []string{"why"}},
	"refused-no-draft":       {"the token names a draft that does not exist", nil},
	"refused-not-issued":     {"the token was not issued for this draft and agent", nil},
	"refused-already":        {"the draft was already {state}", []string{"state"}},
	"refused-auth":           {"sender authentication failed: {why}", []string{"why"}},
	"refused-no-instruction": {"the reply has no instruction on its first line and no new text", nil},
	"refused-no-disclaimer":  {"the answer must carry the team's disclaimer word for word, and this one does not", nil},
	"refused-earlier-reply":  {"the draft was decided by an earlier reply", nil},
}

// New is the reason code with its values, one for each of the code's keys. An unknown
// code or a wrong count is a programming error, and panics.
func New(code string, args ...string) Reason {
	f, ok := forms[code]
	if !ok || len(args) != len(f.keys) {
		panic(fmt.Sprintf("reason %q with %d values", code, len(args)))
	}
	return Reason{Code: code, Args: args}
}

// Text is a reason written elsewhere, kept as it is.
func Text(s string) Reason { return Reason{Code: "text", Args: []string{s}} }

// String is the reason in English, as the log keeps it.
func (r Reason) String() string {
	f, ok := forms[r.Code]
	if !ok {
		return strings.Join(r.Args, " ")
	}
	s := f.english
	for i, k := range f.keys {
		if i < len(r.Args) {
			s = strings.Replace(s, "{"+k+"}", r.Args[i], 1)
		}
	}
	return s
}

// Values are the reason's values by key, for a template.
func (r Reason) Values() map[string]string {
	m := make(map[string]string, len(r.Args))
	for i, k := range forms[r.Code].keys {
		if i < len(r.Args) {
			m[k] = r.Args[i]
		}
	}
	return m
}

// Codes are every code New knows, sorted, for the tests of a team's translations.
func Codes() []string {
	out := make([]string, 0, len(forms))
	for c := range forms {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Keys are the names of code's values, in New's order.
func Keys(code string) []string { return forms[code].keys }

// Sample is code with each value written as its key in angle brackets ("<category>"):
// what a check of a translation renders, to see every value in its place.
func Sample(code string) Reason {
	keys := forms[code].keys
	args := make([]string, len(keys))
	for i, k := range keys {
		args[i] = "<" + k + ">"
	}
	return New(code, args...)
}

// Strings is each reason in English.
func Strings(rs []Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

// MarshalJSON writes the English sentence: the stored traces and the log read as they did
// before reasons had codes.
func (r Reason) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads a stored sentence back as a Text reason.
func (r *Reason) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*r = Text(s)
	return nil
}
