package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

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
	im, sm := servers(t)
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

	decided := func(n int, within time.Duration) time.Duration { return waitDecided(t, app, n, within) }
	raw, _ := os.ReadFile("../demo/mails/01-receita-nao-recebida.eml")
	im.Append("suporte@example.test", "INBOX", raw)
	decided(1, 10*time.Second)

	px.Blackhole(true)
	noticed := waitNoticed(app, "suporte", time.Now(), 10*time.Second)
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

// The SMTP connection drops after the final "." (the server has the message, triagem
// never hears its 250): the message is sent again under the same Message-ID, and the
// original is moved only after a 250 is recorded.
func TestSMTPDropAfterDataResendsSameMessageID(t *testing.T) {
	im, sm := servers(t)
	px, err := mailtest.StartProxy(sm.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	dir := t.TempDir()
	cfg, err := demo.Config(dir, im.Addr, px.Addr)
	if err != nil {
		t.Fatal(err)
	}
	cfg.SMTP.RetryBase.Duration = time.Millisecond
	app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	raw, _ := os.ReadFile("../demo/mails/08-fatura.eml")
	im.Append("suporte@example.test", "INBOX", raw)
	px.CutAfter([]byte("\r\n.\r\n"))
	sum, err := app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 0 {
		t.Fatalf("moved %d originals without a recorded 250", sum.Moved)
	}
	if n, _ := mailtest.Count(im.Addr, "suporte@example.test", "demo", "INBOX"); n != 1 {
		t.Fatalf("the original left the INBOX before its forward had a 250 (%d in INBOX)", n)
	}
	// The retry, on the next pass.
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, d := range sm.Deliveries() {
		ids[string(header(d.Data, "Message-Id"))]++
	}
	repeated := 0
	for id, n := range ids {
		if n > 1 {
			repeated++
			if !strings.HasPrefix(id, "<forward.") && !strings.HasPrefix(id, "<draft.") {
				t.Errorf("repeated %s", id)
			}
		}
	}
	if repeated != 1 {
		t.Errorf("%d Message-IDs delivered more than once (%v); want exactly the cut one", repeated, ids)
	}
	if n, _ := mailtest.Count(im.Addr, "suporte@example.test", "demo", "Triagem/Processados"); n != 1 {
		t.Errorf("after the 250, the original was not moved (%d in Processados)", n)
	}
}

// Two instances whose departments are each other's inbox: a mail loop. Each forward is
// Auto-Submitted and carries the X-Triagem marker, so the other instance ignores it on the
// first hop, and says why in its log.
func TestTwoInstancesDoNotLoop(t *testing.T) {
	im, err := mailtest.StartIMAP(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	type inst struct {
		app  *daemon.App
		smtp *mailtest.SMTP
		user string
	}
	mk := func(user, other string) inst {
		sm, err := mailtest.StartSMTP()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sm.Close() })
		im.AddUser(user, "demo")
		dir := t.TempDir()
		cfg, err := demo.Config(dir, im.Addr, sm.Addr)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Inboxes[0].User = user
		cfg.Daemon.MessageIDDomain = strings.Split(user, "@")[0] + ".triagem.example.test"
		// Every department of this instance is the other instance's inbox.
		for i := range cfg.Categories {
			if len(cfg.Categories[i].To) > 0 {
				cfg.Categories[i].To, cfg.Categories[i].Cc = []string{other}, nil
			}
		}
		app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { app.Close() })
		return inst{app, sm, user}
	}
	a := mk("a@example.test", "b@example.test")
	b := mk("b@example.test", "a@example.test")
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	im.Append(a.user, "INBOX", raw)

	// Carry each instance's mail to the other's inbox, as their mail servers would.
	delivered := map[*mailtest.SMTP]int{}
	hops := 0
	for round := 0; round < 10; round++ {
		moved := 0
		for _, pair := range [][2]inst{{a, b}, {b, a}} {
			from, to := pair[0], pair[1]
			if _, err := from.app.RunOnce(context.Background()); err != nil {
				t.Fatal(err)
			}
			ds := from.smtp.Deliveries()
			for _, d := range ds[delivered[from.smtp]:] {
				if d.Rcpts[0] == to.user {
					im.Append(to.user, "INBOX", d.Data)
					moved++
				}
			}
			delivered[from.smtp] = len(ds)
		}
		if moved == 0 {
			break
		}
		hops += moved
	}
	if hops > 2 {
		t.Fatalf("the loop ran %d hops", hops)
	}
	evs, _ := b.app.Store.Events(context.Background(), store.Filter{Type: store.EvIgnored})
	if len(evs) != 1 || !(strings.Contains(evs[0].Data, "loop marker") || strings.Contains(evs[0].Data, "Auto-Submitted")) {
		t.Fatalf("instance b did not report the loop: %v", evs)
	}
	t.Logf("the loop stopped after %d hop(s): %s", hops, evs[0].Fields()["reason"])
}

// The watched folder is deleted and recreated (a new UIDVALIDITY) with the same mail in
// it: triagem re-reads it, forwards nothing again, raises an alert, and deletes nothing.
func TestUIDValidityChange(t *testing.T) {
	e := startWith(t, func(c *config.Config) { c.Inboxes[0].Folder = "Suporte" })
	cl := func() *imapclient.Client { return imapLogin(t, e.imap.Addr, "suporte@example.test", "demo") }
	c := cl()
	if err := c.Create("Suporte", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	mails := [][]byte{}
	for _, n := range []string{"01-receita-nao-recebida", "06-cobrado-duas-vezes", "08-fatura"} {
		raw, _ := os.ReadFile("../demo/mails/" + n + ".eml")
		mails = append(mails, raw)
		e.imap.Append("suporte@example.test", "Suporte", raw)
	}
	if _, err := e.app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	sent := len(e.smtp.Deliveries())

	// Recreate the folder: a new UIDVALIDITY, and the same mail restored into it.
	c = cl()
	if err := c.Delete("Suporte").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Suporte", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, raw := range mails {
		e.imap.Append("suporte@example.test", "Suporte", raw)
	}
	sum, err := e.app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := len(e.smtp.Deliveries()); got != sent {
		t.Errorf("%d messages sent again after the UIDVALIDITY change", got-sent)
	}
	if sum.Fetched != 3 {
		t.Errorf("fetched %d after the change, want the 3 restored mails re-read", sum.Fetched)
	}
	alerts := 0
	for _, ev := range e.events(t, store.EvAlert) {
		if strings.Contains(ev.Data, "uidvalidity-changed") {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d uidvalidity alerts", alerts)
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "Triagem/Processados"); n != 6 {
		t.Errorf("Processados holds %d, want the 3 first copies and the 3 restored ones: nothing deleted", n)
	}
}

// SMTP is down while a thousand mails arrive: everything queues on disk with bounded
// memory, nothing is moved, and after recovery every message goes out, once.
func TestLongSMTPOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a thousand mails: run without -short")
	}
	e := startWith(t, func(c *config.Config) { c.SMTP.MaxAttempts = 1000 })
	sinkPort := e.app.Cfg.SMTP.Port
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	downPort := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there: connection refused, as when the server is down
	e.app.Cfg.SMTP.Port = downPort

	names := []string{"01-receita-nao-recebida", "03-apolice-valor", "06-cobrado-duas-vezes", "08-fatura", "16-videochamada"}
	const n = 1000
	for i := 0; i < n; i++ {
		raw, _ := os.ReadFile("../demo/mails/" + names[i%len(names)] + ".eml")
		raw = bytes.Replace(raw, []byte("Message-ID: <"), []byte(fmt.Sprintf("Message-ID: <outage%d-", i)), 1)
		e.imap.Append("suporte@example.test", "INBOX", raw)
	}
	var before, during runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	sum, err := e.app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&during)
	if sum.Decided != n || sum.Sent != 0 || sum.Moved != 0 {
		t.Fatalf("while down: %+v", sum)
	}
	c, _ := e.app.Store.Counts(context.Background())
	queued := c["outbox_pending"]
	if queued != 2*n {
		t.Fatalf("%d messages queued, want %d", queued, 2*n)
	}
	heap := int64(during.HeapInuse) >> 20
	if heap > 200 {
		t.Errorf("heap in use %d MB with %d queued messages: the queue must live on disk", heap, queued)
	}
	e.app.Cfg.SMTP.Port = sinkPort
	sum, err = e.app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]int{}
	for _, d := range e.smtp.Deliveries() {
		ids[string(header(d.Data, "Message-Id"))]++
	}
	if len(e.smtp.Deliveries()) != 2*n || len(ids) != 2*n || sum.Moved != n {
		t.Errorf("after recovery: %d deliveries, %d distinct, %d moved (%+v)", len(e.smtp.Deliveries()), len(ids), sum.Moved, sum)
	}
	t.Logf("%d mails during the outage: %d messages queued, heap in use %d MB; all delivered once after recovery", n, queued, heap)
}

// waitDecided waits until n mails are decided and returns how long that took.
func waitDecided(t *testing.T, app *daemon.App, n int, within time.Duration) time.Duration {
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

// waitNoticed is how long after since the daemon's health first shows an error on inbox;
// 0 when it does not within the given time.
func waitNoticed(app *daemon.App, inbox string, since time.Time, within time.Duration) time.Duration {
	for time.Since(since) < within {
		if h := app.Health(time.Now()); h.Inboxes[inbox].ErrAt.After(since) {
			return time.Since(since)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0
}

// imapLogin is a plain IMAP client logged in as user, closed when the test ends.
func imapLogin(t *testing.T, addr, user, password string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// servers starts the in-process IMAP server (with the demo user) and SMTP sink.
func servers(t *testing.T) (*mailtest.IMAP, *mailtest.SMTP) {
	t.Helper()
	return mailtest.StartServers(t, nil, "suporte@example.test", "demo")
}
