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
	return &Sender{cfg: cfg, password: pw, helo: helo, gm: gm}, nil
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
		} else if rerr := s.conn.Reset(); rerr != nil {
			s.drop()
		}
		if ctx.Err() != nil && (se == nil || se.Code == 0) {
			return "", &Error{Line: "cancelled: " + ctx.Err().Error()}
		}
		return "", err
	}
	return reply, nil
}

func (s *Sender) transaction(envFrom string, rcpts []string, body io.Reader) (string, error) {
	timeout := s.cfg.Timeout.Duration
	if err := s.conn.UpdateDeadline(timeout); err != nil {
		return "", classify(err)
	}
	if err := s.conn.Mail(envFrom); err != nil {
		return "", classify(err)
	}
	for _, r := range rcpts {
		if err := s.conn.Rcpt(r); err != nil {
			return "", classify(err)
		}
	}
	w, err := s.conn.Data()
	if err != nil {
		return "", classify(err)
	}
	// A large message may take longer than one command's timeout to transmit.
	if err := s.conn.UpdateDeadline(timeout + 10*time.Minute); err != nil {
		return "", classify(err)
	}
	if _, err := io.Copy(w, body); err != nil {
		return "", classify(err)
	}
	if err := s.conn.UpdateDeadline(timeout); err != nil {
		return "", classify(err)
	}
	if err := w.Close(); err != nil {
		return "", classify(err)
	}
	reply := "250"
	if dc, ok := w.(*smtp.DataCloser); ok && dc.ServerResponse() != "" {
		reply = "250 " + dc.ServerResponse()
	}
	return reply, nil
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
