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
	"strings"
	"text/template"
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

// Load parses every embedded template. fallback is the language used when a template has
// no version in the language asked for.
func Load(fallback string) (*Set, error) {
	s := &Set{fallback: fallback, byName: map[string]*entry{}}
	names, err := fs.Glob(files, "*.tmpl")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		src, err := files.ReadFile(n)
		if err != nil {
			return nil, err
		}
		t, err := template.New(n).Option("missingkey=error").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("template %s: %w", n, err)
		}
		sum := sha256.Sum256(src)
		s.byName[strings.TrimSuffix(n, ".tmpl")] = &entry{tmpl: t, hash: hex.EncodeToString(sum[:8])}
	}
	return s, nil
}

// Rendered is a text and the hash of the template that made it, for the audit log.
type Rendered struct {
	Text     string
	Template string // file name without .tmpl
	Hash     string
}

// Render executes purpose in lang (or the fallback language) with data.
func (s *Set) Render(purpose, lang string, data any) (Rendered, error) {
	name := purpose + "." + lang
	e, ok := s.byName[name]
	if !ok {
		name = purpose + "." + s.fallback
		if e, ok = s.byName[name]; !ok {
			return Rendered{}, fmt.Errorf("no template %q in %s or %s: add templates/%s.%s.tmpl", purpose, lang, s.fallback, purpose, s.fallback)
		}
	}
	var b bytes.Buffer
	if err := e.tmpl.Execute(&b, data); err != nil {
		return Rendered{}, fmt.Errorf("template %s: %w", name, err)
	}
	return Rendered{Text: tidy(b.String()), Template: name, Hash: e.hash}, nil
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
