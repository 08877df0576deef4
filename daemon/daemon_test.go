package daemon_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/store"
)

// expected routes of the demo mails (demo/mails), by file.
var expected = map[string]struct{ action, category string }{
	"01-receita-nao-recebida":       {"forward", "documents"},
	"02-atestado-datas-erradas":     {"forward", "documents"},
	"03-apolice-valor":              {"forward", "insurance"},
	"04-app-nao-entra":              {"forward", "tech"},
	"05-botao-marcar":               {"forward", "tech"},
	"06-cobrado-duas-vezes":         {"forward", "refund"},
	"07-consulta-cancelada-cobrada": {"forward", "refund"},
	"08-fatura":                     {"forward", "invoice"},
	"09-fatura-marketplace":         {"forward", "invoice"},
	"10-medico-recusou-baixa":       {"forward", "clinical"},
	"11-conduta-medico":             {"forward", "clinical"},
	"12-resposta-automatica":        {"ignore", "other"},
	"13-newsletter":                 {"ignore", "other"},
	"14-bounce":                     {"ignore", "other"},
	"15-outro-assunto":              {"review", "other"},
	"16-videochamada":               {"forward", "tech"},
	"17-injection":                  {"forward", "documents"},
	"18-gmail-reply":                {"forward", "documents"},
	"19-familiar":                   {"forward", "documents"},
	"20-english":                    {"forward", "refund"},
}

type env struct {
	imap *mailtest.IMAP
	smtp *mailtest.SMTP
	app  *daemon.App
	dir  string
}

func start(t *testing.T) *env { return startWith(t, nil) }

// startWith starts an instance whose config mod may change first.
func startWith(t *testing.T, mod func(*config.Config)) *env {
	t.Helper()
	im, sm := servers(t)
	dir := t.TempDir()
	cfg, err := demo.Config(dir, im.Addr, sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMTP.RetryBase.Duration = 1
	if mod != nil {
		mod(cfg)
	}
	app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return &env{imap: im, smtp: sm, app: app, dir: dir}
}

func (e *env) load(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../demo/mails/*.eml")
	sort.Strings(files)
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func TestRunOnceRoutesDemoMail(t *testing.T) {
	e := start(t)
	files := e.load(t)
	ctx := context.Background()
	sum, err := e.app.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != len(files) || sum.Decided != len(files) || sum.Moved != len(files) {
		t.Fatalf("summary %+v: want %d fetched, decided and moved", sum, len(files))
	}
	cases, err := e.app.Store.Cases(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != len(files) {
		t.Fatalf("%d cases for %d mails", len(cases), len(files))
	}
	byMID := map[string]store.CaseRow{}
	for _, c := range cases {
		byMID[c.MessageID] = c
	}
	for name, want := range expected {
		var got *store.CaseRow
		for mid, c := range byMID {
			if strings.HasPrefix(mid, name+".") {
				got = &c
			}
		}
		if got == nil {
			t.Errorf("%s: no case", name)
			continue
		}
		if got.Action != want.action || got.Category != want.category {
			t.Errorf("%s: got %s/%s, want %s/%s", name, got.Action, got.Category, want.action, want.category)
		}
	}

	// Every forward went to exactly the configured department; nothing anywhere else.
	allowed := e.app.Cfg.Recipients()
	forwards := 0
	sessions := map[int]bool{}
	for _, d := range e.smtp.Deliveries() {
		sessions[d.Session] = true
		for _, r := range d.Rcpts {
			if !allowed[r] {
				t.Errorf("sent to %s, which the configuration does not name", r)
			}
		}
		for _, h := range []string{"To", "Cc", "Bcc", "Reply-To"} {
			if bytes.Contains(header(d.Data, h), []byte("evil.example")) {
				t.Errorf("the address injected in a mail body reached the %s header", h)
			}
		}
		if bytes.Contains(d.Data, []byte("Auto-Submitted: auto-generated")) && strings.HasPrefix(string(header(d.Data, "Message-Id")), "<forward.") {
			forwards++
		}
	}
	if forwards != 16 {
		t.Errorf("%d forwards, want 16 (one per routed customer mail)", forwards)
	}
	// 30-odd messages on smtp.connections sessions in parallel: more than one, never more.
	if c := e.app.Cfg.SMTP.Connections; len(sessions) < 2 || len(sessions) > c {
		t.Errorf("the messages went over %d SMTP sessions, want 2 to %d (smtp.connections)", len(sessions), c)
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "INBOX"); n != 0 {
		t.Errorf("INBOX still holds %d messages after --once", n)
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "Triagem/Revisao"); n != 1 {
		t.Errorf("review folder holds %d messages, want 1", n)
	}

	// Each classified event explains itself: method, probabilities, threshold, and the
	// model's evidence, except for clinical cases, whose words stay out of the log.
	evs, err := e.app.Store.Events(ctx, store.Filter{Type: store.EvClassified})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		f := ev.Fields()
		if f["method"] != "model+rules" || f["probabilities"] == nil || f["threshold"] == nil {
			t.Errorf("%s: classified event without the model's trace: %s", ev.CaseRef, ev.Data)
		}
		if f["category"] == "clinical" && (f["features"] != nil || strings.Contains(ev.Data, "recusou")) {
			t.Errorf("%s: a clinical case logged its words: %s", ev.CaseRef, ev.Data)
		}
		if f["category"] == "refund" && f["features"] == nil {
			t.Errorf("%s: a refund case without its features: %s", ev.CaseRef, ev.Data)
		}
	}

	// A second run finds nothing new and sends nothing.
	before := len(e.smtp.Deliveries())
	sum, err = e.app.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 0 || sum.Sent != 0 || len(e.smtp.Deliveries()) != before {
		t.Errorf("second run: %+v, %d new deliveries; want nothing", sum, len(e.smtp.Deliveries())-before)
	}
}

func header(raw []byte, key string) []byte {
	for _, l := range bytes.Split(raw, []byte("\r\n")) {
		if len(l) == 0 {
			break
		}
		if k, v, ok := bytes.Cut(l, []byte(": ")); ok && strings.EqualFold(string(k), key) {
			return v
		}
	}
	return nil
}

func TestTemporaryFailureIsRetriedAndPermanentIsParked(t *testing.T) {
	e := start(t)
	raw, _ := os.ReadFile("../demo/mails/08-fatura.eml")
	if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The forward is deferred, the draft refused (by recipient: the sessions send in parallel).
	for _, c := range e.app.Cfg.Categories {
		if c.Name == "invoice" {
			e.smtp.FailTo(c.To[0], 451)
		}
	}
	e.smtp.FailTo(e.app.Cfg.Team.Agents[0], 550)
	sum, err := e.app.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 0 || sum.Failed != 2 || sum.Moved != 0 || sum.Pending != 1 {
		t.Fatalf("first run %+v: want 2 failed, 1 pending, nothing moved", sum)
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "INBOX"); n != 1 {
		t.Fatalf("the original left the INBOX before its forward was accepted")
	}
	sum, err = e.app.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Sent != 1 || sum.Moved != 1 || sum.Pending != 0 {
		t.Fatalf("second run %+v: want the retry sent and the original moved", sum)
	}
	out, err := e.app.Store.AllOutbox(ctx)
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, o := range out {
		states[o.Kind] = o.State
	}
	if states["forward"] != "sent" || states["draft"] != "parked" {
		t.Errorf("outbox states %v: want forward sent, draft parked", states)
	}
	// A parked send sends the original to review, and an alert is in the log.
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "Triagem/Revisao"); n != 1 {
		t.Errorf("review folder holds %d, want the original with a parked send", n)
	}
	evs, err := e.app.Store.Events(ctx, store.Filter{Type: store.EvAlert})
	if err != nil || len(evs) != 1 {
		t.Errorf("alerts: %v %v, want one", evs, err)
	}
}

func TestSameMessageIDTwiceIsForwardedOnce(t *testing.T) {
	e := start(t)
	raw, _ := os.ReadFile("../demo/mails/04-app-nao-entra.eml")
	// Two copies in one batch, then a copy in a later batch: the later one is known from
	// the batch's first look, not from a copy the batch itself decided.
	for round, copies := range []int{2, 1} {
		for range copies {
			if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.app.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(e.smtp.Deliveries()); n != 2 {
			t.Errorf("run %d: %d deliveries, want 2 (one forward, one draft)", round+1, n)
		}
		evs, _ := e.app.Store.Events(context.Background(), store.Filter{Type: store.EvDuplicate})
		if len(evs) != round+1 {
			t.Errorf("run %d: %d duplicate events, want %d", round+1, len(evs), round+1)
		}
	}
}

// The Message-ID comes with each body, and an oversized mail, whose body is never
// fetched, still gets its own.
func TestMessageIDsFromTheFetch(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Limits.MaxMessageBytes = 4000 })
	small, _ := os.ReadFile("../demo/mails/04-app-nao-entra.eml")
	big := append([]byte("Message-ID: <big-scan@example.test>\r\nFrom: cliente@example.test\r\nSubject: scan\r\n\r\n"), bytes.Repeat([]byte("scan line\r\n"), 1000)...)
	for _, raw := range [][]byte{small, big, big} {
		if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{strings.ToLower(strings.Trim(string(header(small, "Message-Id")), "<> ")): true, "big-scan@example.test": true}
	rows, err := e.app.Store.DB().Query(`SELECT message_id, count(*) FROM messages GROUP BY message_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		rows.Scan(&id, &n)
		got[id] = n
	}
	if len(got) != 2 || got["big-scan@example.test"] != 2 {
		t.Fatalf("message IDs recorded %v, want %v (the big one twice)", got, want)
	}
	for id := range want {
		if got[id] == 0 {
			t.Errorf("%s was not recorded: %v", id, got)
		}
	}
}
