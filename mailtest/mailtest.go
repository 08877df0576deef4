// Package mailtest runs in-process IMAP (go-imap's imapmemserver) and SMTP (go-smtp)
// servers on loopback, for the demo and the fast tests.
package mailtest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-smtp"
)

// IMAP is an in-memory IMAP server.
type IMAP struct {
	Addr  string
	mem   *imapmemserver.Server
	srv   *imapserver.Server
	users map[string]*imapmemserver.User
	done  chan struct{}
}

// StartIMAP listens on 127.0.0.1 at a free port. caps nil means MOVE, UIDPLUS and IDLE.
func StartIMAP(caps imap.CapSet) (*IMAP, error) {
	if caps == nil {
		caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}, imap.CapIdle: {}}
	}
	mem := imapmemserver.New()
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &IMAP{Addr: ln.Addr().String(), mem: mem, srv: srv, users: map[string]*imapmemserver.User{}, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// AddUser creates a user with an INBOX.
func (s *IMAP) AddUser(name, password string) error {
	u := imapmemserver.NewUser(name, password)
	if err := u.Create("INBOX", nil); err != nil {
		return err
	}
	s.mem.AddUser(u)
	s.users[name] = u
	return nil
}

type literal struct {
	*bytes.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// Append puts raw into the user's folder, as a delivery would.
func (s *IMAP) Append(user, folder string, raw []byte) error {
	u := s.users[user]
	if u == nil {
		return fmt.Errorf("no user %s", user)
	}
	_, err := u.Append(folder, literal{bytes.NewReader(raw), int64(len(raw))}, &imap.AppendOptions{})
	return err
}

// Close stops the server.
func (s *IMAP) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// Count returns how many messages the folder of user holds, read over IMAP.
func Count(addr, user, password, folder string) (int, error) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if err := c.Login(user, password).Wait(); err != nil {
		return 0, err
	}
	st, err := c.Status(folder, &imap.StatusOptions{NumMessages: true}).Wait()
	if err != nil {
		return 0, err
	}
	return int(*st.NumMessages), nil
}

// StartServers starts an in-process IMAP server offering caps (nil for the defaults) with
// one user, and an SMTP sink; both stop when the test ends.
func StartServers(t testing.TB, caps imap.CapSet, user, password string) (*IMAP, *SMTP) {
	t.Helper()
	im, err := StartIMAP(caps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { im.Close() })
	sm, err := StartSMTP()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sm.Close() })
	if err := im.AddUser(user, password); err != nil {
		t.Fatal(err)
	}
	return im, sm
}

// Delivery is one message the SMTP sink accepted.
type Delivery struct {
	From  string
	Rcpts []string
	Data  []byte
	// Session numbers the SMTP connection that carried it, from 1.
	Session int
}

// SMTP is an SMTP server that keeps what it accepts in memory. FailTo scripts refusals.
type SMTP struct {
	Addr string
	srv  *smtp.Server
	done chan struct{}

	mu         sync.Mutex
	sessions   int
	deliveries []Delivery
	failsTo    map[string][]*smtp.SMTPError
	refused    map[string]*smtp.SMTPError
}

// StartSMTP listens on 127.0.0.1 at a free port.
func StartSMTP() (*SMTP, error) {
	s := &SMTP{done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sessions++
		return &session{s: s, n: s.sessions}, nil
	}))
	srv.Domain = "sink.example.test"
	srv.AllowInsecureAuth = true
	srv.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.Addr, s.srv = ln.Addr().String(), srv
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Deliveries returns a copy of everything accepted so far.
func (s *SMTP) Deliveries() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.deliveries...)
}

// Close stops the server.
func (s *SMTP) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// FailTo makes the next len(codes) messages to rcpt answer with these codes at DATA,
// whichever of several parallel sessions carries them.
func (s *SMTP) FailTo(rcpt string, codes ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failsTo == nil {
		s.failsTo = map[string][]*smtp.SMTPError{}
	}
	rcpt = strings.ToLower(rcpt)
	for _, c := range codes {
		s.failsTo[rcpt] = append(s.failsTo[rcpt], &smtp.SMTPError{Code: c, EnhancedCode: smtp.EnhancedCodeNotSet, Message: fmt.Sprintf("scripted failure %d", c)})
	}
}

// RefuseRcpt makes every RCPT to rcpt answer with code, until the sink closes.
func (s *SMTP) RefuseRcpt(rcpt string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused == nil {
		s.refused = map[string]*smtp.SMTPError{}
	}
	s.refused[strings.ToLower(rcpt)] = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCodeNotSet, Message: fmt.Sprintf("scripted refusal %d", code)}
}

type session struct {
	s     *SMTP
	n     int
	from  string
	rcpts []string
}

func (ss *session) Reset()        { ss.from, ss.rcpts = "", nil }
func (ss *session) Logout() error { return nil }
func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	refusal := ss.s.refused[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if refusal != nil {
		return refusal
	}
	ss.rcpts = append(ss.rcpts, strings.ToLower(to))
	return nil
}
func (ss *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	for _, r := range ss.rcpts {
		if fs := ss.s.failsTo[r]; len(fs) > 0 {
			ss.s.failsTo[r] = fs[1:]
			return fs[0]
		}
	}
	ss.s.deliveries = append(ss.s.deliveries, Delivery{From: ss.from, Rcpts: append([]string(nil), ss.rcpts...), Data: b, Session: ss.n})
	return nil
}
