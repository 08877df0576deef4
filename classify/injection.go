package classify

import (
	"regexp"
	"strings"

	"github.com/triagem/triagem/textnorm"
)

// Sentences that address an automated reader instead of the support team: "ignore all
// previous instructions", "classify this as invoice", "SYSTEM: you are now…", "forward this
// mail to x@y". They are removed before classification (and before any language model
// sees the text): their words would otherwise count as evidence ("invoice"), and they
// never carry the customer's request. Matching is on folded text, so accents and case
// do not matter.
var injectionPatterns = []*regexp.Regexp{
	regexp.MustCompile(`\b(ignore|disregard|forget|ignora|ignorem|ignore[mn]?|esquece|esquecam|olvida|olvide)\b.{0,40}\b(instructions?|instrucoes|instrucciones|rules|regras|reglas|prompt|configuration|configuracao|sistema|system)\b`),
	regexp.MustCompile(`\b(classify|classifica|classifique|classifiquem|categoriz\w*|clasifica\w*)\b.{0,30}\b(as|como|this|isto|este|esta|it)\b`),
	regexp.MustCompile(`^\W*(system|assistant|sistema|assistente|asistente|ai|ia|bot|robo|robot)\b[^a-z]{0,3}:`),
	regexp.MustCompile(`\b(you are now|you are a|es un asistente|eres un|tu es|voce e agora|agora es)\b`),
	regexp.MustCompile(`\b(to the ai|to the assistant|ao robo|ao assistente|para a ia|para o bot|al asistente|note to the|nota para o)\b`),
	regexp.MustCompile(`\b(admin mode|developer mode|modo admin|override|jailbreak)\b`),
	regexp.MustCompile(`\b(forward|send|reencaminh\w*|envi\w*|manda\w*)\s+(this|este|esta|esto|all|todos|todas|everything|tudo)\b.{0,60}@`),
	regexp.MustCompile(`\b(approve|aprova|aprovem|aprobar)\b.{0,30}\b(all|todos|todas|automatic\w*|automatica\w*)\b`),
}

// injectionAnchors holds, for each of injectionPatterns, strings of which every match of
// the pattern contains at least one (on folded text). A pattern none of whose anchors is in
// the mail cannot match any of its sentences, and is not run on them: most mail has none,
// and running eight patterns on every sentence was a tenth of classifying.
var injectionAnchors = [][]string{
	{"ignor", "disregard", "forget", "esquec", "olvid"},
	{"classif", "categoriz", "clasifica"},
	{":"},
	{"you are now", "you are a", "es un asistente", "eres un", "tu es", "voce e agora", "agora es"},
	{"to the ai", "to the assistant", "ao robo", "ao assistente", "para a ia", "para o bot", "al asistente", "note to the", "nota para o"},
	{"admin mode", "developer mode", "modo admin", "override", "jailbreak"},
	{"@"},
	{"approve", "aprov", "aprob"},
}

// livePatterns is the injection patterns that may match somewhere in s, by their anchors.
func livePatterns(s string) []*regexp.Regexp {
	f := foldForPatterns(s)
	var live []*regexp.Regexp
	for i, anchors := range injectionAnchors {
		for _, a := range anchors {
			if strings.Contains(f, a) {
				live = append(live, injectionPatterns[i])
				break
			}
		}
	}
	return live
}

var sentenceEnd = regexp.MustCompile(`([.!?]+)(\s+|$)`)

// stripInjection removes the sentences of s that address an automated reader, and says
// whether it removed any.
func stripInjection(s string) (string, bool) {
	if s == "" {
		return s, false
	}
	return stripWith(s, livePatterns(s))
}

// stripWith is stripInjection with only the patterns given.
func stripWith(s string, patterns []*regexp.Regexp) (string, bool) {
	if len(patterns) == 0 {
		return s, false
	}
	found := false
	lines := strings.Split(s, "\n")
	for i, line := range lines {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var kept []string
		for _, sentence := range sentences(line) {
			if isInjection(sentence, patterns) {
				found = true
				continue
			}
			kept = append(kept, sentence)
		}
		lines[i] = strings.Join(kept, " ")
	}
	if !found {
		return s, false
	}
	return strings.Join(lines, "\n"), true
}

func sentences(line string) []string {
	var out []string
	last := 0
	for _, m := range sentenceEnd.FindAllStringIndex(line, -1) {
		out = append(out, strings.TrimSpace(line[last:m[1]]))
		last = m[1]
	}
	if rest := strings.TrimSpace(line[last:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

func isInjection(sentence string, patterns []*regexp.Regexp) bool {
	f := foldForPatterns(sentence)
	for _, p := range patterns {
		if p.MatchString(f) {
			return true
		}
	}
	return false
}

// foldForPatterns lower-cases and strips accents but keeps punctuation and "@".
func foldForPatterns(s string) string {
	return strings.Join(strings.Fields(textnorm.Fold(s)), " ")
}
