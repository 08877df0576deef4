// Command triagem triages a support team's mail: it reads IMAP inboxes, decides where each
// customer mail goes, forwards it, drafts the answer, and logs every step in SQLite.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
)

const usage = `triagem — triage and routing of a support team's mail

Usage:
  triagem demo                               run the daemon on sample mail, in-process
  triagem run [--config F] [--once]          watch the inboxes (--once: drain and exit)
  triagem classify [--config F] [--json] FILE.eml...
                                             dry run: decide, send nothing
  triagem log [--config F] [filters] [--format table|csv|jsonl]
                                             the audit log (see triagem log -h)
  triagem eval [--config F] [--quiet] DIR...  measure decisions on labelled mail (DIR/labels.jsonl)
  triagem replay --config NEW.toml [--base F] [--max-changes N] (DIR | --days N)
                                             re-decide mail under NEW; show routes that change
  triagem train [--config F] [--examples DIR] [--out FILE]
                                             fit the model to labelled examples
  triagem stats [--config F] [--since T] [--until T]
                                             cases per category, destination and day; medians
  triagem case [--config F] REF | --nif N | --address A
                                             the whole story of a case; the cases of a person
  triagem serve [--config F] [--listen A]    the auditors' page, /metrics and /healthz (read-only)
  triagem hash-password < PASSWORD           an argon2id hash for [[web.auditor]]
  triagem purge [--config F] [--dry-run]     delete raw mail older than audit.retention
  triagem audit verify [--checkpoint F]      walk the event chain; name the first broken row
  triagem audit checkpoint [--out F]         sign the chain's head (Ed25519), to keep elsewhere
  triagem check-config [--config F]          report every error in the configuration

--config defaults to ./config.toml, or the shipped default when that file is absent.
`

func main() {
	daemon.TuneRuntime()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "demo":
		err = cmdDemo(ctx, args[1:], stdout)
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "classify":
		err = cmdClassify(args[1:], stdout)
	case "log":
		err = cmdLog(ctx, args[1:], stdout)
	case "serve":
		err = cmdServe(ctx, args[1:], stdout, stderr)
	case "hash-password":
		err = cmdHashPassword(os.Stdin, stdout)
	case "purge":
		err = cmdPurge(ctx, args[1:], stdout)
	case "stats":
		err = cmdStats(ctx, args[1:], stdout)
	case "case":
		err = cmdCase(ctx, args[1:], stdout)
	case "audit":
		err = cmdAudit(ctx, args[1:], stdout)
	case "eval":
		err = cmdEval(ctx, args[1:], stdout)
	case "replay":
		err = cmdReplay(ctx, args[1:], stdout)
	case "train":
		err = cmdTrain(args[1:], stdout)
	case "check-config":
		err = cmdCheckConfig(args[1:], stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "triagem: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "triagem %s: %v\n", args[0], err)
		var ue usageError
		if errors.As(err, &ue) {
			return 2
		}
		return 1
	}
	return 0
}

type usageError struct{ error }

// loadConfig reads path; an empty path means ./config.toml when present, else the embedded
// default (announced, so nobody runs on it by accident).
func loadConfig(path string, stderr io.Writer) (*config.Config, error) {
	if path == "" {
		if _, err := os.Stat("config.toml"); err == nil {
			path = "config.toml"
		} else {
			if stderr != nil {
				fmt.Fprintln(stderr, "triagem: no ./config.toml: using the shipped default configuration")
			}
			return config.Parse("config.toml (embedded)", triagem.DefaultConfig)
		}
	}
	return config.Load(path)
}

func newLogger(level string, w io.Writer) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

func cmdDemo(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	dir := fs.String("state", "", "keep the demo's database and spool here (default: a new temporary directory)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "triagem-demo-")
		if err != nil {
			return err
		}
		*dir = d
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	return runDemo(ctx, stdout, abs)
}
