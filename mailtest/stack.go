package mailtest

import (
	"bufio"
	"fmt"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
)

// Stack is a real Dovecot + Postfix started by scripts/mailstack.sh.
type Stack struct {
	IMAPAddr, SMTPAddr, Domain, Password, Dir string
}

// RealStack returns the stack named by $TRIAGEM_STACK. Without it the test is skipped with
// the reason, except under CI, where a missing stack is a failure.
func RealStack(t testing.TB) *Stack {
	t.Helper()
	path := os.Getenv("TRIAGEM_STACK")
	if path == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI=true but TRIAGEM_STACK is not set: run the suite with scripts/test.sh, which starts Dovecot and Postfix")
		}
		t.Skip("real Dovecot + Postfix not running: scripts/test.sh starts them (needs root for the first install)")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("TRIAGEM_STACK=%s: %v", path, err)
	}
	defer f.Close()
	s := &Stack{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "IMAP_ADDR":
			s.IMAPAddr = v
		case "SMTP_ADDR":
			s.SMTPAddr = v
		case "DOMAIN":
			s.Domain = v
		case "PASSWORD":
			s.Password = v
		case "DIR":
			s.Dir = v
		}
	}
	if s.IMAPAddr == "" || s.SMTPAddr == "" {
		t.Fatalf("%s does not name IMAP_ADDR and SMTP_ADDR", path)
	}
	return s
}

// WaitQueueEmpty waits until Postfix has handed every message on to Dovecot, so that one
// measurement does not pay for the deliveries left over from the one before.
func (s *Stack) WaitQueueEmpty(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		n := s.Queued("maildrop", "incoming", "active", "deferred", "hold")
		if n == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postfix still holds %d messages after %v", n, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Queued counts the messages in the named queues of the stack's Postfix.
func (s *Stack) Queued(queues ...string) int {
	n := 0
	for _, q := range queues {
		filepath.WalkDir(filepath.Join(s.Dir, "postfix-queue", q), func(_ string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
	}
	return n
}

// HoldDeliveries makes Postfix keep every message it accepts from now on in its hold
// queue, instead of delivering it into Dovecot, until ReleaseDeliveries. The load harness
// uses it so that a timed run pays for SMTP acceptance alone, as its ceiling does: without
// it, the deliveries of a longer run fall inside it and compete for the cores, while the
// ceiling's are left for after its end (docs/PERFORMANCE.md).
func (s *Stack) HoldDeliveries() error {
	return s.postfix("postconf", "-e", "smtpd_end_of_data_restrictions = check_client_access static:HOLD")
}

// ReleaseDeliveries undoes HoldDeliveries and hands every held message on for delivery;
// WaitQueueEmpty then waits for it.
func (s *Stack) ReleaseDeliveries() error {
	if err := s.postfix("postconf", "-X", "smtpd_end_of_data_restrictions"); err != nil {
		return err
	}
	cfg := filepath.Join(s.Dir, "postfix")
	for _, args := range [][]string{{"postsuper", "-c", cfg, "-H", "ALL"}, {"postqueue", "-c", cfg, "-f"}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// postfix changes the stack's Postfix configuration with postconf and reloads it, so that
// the next SMTP session sees the change.
func (s *Stack) postfix(args ...string) error {
	cfg := filepath.Join(s.Dir, "postfix")
	for _, a := range [][]string{append([]string{args[0], "-c", cfg}, args[1:]...), {"postfix", "-c", cfg, "reload"}} {
		if out, err := exec.Command(a[0], a[1:]...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s (the stack needs root to change Postfix)", strings.Join(a, " "), err, out)
		}
	}
	return nil
}

// Deliver submits raw to Postfix for rcpt, as a customer's mail server would: with
// BODY=8BITMIME, and SMTPUTF8 only for a non-ASCII envelope address. (net/smtp asks for
// SMTPUTF8 whenever the server offers it; Postfix then demands it downstream from
// Dovecot's LMTP, which does not offer it, and bounces mail with 8-bit headers.)
func (s *Stack) Deliver(from, rcpt string, raw []byte) error {
	conn, err := net.Dial("tcp", s.SMTPAddr)
	if err != nil {
		return err
	}
	defer conn.Close()
	tp := textproto.NewConn(conn)
	expect := func(code int) error {
		_, _, err := tp.ReadResponse(code)
		return err
	}
	cmd := func(code int, format string, args ...any) error {
		if _, err := tp.Cmd(format, args...); err != nil {
			return err
		}
		return expect(code)
	}
	if err := expect(220); err != nil {
		return err
	}
	if err := cmd(250, "EHLO sender.example.test"); err != nil {
		return err
	}
	mailCmd := "MAIL FROM:<%s> BODY=8BITMIME"
	if needsUTF8(from + rcpt) {
		mailCmd += " SMTPUTF8"
	}
	if err := cmd(250, mailCmd, from); err != nil {
		return err
	}
	if err := cmd(250, "RCPT TO:<%s>", rcpt); err != nil {
		return err
	}
	if err := cmd(354, "DATA"); err != nil {
		return err
	}
	w := tp.DotWriter()
	if _, err := w.Write(raw); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := expect(250); err != nil {
		return err
	}
	return cmd(221, "QUIT")
}

// needsUTF8 reports a non-ASCII envelope address.
func needsUTF8(addrs string) bool {
	for i := 0; i < len(addrs); i++ {
		if addrs[i] >= 0x80 {
			return true
		}
	}
	return false
}

// Messages returns the raw messages in a user's folder (nil when the folder does not exist).
func (s *Stack) Messages(user, folder string) ([][]byte, error) {
	return FetchAll(s.IMAPAddr, user, s.Password, folder)
}

// FetchAll reads every message of a folder over plain IMAP (loopback tests only).
func FetchAll(addr, user, password, folder string) ([][]byte, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return nil, fmt.Errorf("login %s: %w", user, err)
	}
	sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "exist") {
			return nil, nil
		}
		return nil, err
	}
	if sel.NumMessages == 0 {
		return nil, nil
	}
	var set imap.SeqSet
	set.AddRange(1, 0)
	msgs, err := c.Fetch(set, &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Peek: true}}}).Collect()
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, m := range msgs {
		for _, b := range m.BodySection {
			out = append(out, b.Bytes)
		}
	}
	return out, nil
}

// Append stores raw in a user's folder directly (faster than SMTP for a big backlog).
func (s *Stack) Append(user, folder string, raw []byte) error {
	c, err := imapclient.DialInsecure(s.IMAPAddr, nil)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Login(user, s.Password).Wait(); err != nil {
		return err
	}
	cmd := c.Append(folder, int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		return err
	}
	if err := cmd.Close(); err != nil {
		return err
	}
	_, err = cmd.Wait()
	return err
}

// Config is the shipped configuration moved onto this stack for one test: every address
// becomes local-tag@domain, so runs never see each other's mail; one inbox, "support",
// read at imapAddr (the stack's own IMAP when "", or a proxy, or another listener); plain
// SMTP without login; state_dir in dir/state, and the IMAP password in a file in dir.
// inbox is the inbox's address.
func (s *Stack) Config(t testing.TB, tag, imapAddr, dir string) (cfg *config.Config, inbox string) {
	t.Helper()
	cfg, err := config.Parse("config.toml (embedded)", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RewriteAddresses(func(local, _ string) string { return local + "-" + tag + "@" + s.Domain })
	pw := filepath.Join(dir, "imap.pass")
	if err := os.WriteFile(pw, []byte(s.Password), 0o600); err != nil {
		t.Fatal(err)
	}
	if imapAddr == "" {
		imapAddr = s.IMAPAddr
	}
	inbox = "support-" + tag + "@" + s.Domain
	host, port := HostPort(t, imapAddr)
	cfg.Inboxes = []config.Inbox{{Name: "support", Host: host, Port: port, TLS: "plain", User: inbox, Folder: "INBOX",
		Credentials: config.Credentials{PasswordFile: pw}}}
	cfg.SMTP.Host, cfg.SMTP.Port = HostPort(t, s.SMTPAddr)
	cfg.SMTP.TLS, cfg.SMTP.User, cfg.SMTP.Credentials = "plain", "", config.Credentials{}
	cfg.Daemon.StateDir = filepath.Join(dir, "state")
	cfg.Daemon.MessageIDDomain = "triagem-" + tag + ".example.test"
	cfg.Web.Listen = "" // several daemons run one after another; the page is tested in web/
	return cfg, inbox
}

// HostPort splits a loopback "host:port" address.
func HostPort(t testing.TB, addr string) (string, int) {
	t.Helper()
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("port of %s: %v", addr, err)
	}
	return host, port
}
