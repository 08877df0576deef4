package classify

import "github.com/triagem/triagem/textnorm"

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

// Language guesses the language of text as "en", "es", or fallback (the team's language,
// which covers Portuguese). It only answers "en" or "es" on clear evidence.
func Language(text, fallback string) string {
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
