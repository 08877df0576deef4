package identify

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/triagem/triagem/textnorm"
)

// Name is the customer's full name and where it was found.
type Name struct {
	Value  string `json:"value"`
	Source string `json:"source"` // explicit | patient | signature | closing | forwarded | display-name
}

var (
	// "Nome: Ana Lopes", "o meu nome é Ana Lopes", "chamo-me Ana Lopes", "my name is Ana Lopes".
	explicitName = regexp.MustCompile(`(?im)(?:^|[\s,;.])(?:nome(?: completo)?(?: do paciente| da paciente| do utente| da utente)?(?:\s*[:\-]|\t)\s*|o meu nome (?:completo )?(?:e|é)\s+|chamo-me\s+|sou (?:o|a)\s+|my name is\s+|name(?:\s*:|\t)\s*|me llamo\s+|meu nome (?:completo )?(?:e|é)\s+|(?:os )?meus dados(?: pessoais)?(?: s[ãa]o)?\s*[:\-]\s*|dados d[oa] (?:paciente|utente|cliente)\s*[:\-]\s*)([\p{L}][\p{L}'’\-]+(?:[ \t]+[\p{L}][\p{L}'’\-]*){0,6})`)
	// A relative writing for a patient: "em nome do meu pai, José Carlos Pereira", "a minha mãe, Maria Sousa".
	patientName = regexp.MustCompile(`(?i)` + patientSrc)
	// The same, matched only from the start of the text: findPatient tries it where a
	// match can begin.
	patientAt   = regexp.MustCompile(`(?i)^(?:` + patientSrc + `)`)
	particles   = map[string]bool{"de": true, "da": true, "do": true, "das": true, "dos": true, "e": true, "del": true, "van": true, "von": true}
	notNameWord = regexp.MustCompile(`(?i)^(cumprimentos|obrigad[oa]|atenciosamente|atentamente|regards|thanks|cliente|apoio|suporte|enviado|sent|tel|telefone|telemovel|telemóvel|nif|email|e-mail|morada|rua|avenida|lisboa|porto|portugal|médis|medis|dr|dra|sr|sra|bom|boa|olá|ola|caro|cara|exmos?|exmas?|senhores|hello|hi|dear|com|os|melhores|best|kind|un|saludo|saludos|abraço|abraços|beijinhos|departamento|department|contabilidade|accounts|accounting|recursos|humanos|human|resources|administração|administracao|secretaria|gabinete|equipa|team|empresa|lda|ltd)$`)
)

// firmWord marks a firm's name ("Limpezas Brilho Lda", "Papelaria Central"): the whole
// name is no person's, so it must not be trimmed off like a label. It is a firm's legal
// suffix (firmSuffix) or a trade, a word that no Portuguese surname is.
var (
	firmSuffix = regexp.MustCompile(`(?i)^(` + firmSuffixes + `)\.?$`)
	firmWord   = regexp.MustCompile(`(?i)^(` + firmSuffixes + `|papelaria|farm[áa]cia|restaurante|caf[ée]|pastelaria|padaria|talho|oficina|loja|minimercado|supermercado|hotel|hostel|imobili[áa]ria|constru[çc][õo]es|transportes|servi[çc]os|consultores|advogados|associa[çc][ãa]o|condom[íi]nio|col[ée]gio|escola|cl[íi]nica|laborat[óo]rio|seguros|contabilistas|ag[êe]ncia|agency|solutions|consulting|marketing|grupo|group)\.?$`)
)

const firmSuffixes = `lda|ltda|ltd|unipessoal|s\.?a|inc|llc|gmbh|s\.?l`

// title is an honorific or a degree written before a name.
var title = regexp.MustCompile(`(?i)^(eng|dr|dra|prof|profa|arq|sr|sra|d)(\.?[ºª])?\.?$`)

// signOff is a word that closes a mail, and may stand before the name on its line.
var signOff = regexp.MustCompile(`(?i)^(att|atte|atenciosamente|abs|abraços?|cordialmente|grat[oa]|obrigad[oa]|obg|cumprimentos|regards|thanks|saludos)[.,:!]*$`)

// relativesPT and relativesEN are the relatives a writer names for a patient, in
// patientSrc and in relative alike.
const (
	relativesPT = `(?:pai|m[ãa]e|filh[oa]|marido|mulher|esposa|esposo|av[óô]|irm[ãa]o?|sogr[oa])`
	relativesEN = `(?:father|mother|son|daughter|husband|wife)`
)

const patientSrc = `(?:em nome d[oa] (?:meu|minha)\s+\p{L}+|(?:sou (?:o |a )?)?(?:filh[oa]|net[oa]|mulher|marido|espos[oa]|cuidador[a]?|sobrinh[oa]|mandat[áa]ri[oa]|advogad[oa]|representante legal|em representa[çc][ãa]o) d[oa](?: sr\.?| sra\.?| senhor[a]?)?|(?:o meu|a minha|do meu|da minha)\s+` + relativesPT + `|(?:d[oa] |[oa] )?noss[oa]\s+(?:colaborador[a]?|funcion[áa]ri[oa]|trabalhador[a]?)|paciente|utente|(?:of )?our (?:employee|colleague)|on behalf of my\s+\p{L}+|my ` + relativesEN + `)\s*[,:(]?\s*(?:[oa]\s+)?(?:(?:sr|sra|dr|dra|d)\.?\s+)?([\p{Lu}][\p{L}'’\-]+(?:[ \t]+(?:d[aeo]s?|e|[\p{Lu}][\p{L}'’\-]+)){1,6})`

// patientStarts are the ways a patientName match can begin, in lower case: every
// alternative of patientSrc starts with one of them.
var patientStarts = []string{"em nome d", "sou ", "filh", "net", "mulher", "marido", "espos", "cuidador", "sobrinh", "mandat", "advogad", "representante legal", "em representa",
	"o meu", "a minha", "do meu", "da minha", "do noss", "da noss", "o noss", "a noss", "noss", "paciente", "utente", "of our", "our ",
	"on behalf of my", "my "}

// findPatient is patientName.FindStringSubmatch, quicker. Searched from every position,
// that pattern (a long case-insensitive alternation with no literal prefix) cost 200 ns a
// byte, the most expensive step of deciding a mail (docs/PERFORMANCE.md, lesson 18). A
// match can only begin where one of patientStarts does, so it is tried there, in order,
// anchored, and fails within a few bytes where it does not match. lower is
// asciiLower(text).
func findPatient(text string, lower []byte) []string {
	// (?i) also folds two non-ASCII letters into ASCII ones (ſ, the Kelvin sign), which
	// asciiLower does not see: such a text takes the long way.
	if strings.ContainsAny(text, "\u017f\u212a") {
		return patientName.FindStringSubmatch(text)
	}
	var at []int
	for _, s := range patientStarts {
		for off := 0; ; {
			i := bytes.Index(lower[off:], []byte(s))
			if i < 0 {
				break
			}
			at = append(at, off+i)
			off += i + 1
		}
	}
	slices.Sort(at)
	for _, i := range slices.Compact(at) {
		if m := patientAt.FindStringSubmatch(text[i:]); m != nil {
			return m
		}
	}
	return nil
}

// customerAfterName is a third party's way to name the customer (a pharmacy, a care
// home, an employer): a title, the name, then what the person is to us, "a D. Rosa
// Cardoso, utente vossa", "o Sr. Rui Matos, vosso cliente". The title keeps a sentence's
// capitalised words from passing for a name.
var customerAfterName = regexp.MustCompile(`(?:^|[\s,;.(])(?i:sr|sra|senhor|senhora|d|dona|dr|dra)\.?\s+([\p{Lu}][\p{L}'’\-]+(?:[ \t]+(?:d[aeo]s?|e|[\p{Lu}][\p{L}'’\-]+)){1,6})\s*,\s*(?i:(?:(?:o|a)\s+)?(?:vosso|vossa|nosso|nossa)\s+)?(?i:utente|cliente|paciente|doente)\b`)

// namedCustomer returns the customer that a third party names with customerAfterName.
// The pattern cost as much as the rest of FindName on a mail that says "apoio ao
// cliente", so it is tried only where one of its words follows a comma.
func namedCustomer(text string, lower []byte) string {
	if !customerWordAfterComma(lower) {
		return ""
	}
	if m := customerAfterName.FindStringSubmatch(text); m != nil {
		return cleanName(m[1])
	}
	return ""
}

var (
	customerWords = [][]byte{[]byte("utente"), []byte("cliente"), []byte("paciente"), []byte("doente")}
	ownedBy       = []string{"o", "a", "vosso", "vossa", "nosso", "nossa"}
)

// customerWordAfterComma reports whether "utente", "cliente", "paciente" or "doente"
// follows a comma in lower (a text through asciiLower), with at most "o vosso" or "a
// nossa" between them.
func customerWordAfterComma(lower []byte) bool {
	for _, w := range customerWords {
		for off := 0; ; {
			i := bytes.Index(lower[off:], w)
			if i < 0 {
				break
			}
			before := strings.Fields(string(lower[max(0, off+i-16) : off+i]))
			off += i + len(w)
			for len(before) > 0 && slices.Contains(ownedBy, before[len(before)-1]) {
				before = before[:len(before)-1]
			}
			if len(before) > 0 && strings.HasSuffix(before[len(before)-1], ",") {
				return true
			}
		}
	}
	return false
}

// asciiLower is text with its ASCII letters in lower case and every byte where it was,
// so that an offset in it is one in text.
func asciiLower(text string) []byte {
	lower := []byte(text)
	for i, c := range lower {
		if 'A' <= c && c <= 'Z' {
			lower[i] = c + 'a' - 'A'
		}
	}
	return lower
}

// Sources are the parts of a mail a name is looked for in.
type Sources struct {
	NewText, Signature string
	// Quoted is the history and any forwarded message: only a forwarded relative's
	// From line is taken from it.
	Quoted      string
	DisplayName string
	// Address is the sender's mailbox ("" when the sender is a form): a name typed in
	// lower case on a closing line counts when the address spells it.
	Address string
}

// FindName returns the customer's name. A patient named by a relative wins over the writer,
// and a relative's forwarded mail over the forwarder's display name.
func FindName(s Sources) *Name {
	newText, signature, displayName, address := s.NewText, s.Signature, s.DisplayName, s.Address
	text := newText + "\n" + signature
	lower := asciiLower(text) // for the quick looks of findPatient and namedCustomer
	if m := findPatient(text, lower); m != nil {
		if n := cleanName(leadingName(m[1])); n != "" {
			return &Name{Value: n, Source: "patient"}
		}
	}
	if n := namedCustomer(text, lower); n != "" {
		return &Name{Value: n, Source: "patient"}
	}
	if m := explicitName.FindStringSubmatch(text); m != nil {
		if n := cleanName(leadingName(firstLine(m[1]))); n != "" {
			return &Name{Value: n, Source: "explicit"}
		}
	}
	for _, l := range strings.Split(signature, "\n") {
		if n := lineName(l); n != "" {
			return &Name{Value: n, Source: "signature"}
		}
		if n := addressedName(l, address); n != "" {
			return &Name{Value: n, Source: "signature"}
		}
	}
	// No recognised sign-off: a name alone on one of the last lines of the new text.
	lines := strings.Split(strings.TrimSpace(newText), "\n")
	for i := len(lines) - 1; i >= 0 && i >= len(lines)-3; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if n := lineName(l); n != "" && len(strings.Fields(n)) <= 5 {
			return &Name{Value: n, Source: "closing"}
		}
		if n := addressedName(l, address); n != "" {
			return &Name{Value: n, Source: "closing"}
		}
	}
	// Below the writer's own sign-off: "Vasco Pimentel, NIF …" above a forwarded mail of his
	// wife's is Vasco writing for himself.
	if n := forwardedRelative(newText, s.Quoted); n != "" {
		return &Name{Value: n, Source: "forwarded"}
	}
	if firmMailbox(displayName, address) {
		return nil
	}
	if n := cleanName(displayName); n != "" {
		return &Name{Value: spelledAsIn(text, n), Source: "display-name"}
	}
	if n := lowerDisplayName(displayName); n != "" {
		return &Name{Value: spelledAsIn(text, n), Source: "display-name"}
	}
	return nil
}

// roleMailbox is the local part of a mailbox that a function, not a person, reads.
var roleMailbox = regexp.MustCompile(`^(comercial|vendas|geral|info|informacoes|contacto|contactos|contato|contact|marketing|newsletter|noticias|promo|sales|office|admin|administracao|secretaria|recepcao|rececao|reservas|financeiro|contabilidade|faturacao|rh|recrutamento|apoio|suporte|support|hello|ola|team|equipa|empresa)([._-]?\d*)?$`)

// firmMailbox reports whether a display name belongs to the mailbox of a firm rather than
// to a person, when nothing in the mail names the writer: the mailbox is a function's
// (comercial@, geral@, info@), or the display name spells the domain ("Ergonomia Total"
// <joao@ergonomiatotal.pt>) and not the local part. A person writing from such a mailbox
// signs the mail, and the signature is read before this.
func firmMailbox(displayName, address string) bool {
	local, domain, ok := strings.Cut(textnorm.Fold(address), "@")
	if !ok {
		return false
	}
	if roleMailbox.MatchString(local) {
		return true
	}
	words := strings.Fields(textnorm.Fold(displayName))
	if len(words) < 2 {
		return false
	}
	label, _, _ := strings.Cut(domain, ".")
	if strings.Join(words, "") != strings.NewReplacer("-", "", "_", "").Replace(label) {
		return false
	}
	for _, w := range words {
		if utf8.RuneCountInString(w) >= 3 && strings.Contains(local, w) {
			return false // "Ana Silva" <ana@anasilva.pt> is Ana's own
		}
	}
	return true
}

var (
	relative    = regexp.MustCompile(`(?i)\b(?:d[oa] (?:meu|minha)|o meu|a minha)\s+` + relativesPT + `\b|\bmy ` + relativesEN + `\b`)
	forwardMark = regexp.MustCompile(`(?i)forwarded message|mensagem (?:re)?encaminhada|begin forwarded message|in[íi]cio da mensagem reencaminhada|mensaje reenviado`)
	forwardFrom = regexp.MustCompile(`(?im)^[> ]*(?:from|de)\s*:\s*"?([^"<\n]+?)"?\s*<[^>\n]+>`)
)

// forwardedRelative is the author of a forwarded message when the note above it says it
// is a relative's ("Reencaminho o email da minha mulher"): the From line of the first
// forwarded block. A reply's history is not a forward, and its From is often the team's.
func forwardedRelative(note, quoted string) string {
	if !relative.MatchString(note) {
		return ""
	}
	at := forwardMark.FindStringIndex(quoted)
	if at == nil {
		return ""
	}
	m := forwardFrom.FindStringSubmatch(quoted[at[1]:])
	if m == nil {
		return ""
	}
	return cleanName(m[1])
}

// lowerDisplayName is a display name the customer typed all in lower case ("joana pires"),
// capitalised; "" when it is not all lower case or not a name once capitalised. Two to four
// words only: a longer lower-case display name is more often a phrase than a name.
func lowerDisplayName(displayName string) string {
	words := strings.Fields(displayName)
	if len(words) < 2 || len(words) > 4 || !isLowerWord(displayName) {
		return ""
	}
	for i, w := range words {
		if !particles[w] {
			words[i] = capitalize(w)
		}
	}
	return cleanName(strings.Join(words, " "))
}

// addressedName is a line typed all in lower case ("marta silva") taken as a name when
// each of its words is part of the sender's address (marta.c.silva@…). Without that, a
// lower-case closing line is as often a phrase ("ate logo") as a name.
func addressedName(line, address string) string {
	local, _, ok := strings.Cut(address, "@")
	if !ok {
		return ""
	}
	local = textnorm.Fold(local)
	line = strings.TrimSpace(line)
	n := lowerDisplayName(line)
	if n == "" {
		return ""
	}
	for _, w := range strings.Fields(line) {
		if particles[w] {
			continue
		}
		if f := textnorm.Fold(w); utf8.RuneCountInString(f) < 3 || !strings.Contains(local, f) {
			return ""
		}
	}
	return n
}

// capitalize upper-cases the first letter of w.
func capitalize(w string) string {
	r := []rune(w)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// spelledAsIn returns name as the text spells it, when the text has the same words with
// more accents: a mail client's display name often drops them ("Patricia Moura"), while
// the customer, typing her name for us, writes "Patrícia Moura".
func spelledAsIn(text, name string) string {
	want := strings.Fields(textnorm.Fold(name))
	words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' && r != '’' && r != '-' })
	folded := make([]string, len(words))
	for i, w := range words {
		folded[i] = textnorm.Fold(w)
	}
	for i := 0; i+len(want) <= len(words); i++ {
		if !slices.Equal(folded[i:i+len(want)], want) {
			continue
		}
		found := strings.Join(words[i:i+len(want)], " ")
		if cleanName(found) == found && accents(found) > accents(name) {
			return found
		}
	}
	return name
}

// lineName is the name on a sign-off line: the whole line, or one of its comma-separated
// parts ("Obrigado, Paulo Reis", "Susana Prata, NIF 308 301 668").
func lineName(l string) string {
	if n := cleanName(l); n != "" {
		return n
	}
	if !strings.Contains(l, ",") || len(strings.Fields(l)) > 10 {
		return ""
	}
	parts := strings.Split(l, ",")
	for i, part := range parts {
		// "Transportes Lusos, S.A.": the part before a firm's suffix is the firm's name.
		if i+1 < len(parts) && firmSuffix.MatchString(strings.TrimSpace(parts[i+1])) {
			continue
		}
		if n := cleanName(part); n != "" {
			return n
		}
	}
	return ""
}

// leadingName keeps the words of s up to the first that cannot belong to a name (a
// lower-case word that is not a particle between capitalised words): "Ana Lopes e o meu NIF"
// gives "Ana Lopes". A firm's suffix among them ("Construções Silva Lda") makes it no one's.
func leadingName(s string) string {
	words := strings.Fields(s)
	var out []string
	for i, w := range words {
		// "Construções Silva Lda" is a firm; "Ana Lopes da Clínica Sorriso" is Ana Lopes.
		bare := strings.TrimRight(w, ",;:")
		if firmSuffix.MatchString(bare) {
			return ""
		}
		if firmWord.MatchString(bare) {
			if len(out) == 0 {
				return ""
			}
			for len(out) > 0 && particles[strings.ToLower(out[len(out)-1])] {
				out = out[:len(out)-1]
			}
			break
		}
		r := []rune(w)
		capital := unicode.IsUpper(r[0]) && !notNameWord.MatchString(w)
		particle := particles[strings.ToLower(w)] && i+1 < len(words) && unicode.IsUpper([]rune(words[i+1])[0]) && !notNameWord.MatchString(words[i+1])
		if !capital && !particle {
			// Lower-case input as a whole ("nome: ana lopes") is accepted word by word.
			if len(out) == 0 && isLowerWord(w) && !notNameWord.MatchString(w) && !particles[strings.ToLower(w)] {
				out = append(out, capitalize(w))
				continue
			}
			if len(out) > 0 && isLowerWord(out[len(out)-1]) {
				break
			}
			break
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

func isLowerWord(w string) bool {
	for _, r := range w {
		if unicode.IsLetter(r) && !unicode.IsLower(r) {
			return false
		}
	}
	return true
}

func firstLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// cleanName returns s as a full name (two to seven words, capitalised, particles allowed),
// or "" when it does not look like one.
func cleanName(s string) string {
	s = strings.TrimSpace(strings.Trim(s, " \t,.;:-–—\"'"))
	if s == "" || strings.ContainsAny(s, "@&0123456789/<>()[]{}|_=+*#,;") {
		return ""
	}
	words := strings.Fields(s)
	// A sign-off written on the name's line: "Att. Eduardo Matos", "Obrigada Ana Lopes".
	for len(words) > 0 && signOff.MatchString(words[0]) {
		words = words[1:]
	}
	// A title before the name: "Eng.º Paulo Castro", "Dra. Ana Lopes".
	for len(words) > 1 && title.MatchString(words[0]) {
		words = words[1:]
	}
	if slices.ContainsFunc(words, firmWord.MatchString) {
		return ""
	}
	// Drop a trailing "NIF" or similar label that the regex may have swallowed.
	for len(words) > 0 && notNameWord.MatchString(words[len(words)-1]) {
		words = words[:len(words)-1]
	}
	if len(words) < 2 || len(words) > 7 {
		return ""
	}
	// "joao p.": a surname cut to its initial does not identify anyone, so the reply
	// still asks for the NOME.
	if utf8.RuneCountInString(strings.TrimRight(words[len(words)-1], ".")) == 1 {
		return ""
	}
	caps := 0
	for i, w := range words {
		lw := strings.ToLower(w)
		if particles[lw] && i > 0 && i < len(words)-1 {
			words[i] = lw
			continue
		}
		if notNameWord.MatchString(w) {
			return ""
		}
		r := []rune(w)
		if !unicode.IsLetter(r[0]) {
			return ""
		}
		if unicode.IsUpper(r[0]) {
			caps++
		}
		// Normalise shouting: "ANA LOPES" -> "Ana Lopes".
		if isUpperWord(w) && len(r) > 1 {
			words[i] = string(r[0]) + strings.ToLower(string(r[1:]))
		} else if unicode.IsLower(r[0]) {
			words[i] = capitalize(w)
		}
	}
	if caps < len(words)-countParticles(words) {
		return ""
	}
	// "Jr." is part of a legal name, as "Júnior" is: its period, trimmed above, goes back.
	if last := &words[len(words)-1]; strings.EqualFold(*last, "jr") {
		*last = "Jr."
	}
	return strings.Join(words, " ")
}

func countParticles(words []string) int {
	n := 0
	for _, w := range words {
		if particles[w] {
			n++
		}
	}
	return n
}

func isUpperWord(w string) bool {
	for _, r := range w {
		if unicode.IsLetter(r) && !unicode.IsUpper(r) {
			return false
		}
	}
	return true
}

// accents counts the letters of s that are not plain ASCII.
func accents(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x80 && unicode.IsLetter(r) {
			n++
		}
	}
	return n
}
