package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/triagem/triagem/audit"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/store"
)

// cmdAudit is `triagem audit verify|checkpoint`.
func cmdAudit(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || (args[0] != "verify" && args[0] != "checkpoint") {
		return usageError{errors.New("use: triagem audit verify [--checkpoint FILE] | triagem audit checkpoint [--out FILE]")}
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (names the state_dir with the database)")
	cpPath := fs.String("checkpoint", "", "verify: also check the chain against this signed checkpoint")
	out := fs.String("out", "", "checkpoint: write it to this file (default: standard output)")
	asJSON := fs.Bool("json", false, "verify: the result as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	key, err := audit.LoadKey(cfg.Audit.SigningKeyEnv, cfg.Audit.SigningKeyFile, filepath.Join(cfg.Daemon.StateDir, "audit.key"))
	if err != nil {
		return err
	}
	var cp *audit.Checkpoint
	if *cpPath != "" {
		if cp, err = audit.ReadCheckpoint(*cpPath, key.Public().(ed25519.PublicKey)); err != nil {
			return err
		}
	}
	start := time.Now()
	res, err := audit.Verify(ctx, st, cp)
	if err != nil {
		return err
	}
	if args[0] == "checkpoint" {
		if !res.OK() {
			return fmt.Errorf("refusing to sign a broken chain: row %d: %s", res.Problem.Seq, res.Problem.Reason)
		}
		c := audit.Sign(key, res, time.Now())
		b, _ := json.MarshalIndent(c, "", "  ")
		b = append(b, '\n')
		if *out == "" {
			_, err = stdout.Write(b)
			return err
		}
		if err := os.WriteFile(*out, b, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "checkpoint of row %d (%d events) written to %s; keep it away from this machine\n", c.Seq, res.Events, *out)
		return st.Tx(ctx, func(tx *store.Tx) error {
			return tx.Audit("checkpoint", map[string]any{"seq": c.Seq, "hash": c.Hash})
		})
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if res.OK() {
		fmt.Fprintf(stdout, "OK: %d events, rows 1–%d chained, head %s… (%v)\n", res.Events, res.Head, res.Hash[:min(16, len(res.Hash))], time.Since(start).Round(time.Millisecond))
		if res.Checkpoint != "" {
			fmt.Fprintf(stdout, "    %s\n", res.Checkpoint)
		}
	}
	if !res.OK() {
		return fmt.Errorf("BROKEN at row %d: %s", res.Problem.Seq, res.Problem.Reason)
	}
	return nil
}

// openStore opens the database of cfg's state_dir, which must exist already.
func openStore(cfg *config.Config) (*store.Store, error) {
	if err := requireState(cfg); err != nil {
		return nil, err
	}
	return store.Open(filepath.Join(cfg.Daemon.StateDir, "triagem.db"))
}

// requireState fails unless cfg's state_dir holds a database: commands that read the log
// must not start a new, empty one somewhere by mistake.
func requireState(cfg *config.Config) error {
	dbPath := filepath.Join(cfg.Daemon.StateDir, "triagem.db")
	if _, err := os.Stat(dbPath); err != nil {
		return fmt.Errorf("no database at %s: has triagem run with this configuration?", dbPath)
	}
	return nil
}
