package templates

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/triagem/triagem/reason"
)

func TestAFolderReplacesAndAddsTemplates(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("ack.pt-PT.tmpl", "Olá {{.Name}}, texto da equipa.")
	write("ack.ru.tmpl", "Здравствуйте, {{.Name}}!")
	write("notes.txt", "not a template")

	shipped, err := Load("pt-PT")
	if err != nil {
		t.Fatal(err)
	}
	s, err := LoadDir("pt-PT", dir)
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]string{"Name": "Ana"}
	r, err := s.Render("ack", "pt-PT", data)
	if err != nil || r.Text != "Olá Ana, texto da equipa.\n" {
		t.Errorf("replaced ack: %q, %v", r.Text, err)
	}
	if old, _ := shipped.byName["ack.pt-PT"]; old.hash == s.byName["ack.pt-PT"].hash {
		t.Error("the replacement kept the shipped template's hash: the audit log could not tell them apart")
	}
	if r, err := s.Render("ack", "ru", data); err != nil || r.Text != "Здравствуйте, Ana!\n" || r.Template != "ack.ru" {
		t.Errorf("added ack.ru: %+v, %v", r, err)
	}
	// The folder adds only what it holds: the other texts are the shipped ones.
	if !s.Has("forward", "pt-PT") || s.Has("forward", "ru") {
		t.Error("forward.pt-PT should be shipped and forward.ru absent")
	}
	if got, want := s.Missing("ru"), []string{"answer.ru.tmpl", "draft.ru.tmpl", "forward.ru.tmpl", "review.ru.tmpl", "notice.ru.tmpl", "subjects.ru.tmpl"}; !slices.Equal(got, want) {
		t.Errorf("Missing(ru) = %v, want %v", got, want)
	}
	if got := shipped.Missing("pt-PT"); len(got) != 0 {
		t.Errorf("the shipped language lacks %v", got)
	}
}

func TestABrokenOrMissingFolderIsNamed(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ack.ru.tmpl"), []byte("{{if .Name}}no end"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadDir("ru", dir); err == nil || !strings.Contains(err.Error(), "ack.ru.tmpl") {
		t.Errorf("a broken template: %v, want an error naming ack.ru.tmpl", err)
	}
	if _, err := LoadDir("ru", filepath.Join(dir, "absent")); err == nil || !strings.Contains(err.Error(), "templates_dir") {
		t.Errorf("a missing folder: %v, want an error naming templates_dir", err)
	}
}

// A subject is one line whatever its parts hold: a customer's subject with a line break
// cannot add a header.
func TestSubjectsAreOneLine(t *testing.T) {
	s, err := Load("pt-PT")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Line("subjects", "draft", "pt-PT", map[string]string{"CaseRef": "TRG-1", "Subject": "receita\r\nBcc: x@evil.example", "Label": "x"})
	if err != nil || got != "[TRG-1] Rascunho: Re: receita Bcc: x@evil.example" {
		t.Errorf("draft subject %q, %v", got, err)
	}
	if _, err := s.Line("subjects", "nonesuch", "pt-PT", nil); err == nil {
		t.Error("an unknown block gave no error")
	}
}

// The notice names what the agent should do, in the team's words, for each hint.
func TestNoticeHints(t *testing.T) {
	s, err := Load("pt-PT")
	if err != nil {
		t.Fatal(err)
	}
	for hint, want := range map[string]string{
		"reply-to-draft": "Responder", "one-draft-each": "cada rascunho", "draft-expired": "expirou",
		"how-to-answer": "APROVAR ou REJEITAR", "keep-disclaimer": "tal como está: \"Ligue 1.\"",
	} {
		r, err := s.Render("notice", "pt-PT", map[string]any{"CaseRef": "TRG-1", "Reason": "r", "Hint": hint, "From": "a@b.c",
			"Subject": "s", "Interval": "15m", "Disclaimer": "Ligue 1."})
		if err != nil || !strings.Contains(r.Text, want) {
			t.Errorf("hint %s: %v\n%s", hint, err, r.Text)
		}
	}
}

// The team reads a decision's reasons in its language: every code has a block in
// reasons.pt-PT.tmpl, each block uses the code's values, and what has no block (a
// screen's own sentence) is written as the log's English.
func TestReasonsInTheTeamsLanguage(t *testing.T) {
	s, err := Load("pt-PT")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range reason.Codes() {
		r := reason.Sample(code)
		args := r.Args
		got, err := s.Reasons("pt-PT", []reason.Reason{r})
		if err != nil {
			t.Errorf("%s: %v", code, err)
			continue
		}
		if code == "text" {
			if got[0] != "<text>" {
				t.Errorf("a sentence from elsewhere became %q", got[0])
			}
			continue
		}
		if got[0] == r.String() {
			t.Errorf("%s has no Portuguese block: %q", code, got[0])
		}
		for _, a := range args {
			if !strings.Contains(got[0], a) {
				t.Errorf("%s: %q leaves out %s", code, got[0], a)
			}
		}
	}
	got, err := s.Reasons("en", []reason.Reason{reason.New("no-department")})
	if err != nil || got[0] != "the procedure names no department for this: a human decides" {
		t.Errorf("a language without reasons.LANG.tmpl: %q, %v", got, err)
	}
}

// A team's mistake in reasons.LANG.tmpl is found when triagem starts, not at the first
// forward: a block that is no code, a value its code does not have.
func TestCheckReasonsNamesTheMistake(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{{define "probabilty"}}{{.category}}{{end}}`, `defines "probabilty", which is no reason code`},
		{`{{define "procedure"}}{{.categroy}}{{end}}`, `the values of "procedure" are label, to`},
		{`{{define "procedure"}}{{.label}} → {{.to}}{{end}}`, ""},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "reasons.xx.tmpl"), []byte(tc.text), 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := LoadDir("pt-PT", dir)
		if err != nil {
			t.Fatal(err)
		}
		err = s.CheckReasons("xx")
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: %v, want %q", tc.text, err, tc.want)
		}
		if u := s.Untranslated("xx"); strings.Contains(tc.text, "procedure") == slices.Contains(u, "procedure") || !slices.Contains(u, "duplicate") {
			t.Errorf("untranslated %v", u)
		}
	}
	s, _ := Load("pt-PT")
	if err := s.CheckReasons("pt-PT"); err != nil || len(s.Untranslated("pt-PT")) > 0 {
		t.Errorf("the shipped Portuguese: %v, untranslated %v", err, s.Untranslated("pt-PT"))
	}
}
