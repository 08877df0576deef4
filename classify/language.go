package classify

import (
	"strings"
	"unicode"

	"github.com/triagem/triagem/textnorm"
)

// Words frequent in one language and rare in the others. Enough to tell a customer's
// language in a few lines; anything unclear keeps the team's default.
var languageWords = map[string]map[string]bool{
	"en": set("the", "and", "is", "my", "you", "please", "thank", "thanks", "hello", "dear", "with", "have", "was", "for", "this", "i", "it", "not", "can", "would", "could", "your"),
	"pt": set("o", "a", "os", "as", "e", "de", "do", "da", "que", "nao", "obrigado", "obrigada", "bom", "boa", "dia", "tarde", "meu", "minha", "para", "com", "uma", "um", "por", "favor", "foi", "esta", "consulta"),
	"es": set("el", "los", "las", "y", "que", "no", "gracias", "hola", "buenos", "mi", "para", "con", "una", "por", "favor", "fue", "esta", "consulta", "usted", "quiero", "tengo"),
}

func set(ws ...string) map[string]bool {
	m := map[string]bool{}
	for _, w := range ws {
		m[w] = true
	}
	return m
}

// Language guesses the language of text as "en", "es", "ru", or fallback (the team's
// language, which covers Portuguese). It only answers on clear evidence: for "ru", a text
// written mostly in Cyrillic letters.
func Language(text, fallback string) string {
	if mostlyCyrillic(text) {
		if strings.HasPrefix(fallback, "ru") {
			return fallback
		}
		return "ru"
	}
	counts := map[string]int{}
	for i, w := range textnorm.Words(text) {
		if i > 400 {
			break
		}
		for lang, words := range languageWords {
			if words[w] {
				counts[lang]++
			}
		}
	}
	best, n := "", 0
	for _, lang := range []string{"en", "es", "pt"} {
		if counts[lang] > n {
			best, n = lang, counts[lang]
		}
	}
	if best == "pt" || best == "" || n < 3 || float64(n) < 1.5*float64(counts["pt"]) {
		return fallback
	}
	return best
}

// mostlyCyrillic reports whether most of the first 2,000 letters of text are Cyrillic.
func mostlyCyrillic(text string) bool {
	cyrillic, letters := 0, 0
	for _, r := range text {
		if letters == 2000 {
			break
		}
		if !unicode.IsLetter(r) {
			continue
		}
		letters++
		if unicode.Is(unicode.Cyrillic, r) {
			cyrillic++
		}
	}
	return letters > 0 && 2*cyrillic > letters
}
