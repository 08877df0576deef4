// Package dataset reads labelled mail: the training examples the model learns from, and
// the evaluation sets (.eml files with a labels.jsonl) that measure it.
package dataset

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/textnorm"
)

// Mail is one labelled message.
type Mail struct {
	Name     string
	Raw      []byte
	Category string
	// AlsoOK are other categories a careful human would accept for this mail.
	AlsoOK []string
	// NIF and Person are the expected identification ("" when the mail has none).
	NIF    string
	Person string
}

// Separator is the line between two mails in a training file.
const Separator = "%%"

// ReadTraining reads every *.txt file of dir. A file is named after its category
// (refund.txt) and holds mails separated by lines of "%%". Each mail is written as a
// customer would send it: header lines (Subject:, optionally From:), a blank line, and
// the body, with any quoted history or forwarded message as mail clients put it.
func ReadTraining(dir string) ([]Mail, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s holds no *.txt training files", dir)
	}
	sort.Strings(files)
	var out []Mail
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		cat := strings.TrimSuffix(filepath.Base(f), ".txt")
		for i, text := range split(string(b)) {
			raw, err := Compose(text)
			if err != nil {
				return nil, fmt.Errorf("%s, mail %d: %w", f, i+1, err)
			}
			out = append(out, Mail{Name: fmt.Sprintf("%s#%03d", cat, i+1), Raw: raw, Category: cat})
		}
	}
	return out, nil
}

func split(s string) []string {
	var out []string
	var cur []string
	flush := func() {
		t := strings.TrimSpace(strings.Join(cur, "\n"))
		if t != "" {
			out = append(out, t)
		}
		cur = cur[:0]
	}
	for _, line := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == Separator {
			flush()
			continue
		}
		cur = append(cur, line)
	}
	flush()
	return out
}

// Compose turns a written example into an RFC 5322 message: its own header lines, and a
// From and a plain-text UTF-8 body where it has none.
func Compose(text string) ([]byte, error) {
	head, body, ok := strings.Cut(text, "\n\n")
	if !ok {
		return nil, fmt.Errorf("no blank line between the header lines and the body")
	}
	var b bytes.Buffer
	hasFrom := false
	for _, line := range strings.Split(head, "\n") {
		name, _, ok := strings.Cut(line, ":")
		if !ok || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("header line %q is not \"Name: value\"", line)
		}
		if strings.EqualFold(name, "From") {
			hasFrom = true
		}
		b.WriteString(line + "\r\n")
	}
	if !hasFrom {
		b.WriteString("From: cliente@example.pt\r\n")
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n") + "\r\n")
	return b.Bytes(), nil
}

// Label is one line of labels.jsonl.
type Label struct {
	File     string   `json:"file"`
	Category string   `json:"category"`
	AlsoOK   []string `json:"also_ok"`
	NIF      string   `json:"nif"`
	Name     string   `json:"name"`
}

// ReadLabelled reads dir/labels.jsonl and the .eml files it names.
func ReadLabelled(dir string) ([]Mail, error) {
	f, err := os.Open(filepath.Join(dir, "labels.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("an evaluation folder needs a labels.jsonl: %w", err)
	}
	defer f.Close()
	var out []Mail
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var l Label
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			return nil, fmt.Errorf("labels.jsonl:%d: %w", n, err)
		}
		if l.File == "" || l.Category == "" {
			return nil, fmt.Errorf("labels.jsonl:%d: every line needs \"file\" and \"category\"", n)
		}
		raw, err := os.ReadFile(filepath.Join(dir, l.File))
		if err != nil {
			return nil, fmt.Errorf("labels.jsonl:%d: %w", n, err)
		}
		out = append(out, Mail{Name: l.File, Raw: raw, Category: l.Category, AlsoOK: l.AlsoOK, NIF: l.NIF, Person: l.Name})
	}
	return out, sc.Err()
}

// Examples parses mails into training examples, reading them as the daemon does.
func Examples(mails []Mail, lim parse.Limits) ([]classify.Example, error) {
	out := make([]classify.Example, 0, len(mails))
	for _, m := range mails {
		pm, err := parse.Parse(m.Raw, lim)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.Name, err)
		}
		out = append(out, classify.Example{Name: m.Name, Input: classify.InputOf(pm), Category: m.Category})
	}
	return out, nil
}

// Train fits a model for cfg's categories to the training files of dir (ReadTraining),
// each mail read with lim as the daemon reads it: what `triagem train` writes.
func Train(cfg *config.Config, dir string, lim parse.Limits, opt classify.TrainOptions) (*classify.Model, error) {
	mails, err := ReadTraining(dir)
	if err != nil {
		return nil, err
	}
	ex, err := Examples(mails, lim)
	if err != nil {
		return nil, err
	}
	return classify.Train(cfg, ex, opt)
}

// A Copy is an evaluation mail too close to a training mail for its figures to mean
// judgement: it shares more than a third of its six-word runs with Of.
type Copy struct {
	Name, Of       string
	Shared, OfRuns int
}

// Copies lists the mails of eval that nearly repeat a mail of train.
func Copies(train, eval []classify.Example) []Copy {
	seen := map[string]string{}
	for _, e := range train {
		for _, s := range sixWordRuns(e.Input.NewText) {
			seen[s] = e.Name
		}
	}
	var out []Copy
	for _, e := range eval {
		runs := sixWordRuns(e.Input.NewText)
		shared, of := 0, ""
		for _, s := range runs {
			if n, ok := seen[s]; ok {
				shared, of = shared+1, n
			}
		}
		if len(runs) > 0 && shared*3 > len(runs) {
			out = append(out, Copy{Name: e.Name, Of: of, Shared: shared, OfRuns: len(runs)})
		}
	}
	return out
}

func sixWordRuns(text string) []string {
	w := textnorm.Words(text)
	var out []string
	for i := 0; i+6 <= len(w); i++ {
		out = append(out, strings.Join(w[i:i+6], " "))
	}
	return out
}
