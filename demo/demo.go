// Package demo runs the real daemon once over sample customer mail on in-process IMAP and
// SMTP servers, and shows what it decided: the README's first command.
package demo

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/parse"
)

//go:embed mails/*.eml
var mails embed.FS

const (
	inboxUser = "suporte@example.test"
	password  = "demo"
)

// Config returns the shipped configuration pointed at the demo servers, with every address
// moved to example.test: the demo cannot reach a real department, whatever happens.
func Config(stateDir, imapAddr, smtpAddr string) (*config.Config, error) {
	cfg, err := config.Parse("config.toml (embedded)", triagem.DefaultConfig)
	if err != nil {
		return nil, err
	}
	cfg.RewriteDomains("example.test")
	cfg.Inboxes = []config.Inbox{{Name: "suporte", User: inboxUser, Folder: "INBOX"}}
	if err := UseLocalServers(cfg, stateDir, imapAddr, smtpAddr, password); err != nil {
		return nil, err
	}
	cfg.Daemon.MessageIDDomain = "triagem.example.test"
	cfg.Team.OwnAddresses = append(cfg.Team.OwnAddresses, "suporte@medicoonline.example.test")
	return cfg, nil
}

// UseLocalServers points cfg's first inbox (its user and folder kept) and its SMTP at
// servers on this machine without TLS, with password in a file under stateDir, which also
// becomes the state directory.
func UseLocalServers(cfg *config.Config, stateDir, imapAddr, smtpAddr, password string) error {
	host, port, err := splitAddr(imapAddr)
	if err != nil {
		return err
	}
	pwFile := filepath.Join(stateDir, "imap.pass")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		return err
	}
	in := &cfg.Inboxes[0]
	in.Host, in.Port, in.TLS, in.Credentials = host, port, "plain", config.Credentials{PasswordFile: pwFile}
	shost, sport, err := splitAddr(smtpAddr)
	if err != nil {
		return err
	}
	cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.TLS, cfg.SMTP.User = shost, sport, "plain", ""
	cfg.SMTP.Credentials = config.Credentials{}
	cfg.Daemon.StateDir = stateDir
	return nil
}

func splitAddr(addr string) (string, int, error) {
	i := strings.LastIndexByte(addr, ':')
	var port int
	if _, err := fmt.Sscanf(addr[i+1:], "%d", &port); err != nil {
		return "", 0, fmt.Errorf("address %q: %w", addr, err)
	}
	return addr[:i], port, nil
}

// Run starts the servers, loads the sample mail, runs `triagem run --once` on it, and prints
// the routing table. State (database, spool, effective config) stays in stateDir.
func Run(ctx context.Context, out io.Writer, stateDir string) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return err
	}
	im, err := mailtest.StartIMAP(nil)
	if err != nil {
		return fmt.Errorf("start the in-process IMAP server: %w", err)
	}
	defer im.Close()
	sm, err := mailtest.StartSMTP()
	if err != nil {
		return fmt.Errorf("start the in-process SMTP server: %w", err)
	}
	defer sm.Close()
	if err := im.AddUser(inboxUser, password); err != nil {
		return err
	}
	names, _ := fs.Glob(mails, "mails/*.eml")
	sort.Strings(names)
	for _, n := range names {
		raw, _ := mails.ReadFile(n)
		if err := im.Append(inboxUser, "INBOX", raw); err != nil {
			return err
		}
	}
	cfg, err := Config(stateDir, im.Addr, sm.Addr)
	if err != nil {
		return err
	}
	cfgPath := filepath.Join(stateDir, "config.toml")
	if err := config.Write(cfgPath, cfg); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := daemon.Open(cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()

	fmt.Fprintf(out, "triagem demo: %d sample customer mails in an in-process IMAP inbox (%s), SMTP on %s.\n", len(names), im.Addr, sm.Addr)
	fmt.Fprintf(out, "Running the real daemon once (triagem run --once) with the shipped config.toml, addresses moved to example.test...\n\n")
	start := time.Now()
	sum, err := app.RunOnce(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Fetched %d, decided %d, sent %d (failed %d), moved %d originals in %v.\n\n",
		sum.Fetched, sum.Decided, sum.Sent, sum.Failed, sum.Moved, time.Since(start).Round(time.Millisecond))

	cases, err := app.Store.Cases(ctx, 1000)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "CASE\tSUBJECT\tCATEGORY\tCONF\tACTION\tSENT TO\tFOLDER")
	for _, c := range cases {
		subject := ""
		if raw, err := app.Spool.Get(c.Blob); err == nil {
			if pm, err := parse.Parse(raw, parse.Limits{MaxHeaderBytes: 1 << 20, MaxParts: 100, MaxDepth: 10, MaxTextBytes: 1 << 16}); err == nil {
				subject = pm.Subject
			}
		}
		var sent []string
		for _, o := range c.Outbox {
			sent = append(sent, o.Kind+"→"+strings.Join(o.Rcpts, ","))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.2f\t%s\t%s\t%s\n", c.CaseRef, clip(subject, 36), c.Category, c.Confidence, c.Action,
			orDash(strings.Join(sent, " ")), c.Folder)
	}
	tw.Flush()
	if err := approveOne(ctx, out, app, im, sm); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nThe SMTP server accepted %d messages; nothing left this process.\n", len(sm.Deliveries()))
	fmt.Fprintf(out, "The audit log is in %s.\nSee every step with:\n  go run ./cmd/triagem log --config %s\n",
		filepath.Join(stateDir, "triagem.db"), cfgPath)
	return nil
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// approveOne plays an agent who answers the first insurance draft with "APROVAR" from a
// mail client, and shows the customer's threaded answer that follows.
func approveOne(ctx context.Context, out io.Writer, app *daemon.App, im *mailtest.IMAP, sm *mailtest.SMTP) error {
	var draft *mail.Message
	for _, d := range sm.Deliveries() {
		m, err := mail.ReadMessage(bytes.NewReader(d.Data))
		if err == nil && strings.Contains(m.Header.Get("Subject"), "Rascunho") && strings.Contains(m.Header.Get("Subject"), "Valor cobrado") {
			draft = m
			break
		}
	}
	if draft == nil {
		return nil
	}
	agent := strings.ToLower(app.Cfg.Team.Agents[0])
	var quoted strings.Builder
	body, _ := io.ReadAll(draft.Body)
	for _, l := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n") {
		quoted.WriteString("> " + l + "\r\n")
	}
	reply := fmt.Sprintf("From: Agente <%s>\r\nTo: %s\r\nSubject: Re: %s\r\nMessage-ID: <demo-approval@agent.example.test>\r\nIn-Reply-To: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAPROVAR\r\n\r\nEm seg., 3 de mar. de 2025, Apoio escreveu:\r\n%s",
		agent, draft.Header.Get("Reply-To"), draft.Header.Get("Subject"), draft.Header.Get("Message-Id"), quoted.String())
	if err := im.Append(inboxUser, "INBOX", []byte(reply)); err != nil {
		return err
	}
	before := len(sm.Deliveries())
	if _, err := app.RunOnce(ctx); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nAn agent (%s) replied APROVAR to the draft %q.\n", agent, draft.Header.Get("Subject"))
	for _, d := range sm.Deliveries()[before:] {
		m, err := mail.ReadMessage(bytes.NewReader(d.Data))
		if err != nil {
			continue
		}
		fmt.Fprintf(out, "  → sent to the customer %s: %q, In-Reply-To %s, with the Médis disclaimer: %v\n",
			strings.Join(d.Rcpts, ","), m.Header.Get("Subject"), m.Header.Get("In-Reply-To"), bytes.Contains(d.Data, []byte("218 458 888")))
	}
	return nil
}
