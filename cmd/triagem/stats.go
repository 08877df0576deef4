package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// cmdStats prints the auditors' figures: cases per category, destination and day, the
// median times to forward and to an agent's decision, and the review rate.
func cmdStats(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("stats", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (names the state_dir with the database)")
	since := fs.String("since", "", "cases that arrived from this time (24h, 2025-03-01)")
	until := fs.String("until", "", "... and before this time")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	from, err := parseWhen(*since, now)
	if err != nil {
		return usageError{err}
	}
	to, err := parseWhen(*until, now)
	if err != nil {
		return usageError{err}
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	s, err := st.Stats(ctx, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d cases; review rate %.1f %% of customer mail\n", s.Cases, 100*s.ReviewRate)
	fmt.Fprintf(stdout, "median time from arrival to forward: %s (%d cases)\n", round(s.ArrivalToForward), s.Forwarded)
	fmt.Fprintf(stdout, "median time from draft to an agent's decision: %s (%d drafts)\n", round(s.DraftToDecision), s.Decided)
	section(stdout, "per category", s.ByCategory)
	section(stdout, "per action", s.ByAction)
	section(stdout, "per destination", s.ByDestination)

	var days []string
	cats := map[string]bool{}
	for d, m := range s.ByDay {
		days = append(days, d)
		for c := range m {
			cats[c] = true
		}
	}
	sort.Strings(days)
	var cs []string
	for c := range cats {
		cs = append(cs, c)
	}
	sort.Strings(cs)
	fmt.Fprintln(stdout, "\nper day")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "day\t%s\t\n", strings.Join(cs, "\t"))
	for _, d := range days {
		row := []string{d}
		for _, c := range cs {
			row = append(row, fmt.Sprint(s.ByDay[d][c]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t")+"\t")
	}
	return tw.Flush()
}

func section(w io.Writer, title string, m map[string]int) {
	fmt.Fprintf(w, "\n%s\n", title)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] || (m[keys[i]] == m[keys[j]] && keys[i] < keys[j]) })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t%d\n", k, m[k])
	}
	tw.Flush()
}

func round(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
