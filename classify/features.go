package classify

import (
	"strings"
	"unicode/utf8"

	"github.com/triagem/triagem/textnorm"
)

// Features of a mail for the statistical model. Subject and new text share one namespace,
// because customers put the topic in either; quoted history, and the subject of a reply,
// get their own ("q:"), so the model learns how far to trust an old thread. Each text
// yields folded words, adjacent word pairs, the first stemLen letters of longer words,
// which lets "reembolsar", "reembolsado" and "reembolso" share evidence in a language full
// of endings, and letter 4-grams.
const (
	stemLen      = 6
	gramLen      = 4
	quotedPrefix = "q:"
	// maxWords bounds the work per section: the topic of a support mail is in its first
	// lines, and a pasted log must not cost more than a normal mail.
	maxWords = 600
)

// walker produces the features of a mail, one at a time, in a reused buffer: scoring a
// mail then allocates almost nothing per feature.
type walker struct{ buf []byte }

// walk calls emit with every feature of in (repeats included). The slice is only valid
// during the call.
func (w *walker) walk(reply bool, words *[3][]string, emit func([]byte)) {
	subjectPrefix := ""
	if reply {
		subjectPrefix = quotedPrefix
	}
	w.section(subjectPrefix, words[0], emit)
	w.section("", words[1], emit)
	w.section(quotedPrefix, words[2], emit)
}

// sectionWords are the folded words of the subject, the new text and the quoted history,
// each cut to maxWords: what both the rules and the model read.
func sectionWords(in Input) [3][]string {
	var out [3][]string
	for i, text := range []string{in.Subject, in.NewText, in.Quoted} {
		if strings.TrimSpace(text) == "" {
			continue
		}
		w := textnorm.Words(text)
		if len(w) > maxWords {
			w = w[:maxWords]
		}
		out[i] = w
	}
	return out
}

func (w *walker) section(prefix string, words []string, emit func([]byte)) {
	prev := ""
	for _, word := range words {
		word = token(word)
		w.emit(emit, prefix, word, "", "")
		if s, ok := stem(word); ok {
			w.emit(emit, prefix, "~", s, "")
		}
		if prev != "" {
			w.emit(emit, prefix, prev, "_", word)
		}
		if len(word) > gramLen && word[0] != '#' {
			w.grams(emit, prefix, word)
		}
		prev = word
	}
}

func (w *walker) emit(emit func([]byte), a, b, c, d string) {
	buf := append(append(append(append(w.buf[:0], a...), b...), c...), d...)
	emit(buf)
	w.buf = buf
}

// grams emits the letter 4-grams of a word framed as "<word>": they carry the evidence of
// misspelt, inflected and Brazilian/Spanish forms ("reembolço", "reembolsar", "reenbolso")
// that no whole-word feature of the training mails matches.
func (w *walker) grams(emit func([]byte), prefix, word string) {
	framed := append(append(append(w.buf[:0], '<'), word...), '>')
	n := len(framed)
	for i := 0; i+gramLen <= n; i++ {
		buf := append(append(append(framed, prefix...), "c:"...), framed[i:i+gramLen]...)
		emit(buf[n:])
		framed = buf[:n]
	}
	w.buf = framed
}

var digitTokens = func() (t [13]string) {
	for i := range t {
		t[i] = "#" + string(rune('0'+i/10)) + string(rune('0'+i%10))
	}
	return t
}()

// token maps numbers to their length ("#09" for any nine digits), so NIFs, phones and
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
	return digitTokens[len(w)]
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

// featureSet collects the distinct features of one mail by name, for training.
type featureSet struct {
	w     walker
	seen  map[string]struct{}
	names []string
}

func newFeatureSet() *featureSet {
	return &featureSet{seen: make(map[string]struct{}, 256)}
}

func (f *featureSet) extract(in Input) {
	clear(f.seen)
	f.names = f.names[:0]
	words := sectionWords(in)
	f.w.walk(IsReplySubject(in.Subject), &words, func(b []byte) {
		if _, ok := f.seen[string(b)]; ok {
			return
		}
		name := string(b)
		f.seen[name] = struct{}{}
		f.names = append(f.names, name)
	})
}

// hits collects, for scoring, the distinct features of one mail: how many there are, and
// which of them the model knows (by index), without keeping their names.
type hits struct {
	w     walker
	seen  map[uint64]struct{}
	n     int
	known []int32
}

func newHits() *hits { return &hits{seen: make(map[uint64]struct{}, 512)} }

func (h *hits) extract(reply bool, words *[3][]string, m *Model) {
	clear(h.seen)
	h.n = 0
	h.known = h.known[:0]
	h.w.walk(reply, words, func(b []byte) {
		k := fnv64(b)
		if _, ok := h.seen[k]; ok {
			return
		}
		h.seen[k] = struct{}{}
		h.n++
		if m == nil {
			return
		}
		if i, ok := m.index[string(b)]; ok {
			h.known = append(h.known, i)
		}
	})
}

// fnv64 is FNV-1a: distinct features only need distinct keys here, and a collision
// merely undercounts a feature.
func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}
