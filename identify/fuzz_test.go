package identify

import "testing"

// FuzzFindNIF: a NIF reported valid always passes the check digit; nothing panics.
func FuzzFindNIF(f *testing.F) {
	f.Add("NIF 123 456 789", "")
	f.Add("contribuinte n.º PT 234.567.899", "tel +351 912 345 678")
	f.Add("CPF 123.456.789-09 referência 123456789", "")
	f.Fuzz(func(t *testing.T, subject, body string) {
		n := FindNIF(subject, body, body, body)
		if n != nil && n.Valid && !ValidNIF(n.Value) {
			t.Errorf("FindNIF(%q, %q) = %+v, which fails the check digit", subject, body, n)
		}
		FindName(Sources{NewText: body, Signature: subject, Quoted: body, DisplayName: subject, Address: subject})
	})
}
