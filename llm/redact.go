package llm

import "regexp"

var (
	emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+`)
	// Six or more digits, in any grouping: NIFs, phones (+351 912 345 678), SNS numbers,
	// IBANs' digit runs, Multibanco references, CPFs. Amounts (15,50 €) and dates stay.
	numberPattern = regexp.MustCompile(`(\+\d{1,3}[ .-]?)?\d(?:[ .\-/]?\d){5,}`)
	urlPattern    = regexp.MustCompile(`https?://\S+`)
)

// Redact replaces e-mail addresses, links and long numbers in s with placeholders, so that
// no NIF, phone number or address leaves the machine.
func Redact(s string) string {
	s = urlPattern.ReplaceAllString(s, "[link]")
	s = emailPattern.ReplaceAllString(s, "[email]")
	return numberPattern.ReplaceAllString(s, "[number]")
}
