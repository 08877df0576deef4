package daemon_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/store"
)

// An IMAP connection that goes silent during IDLE (no FIN, no RST) is noticed within the
// keepalive bound (poll_interval + imap_timeout); mail that arrived meanwhile is handled
// after the reconnect, and no goroutine is left behind.
func TestBlackholedIDLEIsDetected(t *testing.T) {
	im, err := mailtest.StartIMAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	sm, err := mailtest.StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	defer sm.Close()
	im.AddUser("suporte@example.test", "demo")
	px, err := mailtest.StartProxy(im.Addr)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg, err := demo.Config(dir, px.Addr, sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	const poll, timeout = 400 * time.Millisecond, 400 * time.Millisecond
	cfg.Daemon.PollInterval = config.Duration{Duration: poll}
	cfg.Daemon.IMAPTimeout = config.Duration{Duration: timeout}
	app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	decided := func(n int, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for time.Since(start) < within {
			c, _ := app.Store.Counts(context.Background())
			if c[store.StateDone]+c[store.StateDecided] >= n {
				return time.Since(start)
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Fatalf("%d mails not decided within %v", n, within)
		return 0
	}
	raw, _ := os.ReadFile("../demo/mails/01-receita-nao-recebida.eml")
	im.Append("suporte@example.test", "INBOX", raw)
	decided(1, 10*time.Second)

	px.Blackhole(true)
	holeAt := time.Now()
	var noticed time.Duration
	for noticed == 0 && time.Since(holeAt) < 10*time.Second {
		if h := app.Health(time.Now()); h.Inboxes["suporte"].ErrAt.After(holeAt) {
			noticed = time.Since(holeAt)
		}
		time.Sleep(10 * time.Millisecond)
	}
	bound := poll + timeout + 200*time.Millisecond
	if noticed == 0 || noticed > bound {
		t.Fatalf("a silent connection noticed after %v (bound %v)", noticed, bound)
	}
	raw2, _ := os.ReadFile("../demo/mails/08-fatura.eml")
	im.Append("suporte@example.test", "INBOX", raw2) // arrives while the connection is dead
	time.Sleep(300 * time.Millisecond)
	px.Blackhole(false)
	took := decided(2, 15*time.Second)
	t.Logf("silence noticed after %v (bound %v); the mail that came meanwhile was decided %v after the network came back", noticed.Round(time.Millisecond), bound, took.Round(time.Millisecond))

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	px.Close()
	time.Sleep(200 * time.Millisecond)
	if after := runtime.NumGoroutine(); after > before+2 {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines: %d before, %d after stopping\n%s", before, after, buf[:runtime.Stack(buf, true)])
	}
}
