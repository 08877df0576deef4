package route

import (
	"net/mail"
	"regexp"
	"strings"

	"github.com/triagem/triagem/parse"
)

// formEmailField is a form's line that gives the customer's address: "Email: ana@x.pt",
// "E-mail do cliente: …", "Correio eletrónico: …", "Correo electrónico: …".
var formEmailField = regexp.MustCompile(`(?im)^\s*(?:e-?mail|correio eletr[óo]nico|correo electr[óo]nico|endere[çc]o de e-?mail)(?: d[oa] (?:cliente|utente))?\s*:\s*<?([^\s<>]+@[^\s<>]+?)>?\s*$`)

// FormCustomer is the address to answer a web form's mail at: its single Reply-To, or
// else the one address in its "Email:" field. It is "" when the form names none, or more
// than one: then nobody is answered without a person deciding.
func FormCustomer(m *parse.Mail) string {
	if len(m.ReplyTo) == 1 {
		return strings.ToLower(m.ReplyTo[0].Address)
	}
	if len(m.ReplyTo) > 1 {
		return ""
	}
	found := formEmailField.FindAllStringSubmatch(m.NewText+"\n"+m.Signature, -1)
	if len(found) != 1 {
		return ""
	}
	a, err := mail.ParseAddress(found[0][1])
	if err != nil {
		return ""
	}
	return strings.ToLower(a.Address)
}
