// Package identify extracts who a customer is from their mail: the Portuguese NIF (with its
// check digit) and the full name.
package identify

import (
	"regexp"
	"strings"

	"github.com/triagem/triagem/textnorm"
)

// ValidNIF reports whether s is nine digits with a valid first digit(s) and mod-11 check digit.
func ValidNIF(s string) bool {
	if len(s) != 9 {
		return false
	}
	for i := 0; i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	if !validPrefix(s) {
		return false
	}
	sum := 0
	for i := 0; i < 8; i++ {
		sum += int(s[i]-'0') * (9 - i)
	}
	check := 11 - sum%11
	if check >= 10 {
		check = 0
	}
	return int(s[8]-'0') == check
}

// validPrefix: 1-3 people, 45 non-resident people, 5 companies, 6 public bodies, 70-79 and
// 90-91 special entities, 8 sole traders (old), 98-99 non-residents and civil societies.
func validPrefix(s string) bool {
	switch s[0] {
	case '1', '2', '3', '5', '6', '8':
		return true
	case '4':
		return s[1] == '5'
	case '7':
		return true
	case '9':
		return s[1] == '0' || s[1] == '1' || s[1] == '8' || s[1] == '9'
	}
	return false
}

// NIF is the tax number found in a mail, if any.
type NIF struct {
	Value string `json:"value"`
	// Valid is false when the customer clearly gave a NIF but its check digit is wrong.
	Valid  bool   `json:"valid"`
	Source string `json:"source"` // subject | body | signature | quoted
	Why    string `json:"why"`
}

var (
	// Nine digits, possibly grouped by spaces, dots or dashes, possibly after "PT".
	nifCandidate = regexp.MustCompile(`(?i)(?:\bpt\s?)?\d(?:[ .\-]?\d){7,8}`)
	// Words that say the number next to them is a NIF (accent-folded, lower case).
	nifWords = regexp.MustCompile(`\b(nif|n\.?\s?i\.?\s?f|contribuinte|n[ºo°.]*\s*(de\s*)?contribuinte|numero fiscal|n[ºo°.]*\s*fiscal|identificacao fiscal|tax (id|number|identification)|vat|nipc|fiscal)\b`)
	// A NIF keyword that names whose NIF it is, with a word that alone would be a decoy.
	nifOfPerson = regexp.MustCompile(`\b(?:nif|contribuinte) (?:d[oa]|of the) (?:utente|cliente|paciente|doente|patient|customer)\b`)
	// Words that say it is something else.
	decoyWords = regexp.MustCompile(`\b(tel|telef|telefone|telemovel|tlm|tlf|movel|contacto|contato|phone|mobile|whatsapp|ligar|ligue|liga|ligue-me|apolice|policy|encomenda|order|pedido n|referencia|ref|multibanco|entidade|sns|utente|cartao|cidadao|cc|bi|cpf|rg|iban|nib|conta|processo|fatura n|factura n|invoice n|recibo n|sinistro|cliente n|n\.? cliente|codigo|code|senha|pin)\b`)
)

// FindNIF looks for a NIF in the subject, the new text, the signature and the quote, in that
// order. Context words decide between a NIF and other nine-digit numbers. The procedure asks
// for the customer's own NIF: a firm's (an NIPC, "NIF da empresa", a company's prefix) is
// taken only when the mail gives no other, as when a firm writes for its employees.
func FindNIF(subject, newText, signature, quoted string) *NIF {
	var invalid, firms *NIF
	for _, src := range []struct{ name, text string }{{"subject", subject}, {"body", newText}, {"signature", signature}, {"quoted", quoted}} {
		n, firm, bad := findIn(src.text)
		if n != nil {
			n.Source = src.name
			return n
		}
		if firm != nil && firms == nil {
			firm.Source = src.name
			firms = firm
		}
		if bad != nil && invalid == nil {
			bad.Source = src.name
			invalid = bad
		}
	}
	if firms != nil {
		return firms
	}
	return invalid
}

// findIn returns the best NIF in text that is not a firm's, the first firm's NIF, and a
// candidate the context calls a NIF whose check digit is wrong (so the reply can ask for it
// again).
func findIn(text string) (best, firm, invalid *NIF) {
	if text == "" {
		return nil, nil, nil
	}
	folded := textnorm.Fold(text)
	// Fold keeps byte offsets only for ASCII; match on the folded text throughout.
	locs := nifCandidate.FindAllStringIndex(folded, -1)
	var plain *NIF
	for _, loc := range locs {
		start, end := loc[0], loc[1]
		if start > 0 && isDigit(folded[start-1]) || end < len(folded) && isDigit(folded[end]) {
			continue // part of a longer number
		}
		if end+1 < len(folded) && strings.IndexByte(" .-/", folded[end]) >= 0 && isDigit(folded[end+1]) {
			continue // the first groups of a longer grouped number: "+351 212 345 678"
		}
		if b := strings.TrimRight(folded[max(0, start-2):start], " "); strings.HasSuffix(b, "+") {
			continue // an international phone number
		}
		digits := onlyDigits(folded[start:end])
		if len(digits) != 9 {
			continue
		}
		// The words before the number on its own line; for a number that starts its line,
		// those of the line above ("NIF:\n123456789"), and no further: a phone two lines up
		// says nothing of a NIF under the name.
		before := folded[max(0, start-40):start]
		if i := strings.LastIndexByte(before, '\n'); i >= 0 && len(before)-i > 3 {
			before = before[i+1:]
		} else if i >= 0 {
			before = before[strings.LastIndexByte(before[:i], '\n')+1:]
		}
		after := folded[end:min(len(folded), end+12)]
		if i := strings.IndexAny(after, "\n"); i >= 0 {
			after = after[:i]
		}
		pos := lastIndex(nifWords, before)
		// "NIF da utente:" is the patient's NIF, whatever "utente" says elsewhere: the phrase
		// is blanked to its keyword, at the same length, before the decoys are looked for.
		neg := lastIndex(decoyWords, nifOfPerson.ReplaceAllStringFunc(before, func(p string) string {
			kw, rest, _ := strings.Cut(p, " ")
			return kw + strings.Repeat(" ", len(rest)+1)
		}))
		prefixed := strings.HasPrefix(strings.TrimSpace(folded[start:end]), "pt")
		switch {
		case pos >= 0 && pos > neg || prefixed:
			keyword := ""
			if pos >= 0 {
				keyword = before[pos:]
			}
			switch {
			case !ValidNIF(digits):
				if invalid == nil {
					invalid = &NIF{Value: digits, Valid: false, Why: "next to a NIF keyword, but the check digit is wrong"}
				}
			case firmNIF(keyword, digits):
				if firm == nil {
					firm = &NIF{Value: digits, Valid: true, Why: "next to a NIF keyword, check digit valid; a firm's number, and the mail gives no other"}
				}
			default:
				return &NIF{Value: digits, Valid: true, Why: "next to a NIF keyword, check digit valid"}, nil, nil
			}
		case neg >= 0 || decoyWords.MatchString(after):
			// a phone, policy, order or reference number
		case plain == nil && ValidNIF(digits) && looksPersonalNIF(digits):
			plain = &NIF{Value: digits, Valid: true, Why: "nine digits with a valid check digit and no other meaning nearby"}
		}
	}
	if plain != nil {
		return plain, nil, nil
	}
	return nil, firm, invalid
}

// firmWords, after a NIF keyword, say that the number is a firm's: "NIF da empresa",
// "company's VAT".
var firmWords = regexp.MustCompile(`\b(empresa|sociedade|firma|entidade patronal|company)\b`)

// firmNIF reports whether a NIF named by keyword (the text from the keyword to the number)
// is a firm's: an NIPC, words that say so, or a prefix that only bodies carry (5 companies,
// 6 public bodies, 7 and 9 other entities). 1–3, 45 and 8 are people's.
func firmNIF(keyword, digits string) bool {
	if i := strings.LastIndexAny(keyword, "0123456789"); i >= 0 {
		keyword = keyword[i+1:] // "NIF da empresa 5…, o meu é o 2…": the words after the firm's number
	}
	if strings.HasPrefix(keyword, "nipc") || firmWords.MatchString(keyword) {
		return true
	}
	return strings.IndexByte("5679", digits[0]) >= 0
}

// looksPersonalNIF is stricter for numbers without a keyword: only the prefixes of people
// and companies count, so a mobile phone number (91x, 92x, 93x, 96x) is not taken as a NIF.
func looksPersonalNIF(d string) bool {
	switch d[0] {
	case '1', '2', '3', '5':
		return true
	}
	return false
}

func lastIndex(re *regexp.Regexp, s string) int {
	locs := re.FindAllStringIndex(s, -1)
	if len(locs) == 0 {
		return -1
	}
	return locs[len(locs)-1][0]
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func onlyDigits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
