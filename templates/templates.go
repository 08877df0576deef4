// Package templates holds the texts triagem writes to people, one text/template file per
// purpose and language, embedded in the binary.
package templates

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/template"

	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/textnorm"
)

//go:embed *.tmpl
var files embed.FS

// Set is the parsed templates. Files are named PURPOSE.LANG.tmpl ("ack.pt-PT.tmpl").
type Set struct {
	fallback string
	byName   map[string]*entry
}

type entry struct {
	tmpl *template.Template
	hash string
}

// funcs are what templates may call besides text/template's own.
var funcs = template.FuncMap{
	// mentions reports whether folded text (an ack's .Text) holds any of words, folded
	// the same way: accents and case do not matter.
	"mentions": func(text string, words ...string) bool {
		for _, w := range words {
			if strings.Contains(text, textnorm.Fold(w)) {
				return true
			}
		}
		return false
	},
}

// Purposes are the texts triagem writes: a customer's acknowledgement and answer, and
// the team's forward, draft, review and refusal notice, and the subjects of the last four
// (subjects.LANG.tmpl, one {{define}} each). A team's language needs all seven. A
// decision's reasons (reasons.LANG.tmpl, one {{define}} per code) are optional: what a
// language leaves out is written in the log's English.
var Purposes = []string{"ack", "answer", "draft", "forward", "review", "notice", "subjects"}

// Load parses every embedded template. fallback is the language used when a template has
// no version in the language asked for.
func Load(fallback string) (*Set, error) { return LoadDir(fallback, "") }

// LoadDir is Load, then every *.tmpl of dir ("" for none) on top: a file there replaces
// the shipped one of its name, or adds a purpose or a language.
func LoadDir(fallback, dir string) (*Set, error) {
	s := &Set{fallback: fallback, byName: map[string]*entry{}}
	if err := s.add(files, "shipped template"); err != nil {
		return nil, err
	}
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("team.templates_dir %s is not a folder: create it, or remove the setting to use the shipped texts", dir)
		}
		if err := s.add(os.DirFS(dir), "template "+dir+string(os.PathSeparator)); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// add parses the *.tmpl files of fsys into s, replacing those of the same name.
func (s *Set) add(fsys fs.FS, where string) error {
	names, err := fs.Glob(fsys, "*.tmpl")
	if err != nil {
		return err
	}
	for _, n := range names {
		src, err := fs.ReadFile(fsys, n)
		if err != nil {
			return err
		}
		t, err := template.New(n).Option("missingkey=error").Funcs(funcs).Parse(string(src))
		if err != nil {
			return fmt.Errorf("%s%s: %w", where, n, err)
		}
		sum := sha256.Sum256(src)
		s.byName[strings.TrimSuffix(n, ".tmpl")] = &entry{tmpl: t, hash: hex.EncodeToString(sum[:8])}
	}
	return nil
}

// Missing lists the files of Purposes that lang has no version of.
func (s *Set) Missing(lang string) []string {
	var out []string
	for _, p := range Purposes {
		if !s.Has(p, lang) {
			out = append(out, p+"."+lang+".tmpl")
		}
	}
	return out
}

// Rendered is a text and the hash of the template that made it, for the audit log.
type Rendered struct {
	Text     string
	Template string // file name without .tmpl
	Hash     string
}

// Render executes purpose in lang (or the fallback language) with data.
func (s *Set) Render(purpose, lang string, data any) (Rendered, error) {
	name, e, err := s.lookup(purpose, lang)
	if err != nil {
		return Rendered{}, err
	}
	var b bytes.Buffer
	if err := e.tmpl.Execute(&b, data); err != nil {
		return Rendered{}, fmt.Errorf("template %s: %w", name, err)
	}
	return Rendered{Text: tidy(b.String()), Template: name, Hash: e.hash}, nil
}

// Line executes the template named block inside purpose's file in lang (or the fallback
// language): a subject line, so any line break in it, from data or from the file, becomes
// a space.
func (s *Set) Line(purpose, block, lang string, data any) (string, error) {
	name, e, err := s.lookup(purpose, lang)
	if err != nil {
		return "", err
	}
	return e.line(name, block, data)
}

// line executes block of e's file (named name in errors) as one line: every run of
// spaces and line breaks becomes one space.
func (e *entry) line(name, block string, data any) (string, error) {
	var b bytes.Buffer
	if err := e.tmpl.ExecuteTemplate(&b, block, data); err != nil {
		return "", fmt.Errorf("template %s, block %q: %w", name, block, err)
	}
	return strings.Join(strings.Fields(b.String()), " "), nil
}

// lookup finds purpose in lang, or else in the fallback language.
func (s *Set) lookup(purpose, lang string) (string, *entry, error) {
	for _, l := range []string{lang, s.fallback} {
		if e, ok := s.byName[purpose+"."+l]; ok {
			return purpose + "." + l, e, nil
		}
	}
	return "", nil, fmt.Errorf("no template %q in %s or %s: add templates/%s.%s.tmpl", purpose, lang, s.fallback, purpose, s.fallback)
}

// Reasons writes a decision's reasons for the team in lang: each by the block of its code
// in reasons.LANG.tmpl, or else as the log's English sentence. A team may translate the
// reasons it reads most and leave the rest.
func (s *Set) Reasons(lang string, rs []reason.Reason) ([]string, error) {
	out := make([]string, len(rs))
	e := s.byName["reasons."+lang]
	for i, r := range rs {
		if e == nil || e.tmpl.Lookup(r.Code) == nil {
			out[i] = r.String()
			continue
		}
		line, err := e.line("reasons."+lang, r.Code, r.Values())
		if err != nil {
			return nil, err
		}
		out[i] = line
	}
	return out, nil
}

// CheckReasons finds, before any mail needs them, the mistakes of reasons.LANG.tmpl: a
// block that is no reason code, or one that uses a value its code does not have.
func (s *Set) CheckReasons(lang string) error {
	e := s.byName["reasons."+lang]
	if e == nil {
		return nil
	}
	codes := reason.Codes()
	for _, t := range e.tmpl.Templates() {
		code := t.Name()
		if code == e.tmpl.Name() {
			continue
		}
		if !slices.Contains(codes, code) {
			return fmt.Errorf("reasons.%s.tmpl defines %q, which is no reason code: the codes are %s", lang, code, strings.Join(codes, ", "))
		}
		if _, err := s.Reasons(lang, []reason.Reason{reason.Sample(code)}); err != nil {
			return fmt.Errorf("%w: the values of %q are %s", err, code, strings.Join(reason.Keys(code), ", "))
		}
	}
	return nil
}

// Untranslated lists the reason codes, other than "text", that reasons.LANG.tmpl leaves
// to the English.
func (s *Set) Untranslated(lang string) []string {
	var out []string
	e := s.byName["reasons."+lang]
	for _, code := range reason.Codes() {
		if code != "text" && (e == nil || e.tmpl.Lookup(code) == nil) {
			out = append(out, code)
		}
	}
	return out
}

// Has reports whether purpose exists in lang itself.
func (s *Set) Has(purpose, lang string) bool {
	_, ok := s.byName[purpose+"."+lang]
	return ok
}

// tidy trims trailing spaces and collapses the blank lines that conditionals leave.
func tidy(s string) string {
	lines := strings.Split(s, "\n")
	var out []string
	blank := 0
	for _, l := range lines {
		l = strings.TrimRight(l, " \t")
		if l == "" {
			blank++
			if blank > 1 {
				continue
			}
		} else {
			blank = 0
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n")) + "\n"
}
