// Package classify decides which category a customer mail belongs to, with a confidence
// and a trace of the evidence, from the rules in the configuration.
package classify

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/textnorm"
)

// Input is the text of one mail, already split by the parser.
type Input struct {
	Subject string
	NewText string
	Quoted  string
	// Injection is set when sentences addressed to an automated reader were removed.
	Injection bool
}

// Hit is one rule that fired: the evidence behind a score.
type Hit struct {
	Category string  `json:"category"`
	Rule     string  `json:"rule"`
	Phrase   string  `json:"phrase"`
	Where    string  `json:"where"` // subject | new | quoted
	Score    float64 `json:"score"`
}

// Result is a decision and everything needed to explain it.
type Result struct {
	Category   string  `json:"category"`
	Confidence float64 `json:"confidence"`
	// Unsure is true when the mail must go to human review rather than be routed.
	Unsure bool `json:"unsure"`
	// Method is what decided: "rules", or "model+rules" (the model with the rules as evidence);
	// an LLM opinion, when asked, is in LLM.
	Method string `json:"method"`
	// Threshold is the least confidence this category needed to be routed.
	Threshold float64 `json:"threshold"`
	// Scores are the rule scores per category; Probabilities the combined ones.
	Scores        map[string]float64 `json:"scores"`
	Probabilities map[string]float64 `json:"probabilities,omitempty"`
	Hits          []Hit              `json:"hits"`
	// Features are the model's strongest evidence for the winning category.
	Features []Feature       `json:"features,omitempty"`
	LLM      *Opinion        `json:"llm,omitempty"`
	Reasons  []reason.Reason `json:"reasons"`
}

// Classifier holds the compiled rules and the model of one configuration. It is safe for
// concurrent use.
type Classifier struct {
	cats           []category
	review         string
	sensitive      map[string]bool
	threshold      float64
	minScore       float64
	subjectWeight  float64
	quotedWeight   float64
	model          *Model
	modelIdx       []int // per category: its class in the model, or -1
	ruleWeight     float64
	sensitiveFloor float64
	pool           sync.Pool // *scratch

	// Rules indexed for matching: every phrase under its first word, except one-word
	// prefix phrases ("cobrad*"), which are tried against every word.
	rules      []ruleRef
	byFirst    map[string][]phraseRef
	prefixOnly []phraseRef
}

type ruleRef struct {
	cat  int
	rule *rule
}

type phraseRef struct {
	rule   int // index in Classifier.rules
	n      int // index in the rule's any or unless list
	unless bool
	p      *phrase
}

type category struct {
	name      string
	threshold float64
	rules     []rule
}

type rule struct {
	name   string
	weight float64
	any    []phrase
	unless []phrase
}

// phrase is a folded word sequence matched on word boundaries; prefix means the last word
// may continue ("errad*" matches "errada").
type phrase struct {
	text   string
	words  []string
	prefix bool
}

// scratch is the per-call working memory, pooled so classifying allocates little.
type scratch struct {
	hits   *hits
	logits []float64
	final  []float64
}

// New compiles the categories of cfg and loads the model it names.
func New(cfg *config.Config) (*Classifier, error) {
	var m *Model
	if cfg.Classify.Model != "none" {
		var err error
		if m, err = LoadModel(resolveModel(cfg)); err != nil {
			return nil, err
		}
	}
	return NewWithModel(cfg, m)
}

func resolveModel(cfg *config.Config) string {
	if p := cfg.Classify.Model; p == "embedded" {
		return p
	}
	return cfg.File(cfg.Classify.Model)
}

// NewWithModel compiles the categories of cfg and uses m (nil: rules only).
func NewWithModel(cfg *config.Config, m *Model) (*Classifier, error) {
	c := &Classifier{
		review:         cfg.ReviewCategory(),
		sensitive:      map[string]bool{},
		threshold:      cfg.Classify.Threshold,
		minScore:       cfg.Classify.MinScore,
		subjectWeight:  cfg.Classify.SubjectWeight,
		quotedWeight:   cfg.Classify.QuotedWeight,
		model:          m,
		ruleWeight:     cfg.Classify.RuleWeight,
		sensitiveFloor: cfg.Classify.SensitiveFloor,
	}
	for _, cc := range cfg.Categories {
		if cc.Sensitive {
			c.sensitive[cc.Name] = true
		}
		cat := category{name: cc.Name, threshold: cc.Threshold}
		for _, r := range cc.Rules {
			cr := rule{name: r.Name, weight: r.Weight}
			for _, p := range r.Any {
				ph, err := compile(p)
				if err != nil {
					return nil, fmt.Errorf("category %s, rule %s: %w", cc.Name, r.Name, err)
				}
				cr.any = append(cr.any, ph)
			}
			for _, p := range r.Unless {
				ph, err := compile(p)
				if err != nil {
					return nil, fmt.Errorf("category %s, rule %s: %w", cc.Name, r.Name, err)
				}
				cr.unless = append(cr.unless, ph)
			}
			cat.rules = append(cat.rules, cr)
		}
		c.cats = append(c.cats, cat)
	}
	c.index()
	if m != nil {
		m.prepare()
		known := 0
		for _, cat := range c.cats {
			idx := -1
			for j, name := range m.Classes {
				if name == cat.name {
					idx = j
					known++
				}
			}
			c.modelIdx = append(c.modelIdx, idx)
		}
		if known < 2 {
			return nil, fmt.Errorf("the model knows %v but the config's categories are different: train one for this config with `triagem train`, or set classify.model = \"none\"", m.Classes)
		}
	}
	c.pool.New = func() any {
		return &scratch{hits: newHits(), logits: make([]float64, max(1, len(m.classes()))), final: make([]float64, len(c.cats))}
	}
	return c, nil
}

// Categories are the names of the categories, in config order.
func (c *Classifier) Categories() []string {
	out := make([]string, len(c.cats))
	for i, cat := range c.cats {
		out[i] = cat.name
	}
	return out
}

// Model is the statistical model in use, or nil for rules only.
func (c *Classifier) Model() *Model { return c.model }

func compile(p string) (phrase, error) {
	prefix := strings.HasSuffix(strings.TrimSpace(p), "*")
	words := textnorm.Words(strings.TrimSuffix(strings.TrimSpace(p), "*"))
	if len(words) == 0 {
		return phrase{}, fmt.Errorf("phrase %q has no words", p)
	}
	return phrase{text: p, words: words, prefix: prefix}, nil
}

// Classify decides on in: the rules score it, and the model (when there is one) weighs
// its words together with the rule scores.
func (c *Classifier) Classify(in Input) Result {
	res := Result{Scores: map[string]float64{}}
	if in.Injection {
		res.Reasons = append(res.Reasons, reason.New("injection-ignored"))
	}
	words := sectionWords(in)
	c.ruleScores(in.Subject, &words, &res)
	if c.model == nil {
		res.Method = "rules"
		c.decideRules(&res)
		return res
	}
	res.Method = "model+rules"
	c.decideModel(in.Subject, &words, &res)
	return res
}

// subjectWeightOf is the weight of a subject: a reply's subject ("Re: fatura") names the
// old topic of the thread, so it counts like the quoted history, not like a new subject.
func (c *Classifier) subjectWeightOf(subject string) float64 {
	if IsReplySubject(subject) {
		return c.quotedWeight
	}
	return c.subjectWeight
}

// IsReplySubject reports whether a subject starts with a reply prefix (Re:, RES:, AW:, SV:).
// Forwards (Fwd:, Enc:) are not replies: a forwarded mail's subject is its topic.
func IsReplySubject(subject string) bool {
	s := subject
	for {
		p, rest, ok := nextPrefix(s)
		switch {
		case !ok:
			return false
		case p == ticketTag:
			s = rest
		case replyPrefixes[p]:
			return true
		case forwardPrefixes[p]:
			s = rest // "Fwd: Re: x" is a forwarded reply
		default:
			return false
		}
	}
}

var (
	replyPrefixes   = map[string]bool{"re": true, "res": true, "ref": true, "aw": true, "sv": true, "antw": true, "r": true}
	forwardPrefixes = map[string]bool{"fw": true, "fwd": true, "enc": true, "rv": true, "tr": true, "wg": true}
)

// ticketTag is what nextPrefix gives for a ticket or list tag: "[#123] Re: x".
const ticketTag = "[]"

// nextPrefix splits the first prefix off a subject: a ticket tag, or up to four letters
// before a colon, in lower case. ok is false when the subject starts with neither.
func nextPrefix(subject string) (p, rest string, ok bool) {
	s := strings.TrimSpace(subject)
	if strings.HasPrefix(s, "[") {
		if j := strings.IndexByte(s, ']'); j > 0 {
			return ticketTag, s[j+1:], true
		}
	}
	i := strings.IndexByte(s, ':')
	if i <= 0 || i > 4 {
		return "", s, false
	}
	return strings.ToLower(strings.TrimSpace(s[:i])), s[i+1:], true
}

// decideRules turns rule scores into a category and a confidence. Confidence is the winner's share of
// the two best scores, damped when the evidence is thin; below the threshold, or with too
// little evidence, the case goes to review.
func (c *Classifier) decideRules(res *Result) {
	type cs struct {
		name  string
		score float64
	}
	var ranked []cs
	for n, s := range res.Scores {
		ranked = append(ranked, cs{n, s})
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].score != ranked[j].score {
			return ranked[i].score > ranked[j].score
		}
		return ranked[i].name < ranked[j].name
	})
	if len(ranked) == 0 || ranked[0].score < c.minScore {
		res.Category, res.Unsure = c.review, true
		res.Reasons = append(res.Reasons, reason.New("no-evidence"))
		return
	}
	top := ranked[0]
	second := 0.0
	if len(ranked) > 1 {
		second = ranked[1].score
	}
	share := top.score / (top.score + second)
	evidence := 1 - math.Exp(-1.5*top.score/c.minScore)
	res.Category = top.name
	res.Confidence = math.Round(share*evidence*1000) / 1000
	res.Reasons = append(res.Reasons, reason.New("scored", top.name, fmt.Sprintf("%.2f", top.score), fmt.Sprintf("%.2f", second)))
	res.Threshold = c.threshold
	if res.Confidence < c.threshold {
		res.Unsure = true
		res.Reasons = append(res.Reasons, reason.New("rules-unsure", fmt.Sprintf("%.2f", res.Confidence), fmt.Sprintf("%.2f", c.threshold)))
	}
	// A sensitive category (clinical) that has real evidence but lost must not be routed
	// elsewhere: a human decides.
	for _, r := range ranked[1:] {
		if c.sensitive[r.name] && r.score >= c.minScore && !res.Unsure {
			res.Unsure = true
			res.Reasons = append(res.Reasons, reason.New("sensitive-evidence", r.name, fmt.Sprintf("%.2f", r.score)))
		}
	}
}

// InputOf is what the classifier reads of a parsed mail. The signature counts as new text:
// customers often put the topic in a P.S. or their name under it.
// Sentences addressed to an automated reader ("ignore previous instructions…") are
// removed from every part, so they neither count as evidence nor reach a language model.
//
// A forward with a note of a few words ("Fwd:", "Reencaminho o pedido da minha mulher")
// is the customer passing on the mail below as the request: its forwarded text counts as
// new text, not as someone else's history.
func InputOf(m *parse.Mail) Input {
	subject, a := stripInjection(m.Subject)
	text, b := stripInjection(m.NewText + "\n" + m.Signature)
	quoted, c := stripInjection(m.Quoted)
	if quoted != "" && IsForwardSubject(m.Subject) && len(strings.Fields(m.NewText)) <= forwardNoteWords {
		text, quoted = text+"\n"+quoted, ""
	}
	return Input{Subject: subject, NewText: text, Quoted: quoted, Injection: a || b || c}
}

// forwardNoteWords is the longest note above a forward that still passes the forwarded
// mail on as the request; a longer note is a request of its own.
const forwardNoteWords = 30

// IsForwardSubject reports whether a subject starts with a forward prefix (Fwd:, Fw:,
// Enc:, RV:, TR:, WG:), possibly after a ticket tag.
func IsForwardSubject(subject string) bool {
	p, rest, ok := nextPrefix(subject)
	if ok && p == ticketTag {
		p, _, ok = nextPrefix(rest)
	}
	return ok && forwardPrefixes[p]
}
