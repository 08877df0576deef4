package parse

import (
	"strings"
	"testing"
)

var lim = Limits{MaxHeaderBytes: 64 << 10, MaxParts: 50, MaxDepth: 10, MaxTextBytes: 1 << 20}

func TestSplitGmailOutlookAndSignature(t *testing.T) {
	cases := []struct{ name, text, newText, quotedHas, sig string }{
		{"gmail pt", "Segue o NIF 123456789.\n\nEm seg., 3 de mar. de 2025 às 10:12, Apoio <a@b.pt> escreveu:\n> Indique o NIF.\n",
			"Segue o NIF 123456789.", "Indique o NIF", ""},
		{"outlook pt", "Fui cobrada duas vezes.\n\n________________________________\nDe: Apoio <a@b.pt>\nEnviado: 2 de março\nAssunto: x\n\nA receita foi enviada.\n",
			"Fui cobrada duas vezes.", "A receita foi enviada", ""},
		{"outlook without rule", "Obrigado.\n\nDe: Apoio <a@b.pt>\nEnviado: segunda-feira\nPara: Ana\n\ntexto antigo\n",
			"Obrigado.", "texto antigo", ""},
		{"sign-off", "Não recebi a receita.\n\nCumprimentos,\nAna Lopes\n912 345 678\n", "Não recebi a receita.", "", "Cumprimentos,\nAna Lopes\n912 345 678"},
		{"dash-dash", "Olá\n-- \nRui\n", "Olá", "", "-- \nRui"},
	}
	for _, c := range cases {
		n, q, s := Split(c.text)
		if n != c.newText || !strings.Contains(q, c.quotedHas) || (c.sig != "" && s != c.sig) {
			t.Errorf("%s: new %q quoted %q sig %q", c.name, n, q, s)
		}
	}
}

func TestParseRepairsAndDecodes(t *testing.T) {
	raw := "From someone@x Mon Jan  1 00:00:00 2024\r\nFrom: =?iso-8859-1?q?Jos=E9?= <J@X.example>\r\nSubject: =?utf-8?q?Fatura_=E2=82=AC?=\r\nThis line is not a header\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nol\xe1\r\n"
	m, err := Parse([]byte(raw), lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.From) != 1 || m.From[0].Name != "José" || m.From[0].Address != "j@x.example" {
		t.Errorf("from %+v", m.From)
	}
	if m.Subject != "Fatura €" {
		t.Errorf("subject %q", m.Subject)
	}
	if !strings.Contains(m.Text, "This line is not a header") || len(m.Anomalies) == 0 {
		t.Errorf("text %q anomalies %v", m.Text, m.Anomalies)
	}
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("From: a@b.example\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n")
	for i := 0; i < 60; i++ {
		b.WriteString("--x\r\nContent-Type: text/plain\r\n\r\npart\r\n")
	}
	b.WriteString("--x--\r\n")
	_, err := Parse([]byte(b.String()), lim)
	if _, ok := err.(*LimitError); !ok {
		t.Errorf("60 parts with a limit of 50: err %v, want a LimitError", err)
	}
	huge := "From: a@b.example\r\nX-Long: " + strings.Repeat("a", 100<<10) + "\r\n\r\nbody\r\n"
	if _, err := Parse([]byte(huge), lim); err == nil {
		t.Error("a 100 KB header line passed a 64 KB header limit")
	}
}

func TestHeaderInjectionIsFlattened(t *testing.T) {
	raw := "From: =?utf-8?q?Ana=0D=0ABcc:_x@evil.example?= <ana@c.example>\r\nSubject: =?utf-8?q?ol=C3=A1=0D=0ABcc:_y@evil.example?=\r\n\r\nx\r\n"
	m, err := Parse([]byte(raw), lim)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		t.Errorf("CR/LF survived in the subject %q", m.Subject)
	}
	for _, a := range m.From {
		if strings.ContainsAny(a.Name, "\r\n") || strings.Contains(a.Address, "evil") {
			t.Errorf("CR/LF trick survived in From %+v", a)
		}
	}
}

// A table's cells stay apart (a form's label and its value), and a quote stays a quote.
func TestHTMLToText(t *testing.T) {
	cases := map[string]string{
		`<p>Bom dia,</p><table><tr><td>Nome</td><td>Ana Lopes</td></tr><tr><th>NIF</th><td> 123456789 </td></tr></table>`: "Bom dia,\nNome\tAna Lopes\nNIF\t123456789",
		`<div>Olá <b>mundo</b></div><blockquote>antigo</blockquote>`:                                                      "Olá mundo\n> antigo",
		`<table><tr><td></td><td>só a segunda</td></tr></table>`:                                                          "só a segunda",
	}
	for src, want := range cases {
		if got := HTMLToText(src); got != want {
			t.Errorf("%s:\n got %q\nwant %q", src, got, want)
		}
	}
}
