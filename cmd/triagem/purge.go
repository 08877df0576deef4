package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/triagem/triagem/spool"
)

// cmdPurge enforces audit.retention on the spool: the raw mail and texts of finished
// cases older than that are deleted, and the log records that it happened.
func cmdPurge(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("purge", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	dry := fs.Bool("dry-run", false, "say what would be removed, remove nothing")
	older := fs.Duration("older-than", 0, "override audit.retention for this run (never below 1h)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	keep := cfg.Audit.Retention.Duration
	if *older > 0 {
		keep = max(*older, time.Hour)
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	sp, err := spool.Open(filepath.Join(cfg.Daemon.StateDir, "spool"))
	if err != nil {
		return err
	}
	defer sp.Close()
	r, err := st.Purge(ctx, time.Now().Add(-keep), *dry)
	if err != nil {
		return err
	}
	verb := "removed"
	if *dry {
		verb = "would remove"
	} else {
		if err := sp.Forget(r.Blobs); err != nil {
			return fmt.Errorf("remove the purged blobs from the spool: %w", err)
		}
	}
	fmt.Fprintf(stdout, "%s the raw copies of %d mails, %d outgoing messages and %d drafts' texts finished before %s (%d spool blobs)\n",
		verb, r.Messages, r.Outgoing, r.Drafts, r.Cutoff.Format("2006-01-02 15:04"), len(r.Blobs))
	return nil
}
