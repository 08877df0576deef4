package parse

import (
	"strings"
	"testing"
)

func TestCharsets(t *testing.T) {
	mail := func(charset, cte string, body []byte) []byte {
		return append([]byte("From: a@b.example\r\nContent-Type: text/plain; charset="+charset+"\r\nContent-Transfer-Encoding: "+cte+"\r\n\r\n"), body...)
	}
	cases := []struct {
		name string
		raw  []byte
		want string
	}{
		{"latin-1", mail("iso-8859-1", "8bit", []byte("Ol\xe1, n\xe3o recebi a declara\xe7\xe3o")), "Olá, não recebi a declaração"},
		{"windows-1252 euro and quotes", mail("windows-1252", "8bit", []byte("Paguei 15 \x80 \x96 \x93sem\x94 recibo")), "Paguei 15 € – “sem” recibo"},
		{"iso-8859-15 euro", mail("iso-8859-15", "8bit", []byte("Valor: 10 \xa4")), "Valor: 10 €"},
		{"utf-16 with BOM", mail("utf-16", "base64", []byte("//5PAGwA4QA=")), "Olá"},
		{"koi8-r", mail("koi8-r", "8bit", []byte("\xf0\xd2\xc9\xd7\xc5\xd4")), "Привет"},
		{"NFD accents", mail("utf-8", "8bit", []byte("Na\xcc\x83o recebi a receita")), "Não recebi a receita"},
		{"unknown charset falls back", mail("x-nonsense", "8bit", []byte("Ol\xe1")), "Olá"},
		{"quoted-printable utf-8", mail("utf-8", "quoted-printable", []byte("Fatura n=C3=A3o chegou=\r\n, obrigada")), "Fatura não chegou, obrigada"},
	}
	for _, c := range cases {
		m, err := Parse(c.raw, lim)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := strings.TrimSpace(m.Text); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	// RFC 2047 words split in the middle of a multi-byte character still join up.
	split := "From: a@b.example\r\nSubject: =?utf-8?q?Reclama=C3?= =?utf-8?q?=A7=C3=A3o?= da consulta\r\n\r\nx\r\n"
	if m, err := Parse([]byte(split), lim); err != nil || m.Subject != "Reclamação da consulta" {
		t.Errorf("split encoded word: %q %v", m.Subject, err)
	}
	b64 := "From: a@b.example\r\nSubject: =?utf-8?b?UmVjbGFtYcO=?= =?utf-8?b?p8Ojbw==?=\r\n\r\nx\r\n"
	if m, err := Parse([]byte(b64), lim); err != nil || !strings.HasPrefix(m.Subject, "Reclama") {
		t.Errorf("split base64 encoded word: %q %v", m.Subject, err)
	}
}
