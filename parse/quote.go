package parse

import (
	"regexp"
	"strings"
)

var (
	// Attribution lines that start quoted history, in the languages our customers write.
	attribution = regexp.MustCompile(`(?i)^\s*(` +
		`(em|no dia|a) .{4,120}(escreveu|escrito)\s*:?|` + // Gmail / Apple pt
		`on .{4,120}wrote\s*:?|` + // en
		`el .{4,120}escribi[oó]\s*:?|` + // es
		`le .{4,120}a [ée]crit\s*:?|` + // fr
		`-{2,}\s*(original message|mensagem original|mensaje original|message d'origine)\s*-{2,}|` +
		`-{2,}\s*(forwarded message|mensagem encaminhada|mensaje reenviado)\s*-{2,}|` +
		`_{10,}` + // Outlook's rule above the header block
		`)\s*$`)
	// The first line of an Outlook header block: "De: ..." followed by Enviado/Sent/Data/Date.
	outlookFrom = regexp.MustCompile(`(?i)^\s*\*?(de|from|von)\s*:\*?\s+\S`)
	outlookNext = regexp.MustCompile(`(?i)^\s*\*?(enviado|enviada|sent|data|date|para|to|gesendet)\s*:`)
	// Mobile footers end the new text.
	mobileFooter = regexp.MustCompile(`(?i)^\s*(enviado (do|a partir do|de) (meu|minha)|sent from my|enviado desde mi|get outlook for)`)
	// Sign-offs: what follows, if short, is the signature.
	signOff = regexp.MustCompile(`(?i)^\s*(com os )?(melhores |muito )?(cumprimentos|obrigad[oa]s?|atenciosamente|atentamente|grat[oa]|abra[cç]os?|beijinhos|saud?a[cç][oõ]es|best regards|kind regards|regards|thanks|thank you|many thanks|sincerely|cheers|un saludo|saludos|gracias|agrade[cç]o)\b.{0,40}[,.!]?\s*$`)
)

// Split separates text into the new text, the quoted history and the signature.
// Classification reads the new text first; the quote still counts, with less weight.
func Split(text string) (newText, quoted, signature string) {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	lines := strings.Split(text, "\n")
	cut := len(lines) // first line of quoted history
	for i, l := range lines {
		if attribution.MatchString(l) || (outlookFrom.MatchString(l) && i+1 < len(lines) && nextNonEmptyMatches(lines[i+1:], outlookNext)) {
			cut = i
			break
		}
		// A wrapped Gmail attribution: "Em qua., 3 de jan. de 2024 às 10:00, Maria <m@x>" / "escreveu:".
		if i+1 < len(lines) && attribution.MatchString(l+" "+strings.TrimSpace(lines[i+1])) && isQuoteLine(nextNonEmpty(lines[i+2:])) {
			cut = i
			break
		}
		if isQuoteLine(l) && restIsMostlyQuoted(lines[i:]) {
			cut = i
			break
		}
	}
	head := lines[:cut]
	var q []string
	for _, l := range lines[cut:] {
		q = append(q, strings.TrimLeft(strings.TrimLeft(l, " "), "> "))
	}
	// Interleaved "> " lines above the cut are quotes too (bottom-posting).
	var body []string
	for _, l := range head {
		if isQuoteLine(l) {
			q = append([]string{strings.TrimLeft(l, "> ")}, q...)
			continue
		}
		body = append(body, l)
	}

	// Signature: after "-- ", a mobile footer, or the short block after a sign-off.
	sig := len(body)
	for i, l := range body {
		if l == "-- " || l == "--" || mobileFooter.MatchString(l) {
			sig = i
			break
		}
	}
	for i := sig - 1; i > 0 && i >= sig-12; i-- { // a sign-off alone is the message itself
		if signOff.MatchString(body[i]) && shortBlock(body[i+1:sig]) {
			sig = i
			break
		}
	}
	newText = strings.TrimSpace(strings.Join(body[:sig], "\n"))
	signature = strings.TrimSpace(strings.Join(body[sig:], "\n"))
	quoted = strings.TrimSpace(strings.Join(q, "\n"))
	return newText, quoted, signature
}

func isQuoteLine(l string) bool { return strings.HasPrefix(strings.TrimLeft(l, " "), ">") }

func nextNonEmpty(lines []string) string {
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			return l
		}
	}
	return ""
}

func nextNonEmptyMatches(lines []string, re *regexp.Regexp) bool {
	return re.MatchString(nextNonEmpty(lines))
}

// restIsMostlyQuoted is true when the quoted lines from here on outnumber the others:
// then this is a top-posted reply's history, not a quote answered inline.
func restIsMostlyQuoted(lines []string) bool {
	var q, other int
	for _, l := range lines {
		switch {
		case strings.TrimSpace(l) == "":
		case isQuoteLine(l):
			q++
		default:
			other++
		}
	}
	return q > 0 && other <= q/4
}

// shortBlock is true for the few short lines a signature is made of.
func shortBlock(lines []string) bool {
	n := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			continue
		}
		n++
		if len([]rune(t)) > 70 || n > 7 {
			return false
		}
	}
	return true
}
