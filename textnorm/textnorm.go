// Package textnorm folds text to lower-case, accent-free form and splits it into words, so
// that "Retificação" and "retificacao" match the same rule.
package textnorm

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Fold lower-cases s and removes diacritics (NFKD, marks dropped): "Nº Contribuinte" becomes
// "no contribuinte". Letters of other scripts are lower-cased and kept.
func Fold(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return strings.ToLower(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range norm.NFKD.String(s) {
		if unicode.Is(unicode.Mn, r) {
			continue
		}
		switch r {
		case '’', '‘', '`':
			r = '\''
		case '“', '”', '«', '»':
			r = '"'
		case '–', '—':
			r = '-'
		case 'ё':
			r = 'е'
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Words returns the folded words of s: runs of letters and digits.
func Words(s string) []string {
	return strings.FieldsFunc(Fold(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}
