package identify

import "testing"

func TestNIFDecoysMore(t *testing.T) {
	for _, c := range []struct{ subject, body, want string }{
		{"", "Meu CPF é 123.456.789-09, moro em Lisboa.", ""},
		{"", "Ligue para +351 212 345 678.", ""},
		{"", "Referência MB 123 456 789, entidade 21312.", ""},
		{"", "O meu contribuinte: 234.567.899", "234567899"},
		{"NIF PT234567899", "Obrigado", "234567899"},
		{"", "nif: 234-567-899", "234567899"},
		{"", "o numero de contribuinte é o 234567899 e o telefone 912345678", "234567899"},
		{"", "Cartão de cidadão 12345678 9ZZ1", ""},
	} {
		got := ""
		if n := FindNIF(c.subject, c.body, "", ""); n != nil && n.Valid {
			got = n.Value
		}
		if got != c.want {
			t.Errorf("%q %q: got %q, want %q", c.subject, c.body, got, c.want)
		}
	}
}
