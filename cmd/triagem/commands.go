package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/demo"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/web"
)

func runDemo(ctx context.Context, out io.Writer, dir string) error { return demo.Run(ctx, out, dir) }

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	once := fs.Bool("once", false, "drain every inbox and the outbox once, then exit")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if len(cfg.Inboxes) == 0 {
		return fmt.Errorf("%s has no [[inbox]]: nothing to watch", cfg.Path)
	}
	app, err := daemon.Open(cfg, newLogger(cfg.Daemon.LogLevel, stderr))
	if err != nil {
		return err
	}
	defer app.Close()
	if !*once {
		if cfg.Web.Listen != "" {
			srv, err := web.New(app)
			if err != nil {
				return err
			}
			// The page ends with ctx, like the daemon; its failure to listen is logged, not
			// fatal: routing mail matters more than the auditors' page.
			done := make(chan struct{})
			go func() {
				defer close(done)
				if err := srv.Serve(ctx, cfg.Web.Listen); err != nil {
					app.Log.Error("auditors' page stopped", "listen", cfg.Web.Listen, "error", err)
				}
			}()
			defer func() { <-done }()
		}
		return app.Run(ctx)
	}
	sum, err := app.RunOnce(ctx)
	ms := func(d time.Duration) time.Duration { return d.Round(time.Millisecond) }
	fmt.Fprintf(stdout, "fetched %d, decided %d, sent %d, failed %d, moved %d, still pending %d (stages overlap; done after: fetch %v, decide %v, send %v, move %v)\n",
		sum.Fetched, sum.Decided, sum.Sent, sum.Failed, sum.Moved, sum.Pending, ms(sum.FetchedBy), ms(sum.DecidedBy), ms(sum.SentBy), ms(sum.MovedBy))
	return err
}

// classifyLine is the JSON contract of `triagem classify --json`.
type classifyLine struct {
	File       string   `json:"file"`
	Category   string   `json:"category"`
	Confidence float64  `json:"confidence"`
	Action     string   `json:"action"`
	To         []string `json:"to"`
	Cc         []string `json:"cc"`
	NIF        *string  `json:"nif"`
	Name       *string  `json:"name"`
	Identified bool     `json:"identified"`
	Disclaimer bool     `json:"disclaimer"`
	Reasons    []string `json:"reasons"`
}

func cmdClassify(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("classify", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	asJSON := fs.Bool("json", false, "one JSON object per file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usageError{fmt.Errorf("name at least one .eml file")}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	failed := 0
	for _, file := range fs.Args() {
		line := classifyLine{File: file, To: []string{}, Cc: []string{}, Reasons: []string{}}
		raw, err := readBounded(file, cfg.Limits.MaxMessageBytes)
		var trace []string
		if err != nil {
			line.Category, line.Action = cfg.ReviewCategory(), "quarantine"
			line.Reasons = []string{err.Error()}
			failed++
		} else {
			d, _ := ev.Evaluate(context.Background(), raw)
			line.Category, line.Confidence, line.Action = d.Category, d.Confidence, d.Action
			if d.Action == "duplicate" {
				line.Action = "ignore"
			}
			line.To = append(line.To, d.To...)
			line.Cc = append(line.Cc, d.Cc...)
			if n := d.ValidNIF(); n != "" {
				line.NIF = &n
			}
			if d.Name != nil {
				line.Name = &d.Name.Value
			}
			line.Identified, line.Disclaimer = d.Identified, d.Disclaimer
			line.Reasons = append(line.Reasons, reason.Strings(d.Reasons)...)
			if d.Trace != nil {
				for _, h := range d.Trace.Hits {
					trace = append(trace, fmt.Sprintf("rule   %-10s %-20s %-8s %5.2f  %q", h.Category, h.Rule, h.Where, h.Score, h.Phrase))
				}
				if len(d.Trace.Probabilities) > 0 {
					trace = append(trace, "model  "+formatProbabilities(d.Trace.Probabilities)+fmt.Sprintf(" (needed %.2f)", d.Trace.Threshold))
				}
				for _, f := range d.Trace.Features {
					trace = append(trace, fmt.Sprintf("word   %-30s %+.3f", f.Name, f.Weight))
				}
				if op := d.Trace.LLM; op != nil {
					trace = append(trace, fmt.Sprintf("llm    %s: %s %.2f %s (%s)", op.Model, op.Category, op.Confidence, op.Error, op.Effect))
				}
			}
		}
		if *asJSON {
			if err := enc.Encode(line); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintf(stdout, "%s\n  decision:   %s → %s (confidence %.2f)\n", file, line.Category, line.Action, line.Confidence)
		if len(line.To) > 0 {
			fmt.Fprintf(stdout, "  to:         %s\n", strings.Join(line.To, ", "))
		}
		if len(line.Cc) > 0 {
			fmt.Fprintf(stdout, "  cc:         %s\n", strings.Join(line.Cc, ", "))
		}
		fmt.Fprintf(stdout, "  customer:   name %s, NIF %s, identified %v, disclaimer %v\n", deref(line.Name), deref(line.NIF), line.Identified, line.Disclaimer)
		for _, r := range line.Reasons {
			fmt.Fprintf(stdout, "  because:    %s\n", r)
		}
		for _, t := range trace {
			fmt.Fprintf(stdout, "  evidence:   %s\n", t)
		}
		fmt.Fprintln(stdout)
	}
	if failed > 0 && !*asJSON {
		return fmt.Errorf("%d file(s) could not be read", failed)
	}
	return nil
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("message of %d bytes is larger than limits.max_message_bytes (%d)", st.Size(), limit)
	}
	return io.ReadAll(io.LimitReader(f, limit+1))
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func cmdCheckConfig(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("check-config", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, stdout)
	if err != nil {
		return err
	}
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Path, err)
	}
	fmt.Fprintf(stdout, "%s: OK — %d inbox(es), %d categories, %d addresses triagem may send to\n",
		cfg.Path, len(cfg.Inboxes), len(cfg.Categories), len(cfg.Recipients()))
	if u := ev.Templates.Untranslated(cfg.Team.Language); len(u) > 0 {
		fmt.Fprintf(stdout, "note: reasons.%s.tmpl has no text for %s: the team reads those reasons in English\n",
			cfg.Team.Language, strings.Join(u, ", "))
	}
	return nil
}

// summarize picks the fields a person reads first from an event's data (the web page
// shows the same).
func summarize(e store.Event) string { return web.Summarize(e) }

// formatProbabilities lists the categories with at least 1 %, most likely first.
func formatProbabilities(p map[string]float64) string {
	names := make([]string, 0, len(p))
	for n := range p {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		return p[names[i]] > p[names[j]] || (p[names[i]] == p[names[j]] && names[i] < names[j])
	})
	var out []string
	for _, n := range names {
		if p[n] >= 0.01 {
			out = append(out, fmt.Sprintf("%s %.2f", n, p[n]))
		}
	}
	return strings.Join(out, ", ")
}
