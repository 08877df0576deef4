package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/replay"
)

// cmdReplay re-decides mail with a candidate configuration next to the current one.
func cmdReplay(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	candidate := fs.String("config", "", "the candidate configuration (required)")
	basePath := fs.String("base", "", "the current configuration (default ./config.toml, or the shipped one)")
	model := fs.String("model", "", "override the candidate's classify.model")
	days := fs.Int("days", 0, "replay the raw mail the current configuration's daemon stored in the last N days")
	maxChanges := fs.Int("max-changes", -1, "exit with status 1 when more routes change than this (CI gate)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *candidate == "" {
		return usageError{errors.New("name the candidate with --config NEW.toml")}
	}
	if (*days > 0) == (fs.NArg() > 0) {
		return usageError{errors.New("give either a folder of .eml files or --days N")}
	}
	base, err := loadConfig(*basePath, nil)
	if err != nil {
		return err
	}
	cand, err := config.Load(*candidate)
	if err != nil {
		return err
	}
	if *model != "" {
		cand.Classify.Model = *model
	}
	// A replay never asks a language model: it must be repeatable and offline.
	base.LLM.Mode, cand.LLM.Mode = "never", "never"
	be, err := daemon.NewEvaluator(base)
	if err != nil {
		return fmt.Errorf("current configuration: %w", err)
	}
	ce, err := daemon.NewEvaluator(cand)
	if err != nil {
		return fmt.Errorf("candidate configuration: %w", err)
	}
	var mails []replay.Mail
	if *days > 0 {
		mails, err = replay.FromStore(ctx, base.Daemon.StateDir, time.Now().AddDate(0, 0, -*days))
	} else {
		mails, err = replay.FromDir(fs.Arg(0), base.Limits.MaxMessageBytes)
	}
	if err != nil {
		return err
	}
	res, err := replay.Compare(ctx, be, ce, mails)
	if err != nil {
		return err
	}
	res.Write(stdout)
	if *maxChanges >= 0 && len(res.Changes) > *maxChanges {
		return fmt.Errorf("%d routes would change, more than --max-changes %d", len(res.Changes), *maxChanges)
	}
	return nil
}
