package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
)

// The daemon picks up mail that arrives while it runs (IDLE, or the poll when a
// notification is missed), and stops cleanly: every goroutine it started ends.
func TestRunPicksUpNewMailAndStops(t *testing.T) {
	e := start(t)
	e.app.Cfg.Daemon.PollInterval.Duration = 500 * time.Millisecond
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.app.Run(ctx) }()

	raw, _ := os.ReadFile("../demo/mails/03-apolice-valor.eml")
	time.Sleep(200 * time.Millisecond) // let it connect and go idle
	if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(e.smtp.Deliveries()) < 2 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(e.smtp.Deliveries()); n != 2 {
		t.Fatalf("%d deliveries while running, want the forward and the draft", n)
	}
	for time.Now().Before(deadline) {
		if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "INBOX"); n == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "INBOX"); n != 0 {
		t.Errorf("the original was not moved while running")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not stop within 10 s of cancel")
	}
	time.Sleep(100 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+2 {
		t.Errorf("%d goroutines before Run, %d after it stopped", before, after)
	}
}

// Servers without MOVE still get their mail routed; no plain EXPUNGE, nothing deleted.
func TestMoveFallbacks(t *testing.T) {
	for _, tc := range []struct {
		name      string
		caps      imap.CapSet
		leftInbox int // originals still in INBOX (flagged with a keyword)
	}{
		{"uidplus", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, 0},
		{"plain", imap.CapSet{imap.CapIMAP4rev1: {}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im, sm := mailtest.StartServers(t, tc.caps, "suporte@example.test", "demo")
			raw, _ := os.ReadFile("../demo/mails/08-fatura.eml")
			im.Append("suporte@example.test", "INBOX", raw)
			cfg, err := demo.Config(t.TempDir(), im.Addr, sm.Addr)
			if err != nil {
				t.Fatal(err)
			}
			app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			sum, err := app.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if sum.Sent != 2 || sum.Moved != 1 {
				t.Errorf("%+v: want 2 sent, 1 moved", sum)
			}
			if n, _ := mailtest.Count(im.Addr, "suporte@example.test", "demo", "INBOX"); n != tc.leftInbox {
				t.Errorf("INBOX holds %d, want %d", n, tc.leftInbox)
			}
			if n, _ := mailtest.Count(im.Addr, "suporte@example.test", "demo", "Triagem/Processados"); n != 1 {
				t.Errorf("processed folder holds %d, want 1", n)
			}
			// A second run must not pick the keyword-flagged original up again.
			sum, err = app.RunOnce(context.Background())
			if err != nil || sum.Fetched != 0 || sum.Sent != 0 {
				t.Errorf("second run %+v %v: want nothing", sum, err)
			}
		})
	}
}

// The same mail in two watched inboxes is forwarded once.
func TestSameMailInTwoInboxes(t *testing.T) {
	e := start(t)
	e.imap.AddUser("outra@example.test", "demo")
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	e.imap.Append("suporte@example.test", "INBOX", raw)
	e.imap.Append("outra@example.test", "INBOX", raw)
	second := e.app.Cfg.Inboxes[0]
	second.Name, second.User = "outra", "outra@example.test"
	e.app.Cfg.Inboxes = append(e.app.Cfg.Inboxes, second)
	sum, err := e.app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 2 || sum.Moved != 2 || len(e.smtp.Deliveries()) != 2 {
		t.Errorf("%+v, %d deliveries: want both recorded and moved, one forward and one draft", sum, len(e.smtp.Deliveries()))
	}
}
