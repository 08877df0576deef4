package route_test

import (
	"context"
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/screen"
)

func formMail(t *testing.T, headers, text string) *parse.Mail {
	t.Helper()
	raw := "From: Formulário de contacto <noreply@forms.example.pt>\r\nTo: s@x.pt\r\nSubject: [Contacto] Faturas\r\nMessage-ID: <form-1@forms.example.pt>\r\n" +
		headers + "\r\n" + strings.ReplaceAll(text, "\n", "\r\n")
	m, err := parse.Parse([]byte(raw), parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A form's customer is its single Reply-To, or else its one "Email:" field; two
// addresses, or none, name nobody.
func TestFormCustomer(t *testing.T) {
	const fields = "Nome: Ana Lopes\nEmail: Ana.Lopes@c.example\nMensagem: preciso da fatura da consulta de ontem.\n"
	cases := []struct{ headers, text, want string }{
		{"Reply-To: ana@c.example\r\n", fields, "ana@c.example"},
		{"", fields, "ana.lopes@c.example"},
		{"", "Nome: Ana\nE-mail do cliente: <ana@c.example>\nMensagem: x\n", "ana@c.example"},
		{"", "Nome: Ana\nCorreio eletrónico: ana@c.example\n", "ana@c.example"},
		{"Reply-To: a@c.example, b@c.example\r\n", fields, ""},
		{"", "Email: a@c.example\nEmail: b@c.example\n", ""},
		{"", "Mensagem: respondam para ana@c.example por favor\n", ""},
	}
	for _, c := range cases {
		if got := route.FormCustomer(formMail(t, c.headers, c.text)); got != c.want {
			t.Errorf("%q %q: %q, want %q", c.headers, c.text, got, c.want)
		}
	}
}

// A form's mail is routed like a customer's, answered at the form's address, with the
// name from its fields rather than the form's display name; without an address to answer,
// a person decides.
func TestFormMailIsDecidedForItsCustomer(t *testing.T) {
	cfg, err := config.Parse("test", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cls, _ := classify.New(cfg)
	r := route.New(cfg, cls)
	v := screen.Verdict{Kind: screen.Form, Reason: "sent by the web form noreply@forms.example.pt"}

	d := r.Decide(context.Background(), formMail(t, "", "Nome: Ana Lopes\nEmail: ana@c.example\nNIF: 190328477\nMensagem: Preciso da fatura da teleconsulta de ontem.\n"), v)
	if d.Action != route.Forward || d.Category != "invoice" || d.Customer != "ana@c.example" {
		t.Errorf("got %s %s to customer %q, want forward invoice to ana@c.example (%v)", d.Action, d.Category, d.Customer, d.Reasons)
	}
	if d.Name == nil || d.Name.Value != "Ana Lopes" {
		t.Errorf("name %+v, want Ana Lopes", d.Name)
	}

	d = r.Decide(context.Background(), formMail(t, "", "Nome: Ana Lopes\nMensagem: Preciso da fatura da teleconsulta de ontem.\n"), v)
	if d.Action != route.Review || !strings.Contains(reasonText(d), "no single address") {
		t.Errorf("without an address: %s, %v; want review, form-no-address", d.Action, d.Reasons)
	}
}

func reasonText(d route.Decision) string {
	var out []string
	for _, r := range d.Reasons {
		out = append(out, r.String())
	}
	return strings.Join(out, "; ")
}
