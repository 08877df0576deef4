package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
	"github.com/triagem/triagem/quality"
)

// cmdEval decides on every mail of a labelled folder and reports how right it was.
func cmdEval(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	quiet := fs.Bool("quiet", false, "figures only, without the wrong cases and their traces")
	model := fs.String("model", "", "override classify.model: \"none\" (rules only), \"embedded\", or a model file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{fmt.Errorf("name a folder of .eml files with a labels.jsonl")}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	if *model != "" {
		cfg.Classify.Model = *model
	}
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		return err
	}
	for i, dir := range fs.Args() {
		mails, err := dataset.ReadLabelled(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		outs := make([]quality.Outcome, 0, len(mails))
		for _, m := range mails {
			d, _ := ev.Evaluate(ctx, m.Raw)
			outs = append(outs, quality.Outcome{Mail: m, Decision: d})
		}
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "== %s\n", dir)
		quality.Measure(cfg, outs).Write(stdout, !*quiet)
	}
	return nil
}
