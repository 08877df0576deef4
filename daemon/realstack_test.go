package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/store"
)

// realApp is a daemon on the real Dovecot + Postfix, reaching IMAP at imapAddr (a proxy,
// or the 127.0.0.2 listener that hides MOVE and UIDPLUS).
func realApp(t *testing.T, st *mailtest.Stack, imapAddr string, mod func(*config.Config)) (*daemon.App, string) {
	t.Helper()
	tag := fmt.Sprintf("d%d", rand.IntN(1_000_000))
	cfg, inbox := st.Config(t, tag, imapAddr, t.TempDir())
	if mod != nil {
		mod(cfg)
	}
	app, err := daemon.Open(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app, inbox
}

// Dovecot with MOVE hidden (its 127.0.0.3 listener: COPY + \Deleted + UID EXPUNGE), and
// with MOVE and UIDPLUS hidden (127.0.0.2: COPY + a keyword). Routing still works, no plain
// EXPUNGE is ever sent, and a message someone else flagged \Deleted survives.
func TestRealDovecotWithoutMOVEAndUIDPLUS(t *testing.T) {
	for _, c := range []struct{ host, how string }{{"127.0.0.3", "copy+uid-expunge"}, {"127.0.0.2", "copy+keyword"}} {
		t.Run(c.how, func(t *testing.T) { realFallback(t, c.host, c.how) })
	}
}

func realFallback(t *testing.T, host, wantHow string) {
	st := mailtest.RealStack(t)
	_, port := mailtest.HostPort(t, st.IMAPAddr)
	px, err := mailtest.StartProxy(fmt.Sprintf("%s:%d", host, port))
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	app, inbox := realApp(t, st, px.Addr, nil)
	// Another client's message, flagged \Deleted and not yet expunged by its owner, from
	// before triagem's checkpoint: triagem must leave it exactly as it is.
	c := imapLogin(t, st.IMAPAddr, inbox, st.Password)
	foreign := []byte("From: someone@example.test\r\nSubject: foreign\r\nMessage-ID: <foreign@x.example.test>\r\n\r\nnot ours\r\n")
	ap := c.Append("INBOX", int64(len(foreign)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDeleted}})
	ap.Write(foreign)
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Store.Tx(context.Background(), func(tx *store.Tx) error {
		return tx.SetCheckpoint("support", "INBOX", sel.UIDValidity, uint32(sel.UIDNext)-1)
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"01-receita-nao-recebida", "06-cobrado-duas-vezes", "08-fatura"} {
		raw, _ := os.ReadFile("../demo/mails/" + n + ".eml")
		if err := st.Append(inbox, "INBOX", raw); err != nil {
			t.Fatal(err)
		}
	}

	sum, err := app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Fetched != 3 || sum.Moved != 3 || sum.Failed != 0 {
		t.Errorf("summary %+v", sum)
	}
	plain := regexp.MustCompile(`(?im)^\S+ EXPUNGE\b`)
	if plain.Match(px.Sent()) {
		t.Errorf("a plain EXPUNGE was sent:\n%s", px.Sent())
	}
	evs, _ := app.Store.Events(context.Background(), store.Filter{Type: store.EvMoved})
	hows := map[string]int{}
	for _, e := range evs {
		hows[fmt.Sprint(e.Fields()["how"])]++
	}
	if hows[wantHow] == 0 || hows["move"] != 0 {
		t.Errorf("moves without MOVE and UIDPLUS: %v", hows)
	}
	// The foreign message is still there, still flagged.
	sel, err = c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	if sel.NumMessages > 0 {
		msgs, err := c.Fetch(imap.SeqSetNum(1, sel.NumMessages), &imap.FetchOptions{Envelope: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.Envelope != nil && m.Envelope.Subject == "foreign" {
				for _, f := range m.Flags {
					found = found || f == imap.FlagDeleted
				}
			}
		}
	}
	if !found {
		t.Error("the foreign \\Deleted message did not survive")
	}
	t.Logf("moves: %v; commands sent: no plain EXPUNGE; the foreign \\Deleted message survived", hows)
}

// The real Dovecot connection goes silent during IDLE: noticed within the keepalive bound,
// and mail that arrived meanwhile is handled after the reconnect.
func TestRealDovecotBlackholedIDLE(t *testing.T) {
	st := mailtest.RealStack(t)
	px, err := mailtest.StartProxy(st.IMAPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	const poll, timeout = 500 * time.Millisecond, 500 * time.Millisecond
	app, inbox := realApp(t, st, px.Addr, func(c *config.Config) {
		c.Daemon.PollInterval.Duration, c.Daemon.IMAPTimeout.Duration = poll, timeout
	})
	goroutines := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stopped := false
	defer func() {
		if !stopped {
			cancel()
			<-done
		}
	}()
	decided := func(n int, within time.Duration) time.Duration { return waitDecided(t, app, n, within) }
	raw, _ := os.ReadFile("../demo/mails/01-receita-nao-recebida.eml")
	st.Deliver("c@"+st.Domain, inbox, raw)
	pushed := decided(1, 20*time.Second)
	px.Blackhole(true)
	noticed := waitNoticed(app, "support", time.Now(), 15*time.Second)
	bound := poll + timeout + 300*time.Millisecond
	if noticed == 0 || noticed > bound {
		t.Fatalf("the silent connection was noticed after %v (bound %v)", noticed, bound)
	}
	raw2, _ := os.ReadFile("../demo/mails/08-fatura.eml")
	st.Deliver("c@"+st.Domain, inbox, raw2)
	time.Sleep(500 * time.Millisecond)
	px.Blackhole(false)
	after := decided(2, 20*time.Second)
	cancel()
	<-done
	stopped = true
	px.Close()
	time.Sleep(200 * time.Millisecond)
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		t.Errorf("goroutines: %d before, %d after the daemon stopped", goroutines, n)
	}
	t.Logf("first mail decided %v after delivery; silence noticed after %v (bound %v); the mail that came meanwhile was decided %v after the network came back",
		pushed.Round(time.Millisecond), noticed.Round(time.Millisecond), bound, after.Round(time.Millisecond))
}

// Real Postfix behind the proxy: the connection is cut after the final "." (Postfix has
// queued the forward; triagem never hears the 250). The forward is sent again under its
// Message-ID, and the original moves only after a recorded 250.
func TestRealPostfixCutAfterDot(t *testing.T) {
	st := mailtest.RealStack(t)
	px, err := mailtest.StartProxy(st.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	app, inbox := realApp(t, st, st.IMAPAddr, func(c *config.Config) {
		c.SMTP.Host, c.SMTP.Port = mailtest.HostPort(t, px.Addr)
		c.SMTP.RetryBase.Duration = time.Millisecond
		c.SMTP.Connections = 1 // the forward goes first, so it is the message cut
	})
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	if err := st.Append(inbox, "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	px.CutAfter([]byte("\r\n.\r\n"))
	sum, err := app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if sum.Moved != 0 {
		t.Fatalf("moved before a 250: %+v", sum)
	}
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	dept := app.Cfg.Category("refund").To[0] // medico.online-TAG@…
	var got [][]byte
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if got, _ = st.Messages(dept, "INBOX"); len(got) >= 2 {
			break
		}
	}
	ids := map[string]bool{}
	mid := regexp.MustCompile(`(?mi)^Message-Id:\s*(\S+)`)
	for _, m := range got {
		if x := mid.FindSubmatch(m); x != nil {
			ids[string(x[1])] = true
		}
	}
	if len(got) != 2 || len(ids) != 1 {
		t.Errorf("the department got %d copies under %d Message-IDs, want 2 copies of one", len(got), len(ids))
	}
	if n, _ := st.Messages(inbox, "Triagem/Processados"); len(n) != 1 {
		t.Errorf("the original was not moved after the 250 (%d in Processados)", len(n))
	}
}

// The real folder is deleted and recreated with the same mail in it (a new UIDVALIDITY):
// nothing is forwarded again, an alert is raised, and nothing is deleted.
func TestRealDovecotUIDValidityChange(t *testing.T) {
	st := mailtest.RealStack(t)
	app, inbox := realApp(t, st, st.IMAPAddr, func(c *config.Config) { c.Inboxes[0].Folder = "Suporte" })
	c := imapLogin(t, st.IMAPAddr, inbox, st.Password)
	c.Create("Suporte", nil).Wait()
	var mails [][]byte
	for _, n := range []string{"01-receita-nao-recebida", "08-fatura"} {
		raw, _ := os.ReadFile("../demo/mails/" + n + ".eml")
		mails = append(mails, raw)
		st.Append(inbox, "Suporte", raw)
	}
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	before, _ := app.Store.AllOutbox(context.Background())
	if err := c.Delete("Suporte").Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Create("Suporte", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for _, raw := range mails {
		st.Append(inbox, "Suporte", raw)
	}
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	after, _ := app.Store.AllOutbox(context.Background())
	if len(after) != len(before) {
		t.Errorf("%d messages queued again after the UIDVALIDITY change", len(after)-len(before))
	}
	evs, _ := app.Store.Events(context.Background(), store.Filter{Type: store.EvAlert})
	if len(evs) != 1 || !strings.Contains(evs[0].Data, "uidvalidity-changed") {
		t.Errorf("alerts: %v", evs)
	}
	if m, _ := st.Messages(inbox, "Triagem/Processados"); len(m) != 4 {
		t.Errorf("Processados holds %d, want all 4 copies: nothing deleted", len(m))
	}
}

// Real Postfix refuses a recipient permanently (550 5.1.1, the stack's bounce-me address):
// the forward is parked, visible in the log with an alert, and the original stays in the
// INBOX; the other outgoing mail of the case still goes.
func TestRealPostfixPermanentFailureIsParked(t *testing.T) {
	st := mailtest.RealStack(t)
	app, inbox := realApp(t, st, st.IMAPAddr, func(c *config.Config) {
		c.Category("refund").To = []string{"bounce-me@" + st.Domain}
	})
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	if err := st.Append(inbox, "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	sum, err := app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ob, _ := app.Store.AllOutbox(context.Background())
	parked := 0
	for _, o := range ob {
		if o.State == store.OutParked {
			parked++
			if !strings.HasPrefix(o.LastReply, "5") && !strings.Contains(o.LastReply, "550") {
				t.Errorf("parked with reply %q", o.LastReply)
			}
		}
	}
	alerts, _ := app.Store.Events(context.Background(), store.Filter{Type: store.EvAlert})
	failed, _ := app.Store.Events(context.Background(), store.Filter{Type: store.EvFailed})
	if parked != 1 || len(alerts) != 1 || len(failed) != 1 || sum.Failed != 1 {
		t.Errorf("parked %d, alerts %d, failed events %d, summary %+v", parked, len(alerts), len(failed), sum)
	}
	t.Logf("550 from Postfix: %s", ob[0].LastReply)
}

// The same mail reaches two watched inboxes (a customer wrote to both): forwarded once, by
// Message-ID, and the second copy is logged as a duplicate.
func TestRealDovecotSameMailInTwoInboxes(t *testing.T) {
	st := mailtest.RealStack(t)
	var second string
	app, inbox := realApp(t, st, st.IMAPAddr, func(c *config.Config) {
		in := c.Inboxes[0]
		in.Name, in.User = "other", "other-"+in.User
		second = in.User
		c.Inboxes = append(c.Inboxes, in)
	})
	raw, _ := os.ReadFile("../demo/mails/08-fatura.eml")
	st.Deliver("c@"+st.Domain, inbox, raw)
	st.Deliver("c@"+st.Domain, second, raw)
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		a, _ := st.Messages(inbox, "INBOX")
		b, _ := st.Messages(second, "INBOX")
		if len(a) == 1 && len(b) == 1 {
			break
		}
	}
	if _, err := app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	ob, _ := app.Store.AllOutbox(context.Background())
	forwards := 0
	for _, o := range ob {
		if o.Kind == "forward" {
			forwards++
		}
	}
	dups, _ := app.Store.Events(context.Background(), store.Filter{Type: store.EvDuplicate})
	if forwards != 1 || len(dups) != 1 {
		t.Errorf("%d forwards and %d duplicate events for one mail in two inboxes", forwards, len(dups))
	}
}

// Two instances on the real stack whose departments are each other's inbox: Postfix
// carries each one's forward to the other, which ignores it on the first hop.
func TestRealStackTwoInstancesDoNotLoop(t *testing.T) {
	st := mailtest.RealStack(t)
	var aInbox, bInbox string
	pre := fmt.Sprintf("loop%d", rand.IntN(1_000_000))
	aInbox, bInbox = pre+"-a@"+st.Domain, pre+"-b@"+st.Domain
	point := func(self, other string) func(*config.Config) {
		return func(c *config.Config) {
			c.Inboxes[0].User = self
			for i := range c.Categories {
				if len(c.Categories[i].To) > 0 {
					c.Categories[i].To, c.Categories[i].Cc = []string{other}, nil
				}
			}
		}
	}
	a, _ := realApp(t, st, st.IMAPAddr, point(aInbox, bInbox))
	b, _ := realApp(t, st, st.IMAPAddr, point(bInbox, aInbox))
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	st.Deliver("c@"+st.Domain, aInbox, raw)
	time.Sleep(500 * time.Millisecond)
	hops := 0
	for round := 0; round < 6; round++ {
		sa, _ := a.RunOnce(context.Background())
		time.Sleep(400 * time.Millisecond) // Postfix hands the forward to Dovecot
		sb, _ := b.RunOnce(context.Background())
		time.Sleep(400 * time.Millisecond)
		hops += sa.Sent + sb.Sent
		if sa.Fetched+sb.Fetched == 0 {
			break
		}
	}
	evs, _ := b.Store.Events(context.Background(), store.Filter{Type: store.EvIgnored})
	aIgnored, _ := a.Store.Events(context.Background(), store.Filter{Type: store.EvIgnored})
	if len(evs) != 1 || len(aIgnored) != 0 {
		t.Errorf("b ignored %d, a ignored %d; want b to stop the loop at once", len(evs), len(aIgnored))
	}
	if hops > 3 {
		t.Errorf("%d messages sent in all: the loop went on", hops)
	}
	if len(evs) == 1 {
		t.Logf("stopped at the first hop: %s", evs[0].Fields()["reason"])
	}
}

// Postfix is unreachable while mail arrives (CI: 200 mails; TRIAGEM_SOAK=1: 2,000): the
// outbox grows on disk with little memory, nothing moves, and after recovery every
// forward reaches the real department mailbox once.
func TestRealStackLongSMTPOutage(t *testing.T) {
	st := mailtest.RealStack(t)
	n := 200
	if os.Getenv("TRIAGEM_SOAK") != "" {
		n = 2000
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := l.Addr().(*net.TCPAddr).Port
	l.Close()
	app, inbox := realApp(t, st, st.IMAPAddr, func(c *config.Config) {
		c.SMTP.Port = down
		c.SMTP.MaxAttempts = 1000
		c.Team.Agents = nil // forwards only: one message per mail
	})
	raw, _ := os.ReadFile("../demo/mails/06-cobrado-duas-vezes.eml")
	for i := 0; i < n; i++ {
		r := bytes.Replace(raw, []byte("Message-ID: <"), []byte(fmt.Sprintf("Message-ID: <outage%d-", i)), 1)
		if err := st.Append(inbox, "INBOX", r); err != nil {
			t.Fatal(err)
		}
	}
	var m runtime.MemStats
	sum, err := app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m)
	if sum.Decided != n || sum.Sent != 0 || sum.Moved != 0 {
		t.Fatalf("while Postfix is down: %+v", sum)
	}
	app.Cfg.SMTP.Port = func() int { _, p := mailtest.HostPort(t, st.SMTPAddr); return p }()
	start := time.Now()
	sum, err = app.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dept := app.Cfg.Category("refund").To[0]
	var got [][]byte
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got, _ = st.Messages(dept, "INBOX"); len(got) >= n {
			break
		}
	}
	if len(got) != n || sum.Sent != n || sum.Moved != n {
		t.Errorf("after recovery: %d forwards in the mailbox, summary %+v", len(got), sum)
	}
	t.Logf("%d mails while Postfix was down: %d queued, heap in use %d MB; after recovery all sent in %v and in the mailbox",
		n, n, m.HeapInuse>>20, time.Since(start).Round(time.Millisecond))
}
