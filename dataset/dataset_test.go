package dataset

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/triagem/triagem/classify"
)

func TestReadTraining(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "refund.txt"), []byte("Subject: a\n\nfirst mail\n%%\nSubject: b\nFrom: Ana <a@example.pt>\n\nsecond\n> quoted\n%%\n\n"), 0o600)
	mails, err := ReadTraining(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 2 || mails[0].Category != "refund" || mails[1].Name != "refund#002" {
		t.Fatalf("mails = %+v", mails)
	}
	if !strings.Contains(string(mails[0].Raw), "From: cliente@example.pt\r\n") || !strings.Contains(string(mails[1].Raw), "From: Ana <a@example.pt>\r\n") {
		t.Errorf("From lines: %q / %q", mails[0].Raw, mails[1].Raw)
	}
	os.WriteFile(filepath.Join(dir, "bad.txt"), []byte("no header and no blank line"), 0o600)
	if _, err := ReadTraining(dir); err == nil || !strings.Contains(err.Error(), "bad.txt, mail 1") {
		t.Errorf("a mail without a header: err = %v", err)
	}
	if _, err := ReadTraining(t.TempDir()); err == nil {
		t.Error("an empty folder was accepted")
	}
}

func TestReadLabelled(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.eml"), []byte("Subject: x\r\n\r\nbody\r\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "labels.jsonl"), []byte(`{"file":"a.eml","category":"refund","also_ok":["invoice"],"nif":"123456789","name":"Ana Lopes"}`+"\n\n"), 0o600)
	mails, err := ReadLabelled(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 1 || mails[0].AlsoOK[0] != "invoice" || mails[0].NIF != "123456789" || mails[0].Person != "Ana Lopes" {
		t.Fatalf("mails = %+v", mails)
	}
	os.WriteFile(filepath.Join(dir, "labels.jsonl"), []byte(`{"file":"missing.eml","category":"refund"}`+"\n"), 0o600)
	if _, err := ReadLabelled(dir); err == nil || !strings.Contains(err.Error(), "labels.jsonl:1") {
		t.Errorf("a label naming a missing file: err = %v", err)
	}
	os.WriteFile(filepath.Join(dir, "labels.jsonl"), []byte(`{"file":"a.eml"}`+"\n"), 0o600)
	if _, err := ReadLabelled(dir); err == nil {
		t.Error("a label without a category was accepted")
	}
}

// The shipped sets read cleanly: every label names a file and a category of the config.
func TestShippedSetsRead(t *testing.T) {
	for _, dir := range []string{"eval/typical", "eval/hard", "eval/fresh"} {
		mails, err := ReadLabelled(dir)
		if err != nil || len(mails) < 30 {
			t.Errorf("%s: %d mails, %v", dir, len(mails), err)
		}
	}
	if mails, err := ReadTraining("train"); err != nil || len(mails) < 300 {
		t.Errorf("train: %d mails, %v", len(mails), err)
	}
}

func TestCopiesFindsANearRepeat(t *testing.T) {
	ex := func(name, text string) classify.Example {
		return classify.Example{Name: name, Input: classify.Input{NewText: text}}
	}
	train := []classify.Example{ex("refund#001", "Bom dia, fui cobrado duas vezes pela consulta de dia 5 e peço a devolução de um dos pagamentos.")}
	eval := []classify.Example{
		ex("copy", "Olá. Fui cobrado duas vezes pela consulta de dia 5 e peço a devolução de um dos pagamentos. Obrigado"),
		ex("own", "Cobraram-me a consulta em duplicado no MB Way; podem devolver o segundo pagamento?"),
	}
	got := Copies(train, eval)
	if len(got) != 1 || got[0].Name != "copy" || got[0].Of != "refund#001" {
		t.Errorf("Copies = %+v, want only the copy, of refund#001", got)
	}
}
