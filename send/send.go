// Package send delivers serialized messages to the SMTP submission server with go-mail,
// keeping one connection open between messages and telling temporary from permanent errors.
package send

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/triagem/triagem/config"
)

// Error is a failed delivery with the server's reply line, when there was one.
type Error struct {
	Code      int    // SMTP reply code, 0 when the connection failed
	Line      string // the server's reply, or the network error
	Permanent bool   // 5xx: retrying will not help
}

func (e *Error) Error() string {
	if e.Code > 0 {
		return fmt.Sprintf("%d %s", e.Code, e.Line)
	}
	return e.Line
}

// Sender is one SMTP session, opened on first use and reused until it fails.
// It is not safe for concurrent use: each sending goroutine owns its own.
type Sender struct {
	cfg      config.SMTP
	password string
	helo     string
	gm       *gomail.Client
	conn     *smtp.Client
	in, out  []byte // scratch for DATA content
}

// New prepares a sender; it does not connect yet.
func New(cfg config.SMTP, helo string) (*Sender, error) {
	pw, err := cfg.Password()
	if err != nil {
		return nil, fmt.Errorf("smtp password: %w", err)
	}
	// Never SMTPUTF8: our headers are RFC 2047-encoded, and an attached original's 8-bit
	// bytes are body content (8BITMIME). Asking for SMTPUTF8 makes Postfix bounce a message
	// later when the next hop (Dovecot's LMTP, many MX) does not offer it.
	opts := []gomail.Option{gomail.WithPort(cfg.Port), gomail.WithTimeout(cfg.Timeout.Duration), gomail.WithHELO(helo), gomail.WithoutSMTPUTF8()}
	switch cfg.TLS {
	case "implicit":
		opts = append(opts, gomail.WithSSL())
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // plain, allowed by config only on loopback
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if cfg.User != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(cfg.User), gomail.WithPassword(pw))
	}
	gm, err := gomail.NewClient(cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp client for %s: %w", cfg.Host, err)
	}
	return &Sender{cfg: cfg, password: pw, helo: helo, gm: gm, in: make([]byte, 16<<10)}, nil
}

// Send delivers one message and returns the server's acceptance line. A failure is an
// *Error; anything unclassified counts as temporary, so it is retried, never dropped.
func (s *Sender) Send(ctx context.Context, envFrom string, rcpts []string, body io.Reader) (string, error) {
	if err := s.connect(ctx); err != nil {
		return "", err
	}
	// Cancelling closes this session's connection. Captured here: drop may clear s.conn
	// while the callback runs.
	conn := s.conn
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	reply, err := s.transaction(envFrom, rcpts, body)
	if err != nil {
		var se *Error
		if !errors.As(err, &se) || se.Code == 0 || se.Code == 421 {
			s.drop() // the session is unusable
		} else if s.conn == nil || s.conn.Reset() != nil {
			s.drop() // dropped already, mid-transaction, or the reset failed
		}
		if ctx.Err() != nil && (se == nil || se.Code == 0) {
			return "", &Error{Line: "cancelled: " + ctx.Err().Error()}
		}
		return "", err
	}
	return reply, nil
}

// transaction is one message: MAIL, a RCPT for each recipient and DATA, then the content.
// When the server offers PIPELINING (RFC 2920), the commands go out together and their
// replies are read in order: two round trips a message instead of three or more, for us
// and for the server.
func (s *Sender) transaction(envFrom string, rcpts []string, body io.Reader) (string, error) {
	timeout := s.cfg.Timeout.Duration
	c := s.conn
	if err := c.UpdateDeadline(timeout); err != nil {
		return "", classify(err)
	}
	for _, a := range append([]string{envFrom}, rcpts...) {
		if strings.ContainsAny(a, "\r\n<>") {
			return "", &Error{Line: fmt.Sprintf("address %q cannot go into an SMTP command", a)}
		}
	}
	mail := "MAIL FROM:<" + envFrom + ">"
	if ok, _ := c.Extension("8BITMIME"); ok {
		mail += " BODY=8BITMIME"
	}
	cmds := make([]command, 0, len(rcpts)+2)
	cmds = append(cmds, command{mail, 250})
	for _, r := range rcpts {
		cmds = append(cmds, command{"RCPT TO:<" + r + ">", 25})
	}
	cmds = append(cmds, command{"DATA", 354})
	pipelining, _ := c.Extension("PIPELINING")
	if err := s.commands(cmds, pipelining); err != nil {
		return "", err
	}
	// A large message may take longer than one command's timeout to transmit.
	if err := c.UpdateDeadline(timeout + 10*time.Minute); err != nil {
		return "", classify(err)
	}
	var err error
	if s.out, err = writeData(c.Text.W, body, s.in, s.out); err != nil {
		return "", classify(err) // a half-sent message: Send drops the connection
	}
	if len(s.out) > 4*dataChunk {
		s.out = nil // a rare big message does not pin its buffer
	}
	if err := c.UpdateDeadline(timeout); err != nil {
		return "", classify(err)
	}
	_, msg, err := c.Text.ReadResponse(250)
	if err != nil {
		return "", classify(err)
	}
	return "250 " + msg, nil
}

// command is one SMTP command and the reply code (or its first digits) that accepts it.
type command struct {
	line string
	want int
}

// commands sends cmds, the last of them DATA, and reads their replies. Pipelined, every
// reply is read, and the first refusal is the answer. If DATA was accepted even so (a
// refused recipient among accepted ones), the server now waits for content that must not
// come: the connection is dropped, which abandons the transaction.
func (s *Sender) commands(cmds []command, pipelining bool) error {
	t := s.conn.Text
	if !pipelining {
		for _, cmd := range cmds {
			if err := t.PrintfLine("%s", cmd.line); err != nil {
				return classify(err)
			}
			if _, _, err := t.ReadResponse(cmd.want); err != nil {
				return classify(err)
			}
		}
		return nil
	}
	for _, cmd := range cmds {
		t.W.WriteString(cmd.line)
		t.W.WriteString("\r\n")
	}
	if err := t.W.Flush(); err != nil {
		return classify(err)
	}
	var refused error
	for i, cmd := range cmds {
		_, _, err := t.ReadResponse(cmd.want)
		var tp *textproto.Error
		switch {
		case err == nil && i == len(cmds)-1 && refused != nil:
			s.drop()
		case err == nil:
		case !errors.As(err, &tp):
			return classify(err) // the connection failed
		case refused == nil:
			refused = classify(err)
		}
	}
	return refused
}

func (s *Sender) connect(ctx context.Context) error {
	if s.conn != nil {
		return nil
	}
	c, err := s.gm.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return classify(err)
	}
	s.conn = c
	return nil
}

func (s *Sender) drop() {
	if s.conn != nil {
		_ = s.conn.Close()
		s.conn = nil
	}
}

// Close ends the session politely.
func (s *Sender) Close() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.Quit()
	s.drop()
	if err != nil && !strings.Contains(err.Error(), "closed") {
		return fmt.Errorf("smtp quit: %w", err)
	}
	return nil
}

// classify keeps the server's reply line and whether it is permanent. The password is
// never part of any error: go-mail redacts AUTH exchanges.
func classify(err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &Error{Code: tp.Code, Line: tp.Msg, Permanent: tp.Code >= 500 && tp.Code < 600}
	}
	var se *Error
	if errors.As(err, &se) {
		return se
	}
	return &Error{Line: err.Error()}
}
