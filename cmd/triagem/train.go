package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
)

// cmdTrain fits the model to the labelled examples and writes the model file. Run from
// the repository with no flags, it rewrites the embedded model (see classify/model.json).
func cmdTrain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	path := fs.String("config", "", "configuration whose categories and rules the model is for")
	examples := fs.String("examples", "dataset/train", "folder of labelled training files (category.txt)")
	out := fs.String("out", "classify/model.json", "model file to write")
	verbose := fs.Bool("verbose", false, "list the examples cross-validation got wrong")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	opt := classify.TrainOptions{}
	if *verbose {
		opt.Log = stdout
	}
	m, err := trainModel(cfg, *examples, opt)
	if err != nil {
		return err
	}
	b, err := m.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained on %d examples %v\n", m.Info.Examples, m.Info.PerClass)
	fmt.Fprintf(stdout, "%d features; cross-validated accuracy %.1f %%, automatic routing coverage %.1f %% at precision %.1f %%\n",
		len(m.Weights), 100*m.Info.CVAccuracy, 100*m.Info.CVCoverage, 100*m.Info.CVPrecision)
	fmt.Fprintf(stdout, "calibrated thresholds %v\nwrote %s (%d bytes)\n", m.Thresholds, *out, len(b))
	return nil
}

func trainModel(cfg *config.Config, dir string, opt classify.TrainOptions) (*classify.Model, error) {
	return dataset.Train(cfg, dir, daemon.ParseLimits(cfg), opt)
}
