package classify

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/triagem/triagem/textnorm"
)

// Features of a mail for the statistical model. Subject and new text share one namespace,
// because customers put the topic in either; quoted history, and the subject of a reply,
// get their own ("q:"), so the model learns how far to trust an old thread. Each text yields folded words, adjacent word
// pairs, the first stemLen letters of longer words, which lets "reembolsar", "reembolsado"
// and "reembolso" share evidence in a language full of endings, and letter 4-grams.
const (
	stemLen      = 6
	gramLen      = 4
	quotedPrefix = "q:"
	// maxWords bounds the work per section: the topic of a support mail is in its first
	// lines, and a pasted log must not cost more than a normal mail.
	maxWords = 600
)

// featureSet collects the distinct features of one mail.
type featureSet struct {
	seen  map[string]struct{}
	names []string
}

func newFeatureSet() *featureSet {
	return &featureSet{seen: make(map[string]struct{}, 256)}
}

func (f *featureSet) reset() {
	clear(f.seen)
	f.names = f.names[:0]
}

func (f *featureSet) add(name string) {
	if _, ok := f.seen[name]; ok {
		return
	}
	f.seen[name] = struct{}{}
	f.names = append(f.names, name)
}

// extract fills f with the features of in.
func (f *featureSet) extract(in Input) {
	f.reset()
	if IsReplySubject(in.Subject) {
		f.section(quotedPrefix, in.Subject)
	} else {
		f.section("", in.Subject)
	}
	f.section("", in.NewText)
	f.section(quotedPrefix, in.Quoted)
}

func (f *featureSet) section(prefix, text string) {
	if strings.TrimSpace(text) == "" {
		return
	}
	words := textnorm.Words(text)
	if len(words) > maxWords {
		words = words[:maxWords]
	}
	prev := ""
	for _, w := range words {
		w = token(w)
		f.add(prefix + w)
		if s, ok := stem(w); ok {
			f.add(prefix + "~" + s)
		}
		if prev != "" {
			f.add(prefix + prev + "_" + w)
		}
		if len(w) > gramLen && w[0] != '#' {
			f.grams(prefix, w)
		}
		prev = w
	}
}

// token maps numbers to their length ("#9" for any nine digits), so NIFs, phones and
// amounts are evidence by shape, never by value.
func token(w string) string {
	for i := 0; i < len(w); i++ {
		if w[i] < '0' || w[i] > '9' {
			return w
		}
	}
	if len(w) > 12 {
		return "#long"
	}
	return "#" + strconv.Itoa(len(w))
}

// stem is the first stemLen letters of a word that has at least two more.
func stem(w string) (string, bool) {
	if w[0] == '#' {
		return "", false
	}
	n := 0
	for i := range w {
		if n == stemLen {
			if utf8.RuneCountInString(w[i:]) < 2 {
				return "", false
			}
			return w[:i], true
		}
		n++
	}
	return "", false
}

// grams adds the letter 4-grams of a word framed as "<word>": they carry the evidence of
// misspelt, inflected and Brazilian/Spanish forms ("reembolço", "reembolsar", "reenbolso")
// that no whole-word feature of the training mails matches.
func (f *featureSet) grams(prefix, w string) {
	var buf [64]byte
	b := append(append(append(buf[:0], '<'), w...), '>')
	for i := 0; i+gramLen <= len(b); i++ {
		f.add(prefix + "c:" + string(b[i:i+gramLen]))
	}
}
