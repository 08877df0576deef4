package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/web"
)

// cmdServe serves the auditors' page, /metrics and /healthz without running the daemon.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	listen := fs.String("listen", "", "override web.listen")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if *listen != "" {
		cfg.Web.Listen = *listen
	}
	if cfg.Web.Listen == "" {
		return errors.New("web.listen is empty: set it (e.g. 127.0.0.1:8025) or pass --listen")
	}
	if err := requireState(cfg); err != nil {
		return err
	}
	app, err := daemon.Open(cfg, newLogger(cfg.Daemon.LogLevel, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	srv, err := web.New(app)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "auditors' page on http%s://%s/ (read-only); /metrics and /healthz beside it\n", map[bool]string{true: "s"}[cfg.Web.TLSCert != ""], cfg.Web.Listen)
	return srv.Serve(ctx, cfg.Web.Listen)
}

// cmdHashPassword reads a password on standard input and prints its argon2id hash for
// [[web.auditor]] password_hash.
func cmdHashPassword(stdin io.Reader, stdout io.Writer) error {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	pw := strings.TrimRight(line, "\r\n")
	if len(pw) < 10 {
		return errors.New("give a password of at least 10 characters on standard input")
	}
	h, err := web.HashPassword(pw)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
