package procedures_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset"

	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/quality"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/templates"
)

// What each procedure's texts must show, in its own language: a word of its draft
// subject, and of the proposed answer the agents read.
var language = map[string]struct{ draftSubject, answer, reason string }{
	"relacionamento-br": {"Rascunho", "Atendimento Telemedicina", "tem probabilidade"},
	"klinika-ru":        {"Черновик", "Контакт-центр Клиники", "вероятность категории"},
}

func procedures(t *testing.T) []string {
	t.Helper()
	cfgs, err := filepath.Glob("*/config.toml")
	if err != nil || len(cfgs) < 2 {
		t.Fatalf("procedures: %v, %v", cfgs, err)
	}
	var dirs []string
	for _, c := range cfgs {
		dir := filepath.Dir(c)
		if _, ok := language[dir]; !ok {
			t.Errorf("%s has no entry in this test's language table", dir)
		}
		dirs = append(dirs, dir)
	}
	return dirs
}

func load(t *testing.T, dir string) *config.Config {
	t.Helper()
	cfg, err := config.Load(filepath.Join(dir, "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The committed model is what its training mail gives: nobody edited it by hand or
// forgot to retrain after changing the examples.
func TestEachProcedureModelIsItsTrainingMail(t *testing.T) {
	for _, dir := range procedures(t) {
		t.Run(dir, func(t *testing.T) {
			cfg := load(t, dir)
			m, err := dataset.Train(cfg, filepath.Join(dir, "train"), daemon.ParseLimits(cfg), classify.TrainOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := m.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			committed, err := os.ReadFile(filepath.Join(dir, "model.json"))
			if err != nil || !bytes.Equal(b, committed) {
				t.Fatalf("%s/model.json is stale (%v): run triagem train --config %[1]s/config.toml --examples %[1]s/train --out %[1]s/model.json", dir, err)
			}
		})
	}
}

// Each procedure decides its own held-out mail (eval/, written apart from train/) at the
// shipped procedure's targets for hard mail, and routes only to its own addresses.
func TestEachProcedureDecidesItsHeldOutMail(t *testing.T) {
	for _, dir := range procedures(t) {
		t.Run(dir, func(t *testing.T) {
			cfg := load(t, dir)
			ev, err := daemon.NewEvaluator(cfg)
			if err != nil {
				t.Fatal(err)
			}
			mails, err := dataset.ReadLabelled(filepath.Join(dir, "eval"))
			if err != nil {
				t.Fatal(err)
			}
			train, err := dataset.ReadTraining(filepath.Join(dir, "train"))
			if err != nil {
				t.Fatal(err)
			}
			trainEx, err := dataset.Examples(train, daemon.ParseLimits(cfg))
			if err != nil {
				t.Fatal(err)
			}
			evalEx, err := dataset.Examples(mails, daemon.ParseLimits(cfg))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range dataset.Copies(trainEx, evalEx) {
				t.Errorf("eval/%s shares %d of %d six-word runs with training mail %s", c.Name, c.Shared, c.OfRuns, c.Of)
			}
			var outs []quality.Outcome
			allowed := cfg.Recipients()
			for _, m := range mails {
				d, _ := ev.Evaluate(context.Background(), m.Raw)
				outs = append(outs, quality.Outcome{Mail: m, Decision: d})
				// What the procedure does not ask for is not looked for, nor needed.
				if !cfg.Team.Asks("nif") && d.NIF != nil {
					t.Errorf("%s: a NIF %q was taken, but this procedure asks for none", m.Name, d.NIF.Value)
				}
				if d.Identified != (d.Name != nil || !cfg.Team.Asks("name")) && !cfg.Team.Asks("nif") {
					t.Errorf("%s: identified %v with name %v", m.Name, d.Identified, d.Name)
				}
				for _, to := range append(append([]string{}, d.To...), d.Cc...) {
					if !allowed[to] {
						t.Errorf("%s: routed to %s, which the config does not name", m.Name, to)
					}
				}
			}
			r := quality.Measure(cfg, outs)
			var b strings.Builder
			r.Write(&b, true)
			if r.Accuracy() < 90 || r.Precision() < 99 || len(r.Leaks) > 0 || r.Routed == 0 {
				t.Errorf("accuracy %.1f %%, precision %.1f %%, %d routed, %d leaks\n%s", r.Accuracy(), r.Precision(), r.Routed, len(r.Leaks), b.String())
			}
		})
	}
}

// The whole daemon, on in-process servers, with the procedure's config: its forwards go
// to its departments, and its agents get drafts written in its language.
func TestEachProcedureRunsEndToEnd(t *testing.T) {
	for _, dir := range procedures(t) {
		t.Run(dir, func(t *testing.T) {
			cfg := load(t, dir)
			user := cfg.Inboxes[0].User
			im, sm := mailtest.StartServers(t, nil, user, "secret")
			mails, err := dataset.ReadLabelled(filepath.Join(dir, "eval"))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range mails {
				if err := im.Append(user, "INBOX", m.Raw); err != nil {
					t.Fatal(err)
				}
			}
			if err := demo.UseLocalServers(cfg, t.TempDir(), im.Addr, sm.Addr, "secret"); err != nil {
				t.Fatal(err)
			}
			cfg.Web.Listen = ""

			app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			sum, err := app.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Decided != len(mails) || sum.Moved != len(mails) || sum.Failed != 0 {
				t.Fatalf("summary %+v for %d mails", sum, len(mails))
			}

			departments := map[string]bool{}
			for _, c := range cfg.Categories {
				for _, a := range append(append([]string{}, c.To...), c.Cc...) {
					departments[strings.ToLower(a)] = true
				}
			}
			agents := config.AddressSet(cfg.Team.Agents...)
			want := language[dir]
			forwards, drafts := 0, 0
			for _, d := range sm.Deliveries() {
				e, err := message.Read(bytes.NewReader(d.Data))
				if err != nil {
					t.Fatal(err)
				}
				subject, _ := e.Header.Text("Subject")
				body, err := io.ReadAll(e.Body)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range d.Rcpts {
					switch r = strings.ToLower(r); {
					case departments[r]:
						forwards++
						if text := firstText(t, d.Data); !strings.Contains(text, want.reason) {
							t.Errorf("forward %q gives its reasons in another language (no %q):\n%s", subject, want.reason, text)
						}
					case agents[r]:
						drafts++
						if !strings.Contains(subject, want.draftSubject) {
							t.Errorf("draft subject %q is not in the team's language (no %q)", subject, want.draftSubject)
						}
						if !strings.Contains(string(body), want.answer) {
							t.Errorf("draft %q proposes no answer in the team's language (no %q)", subject, want.answer)
						}
					default:
						t.Errorf("a message went to %s, neither a department nor an agent", r)
					}
				}
			}
			if forwards == 0 || drafts == 0 {
				t.Errorf("%d forwards, %d drafts", forwards, drafts)
			}
		})
	}
}

// firstText is the first text/plain part of a mail, decoded.
func firstText(t *testing.T, raw []byte) string {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	text := ""
	err = e.Walk(func(_ []int, p *message.Entity, err error) error {
		if err != nil || text != "" {
			return err
		}
		if mt, _, _ := p.Header.ContentType(); mt == "text/plain" {
			b, err := io.ReadAll(p.Body)
			text = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return text
}

// Each procedure writes every reason in its team's language, and its blocks are sound.
func TestEachProcedureExplainsInItsLanguage(t *testing.T) {
	for _, dir := range procedures(t) {
		cfg := load(t, dir)
		s, err := templates.LoadDir(cfg.Team.Language, cfg.File(cfg.Team.TemplatesDir))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.CheckReasons(cfg.Team.Language); err != nil {
			t.Errorf("%s: %v", dir, err)
		}
		if u := s.Untranslated(cfg.Team.Language); len(u) > 0 {
			t.Errorf("%s: reasons.%s.tmpl leaves %v in English", dir, cfg.Team.Language, u)
		}
	}
}

// A customer who writes in a language the team does not answer in gets the team's own
// language, never another procedure's shipped texts (001's English is Médico Online's).
func TestEachProcedureAnswersInItsOwnLanguages(t *testing.T) {
	raw := []byte("From: Jane Doe <jane@example.test>\r\nTo: x@example.test\r\nSubject: Appointment\r\nMessage-ID: <en-1@example.test>\r\n\r\nHello, my appointment was cancelled and I would like to book it again with the same doctor. Thank you for your help.\r\n\r\nJane Doe\r\n")
	for _, dir := range procedures(t) {
		cfg := load(t, dir)
		ev, err := daemon.NewEvaluator(cfg)
		if err != nil {
			t.Fatal(err)
		}
		d, pm := ev.Evaluate(context.Background(), raw)
		if d.Language != cfg.Team.Language {
			t.Errorf("%s: an English mail is answered in %q, want %q", dir, d.Language, cfg.Team.Language)
		}
		r, err := ev.Composer.CustomerReply(d, route.Case{Ref: "TRG-TEST", Mail: pm})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, language[dir].answer) || strings.Contains(r.Text, "Médico Online") {
			t.Errorf("%s: the answer is not the team's own:\n%s", dir, r.Text)
		}
	}
}
