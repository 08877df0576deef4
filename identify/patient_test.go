package identify

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/triagem/triagem/dataset/rawtext"
)

// findPatient finds what patientName finds, tried from every position, on the data sets,
// the demo's mails and texts made to test its edges.
func TestFindPatientChangesNothing(t *testing.T) {
	texts := []string{
		"Escrevo em nome da minha mãe, Maria Sousa.",
		"Sou o filho do Sr. José Carlos Pereira e venho pedir a receita.",
		"EM NOME DO MEU PAI, JOSÉ PEREIRA",
		"a internet falhou; a minha esposa Ana Lopes tentou",
		"Paciente: Rui Costa e Silva",
		"on behalf of my mother Jane Doe",
		"my husband, John Smith, had a consultation",
		"do meu\nsogro, Manuel Alves",
		"Sou a neta da senhora Maria de Jesus",
		"utente Carla Dias da Cunha",
		"filha da Dra. Inês Moura",
		"o meu pai", "", "paciente", "my ",
		"ſou o filho do Sr. Kelvin Silva", // folded by (?i), not by the lower-casing
	}
	all, err := rawtext.Read("../dataset")
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, all...)
	mails, _ := filepath.Glob("../demo/mails/*.eml")
	for _, f := range mails {
		b, _ := os.ReadFile(f)
		texts = append(texts, string(b))
	}
	if len(texts) < 100 {
		t.Fatalf("only %d texts: where did the data sets go?", len(texts))
	}
	found := 0
	for _, s := range texts {
		want, got := patientName.FindStringSubmatch(s), findPatient(s, asciiLower(s))
		if !slices.Equal(got, want) {
			t.Errorf("%.60q: anchored %q, everywhere %q", s, got, want)
		}
		if want != nil {
			found++
		}
	}
	if found < 15 {
		t.Errorf("only %d texts name a patient: the test no longer tries much", found)
	}
}
