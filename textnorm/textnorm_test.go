package textnorm

import (
	"slices"
	"testing"
)

func TestFold(t *testing.T) {
	for in, want := range map[string]string{
		"Retificação":         "retificacao",
		"Nº Contribuinte":     "no contribuinte",
		"RECLAMAÇÃO":          "reclamacao",
		"médico’s “app” — já": "medico's \"app\" - ja",
		"plain ASCII Text":    "plain ascii text",
		"Ёлка и ЁЖ":           "елка и еж",
		"Ñandú":               "nandu",
		"":                    "",
	} {
		if got := Fold(in); got != want {
			t.Errorf("Fold(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWords(t *testing.T) {
	got := Words("Olá! O meu NIF é 123-456-789, e a app… não abre.")
	want := []string{"ola", "o", "meu", "nif", "e", "123", "456", "789", "e", "a", "app", "nao", "abre"}
	if !slices.Equal(got, want) {
		t.Errorf("Words = %q, want %q", got, want)
	}
}
