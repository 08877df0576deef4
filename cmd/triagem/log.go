package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/web"
)

// cmdLog prints the audit log, filtered, as a table, CSV or JSON lines.
func cmdLog(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("log", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (names the state_dir with the database)")
	var f store.Filter
	since := fs.String("since", "", "from this time: a duration back (24h, 720h) or a date (2025-03-01, 2025-03-01T09:00)")
	until := fs.String("until", "", "up to this time (same forms)")
	fs.StringVar(&f.Type, "type", "", "event type: received, ignored, quarantined, classified, queued, sent, retry, failed, moved, alert, drafted, approved, edited, rejected, refused, replay, department-answer, audit")
	fs.StringVar(&f.CaseRef, "case", "", "one case, e.g. TRG-ABCD2345")
	fs.StringVar(&f.Category, "category", "", "cases classified in this category")
	fs.StringVar(&f.Action, "action", "", "cases whose decision was forward, review, ignore, quarantine or duplicate; or failed (a parked send)")
	fs.StringVar(&f.Address, "address", "", "cases that involve this address: a destination, a recipient, the customer")
	fs.StringVar(&f.Agent, "agent", "", "cases an agent approved, edited, rejected, or was refused on")
	nif := fs.String("nif", "", "cases of this NIF (hashed here with the daemon's key; never stored in clear)")
	fs.IntVar(&f.Limit, "limit", 100, "at most this many events; with a case filter, of the newest matching cases")
	format := fs.String("format", "table", "table, csv or jsonl")
	asJSON := fs.Bool("json", false, "the same as --format jsonl")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if *asJSON {
		*format = "jsonl"
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	if f.Since, err = parseWhen(*since, now); err != nil {
		return usageError{fmt.Errorf("--since: %w", err)}
	}
	if f.Until, err = parseWhen(*until, now); err != nil {
		return usageError{fmt.Errorf("--until: %w", err)}
	}
	if *nif != "" {
		hash, err := daemon.NIFHasher(cfg)
		if err != nil {
			return err
		}
		f.NIFHash = hash(*nif)
	}
	st, err := openStore(cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	evs, err := st.Events(ctx, f)
	if err != nil {
		return err
	}
	return writeEvents(stdout, *format, evs)
}

// writeEvents prints events in one of the log's formats.
func writeEvents(w io.Writer, format string, evs []store.Event) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, e := range evs {
			if err := enc.Encode(map[string]any{"seq": e.Seq, "at": time.UnixMilli(e.At).UTC().Format(time.RFC3339Nano),
				"type": e.Type, "case": e.CaseRef, "data": json.RawMessage(e.Data), "hash": e.Hash}); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"seq", "time", "event", "case", "category", "action", "to", "by", "reason", "details", "data", "hash"})
		for _, e := range evs {
			m := e.Fields()
			get := func(k string) string {
				if v, ok := m[k]; ok && v != nil {
					if l, ok := v.([]any); ok {
						var s []string
						for _, x := range l {
							s = append(s, fmt.Sprint(x))
						}
						return strings.Join(s, " ")
					}
					return fmt.Sprint(v)
				}
				return ""
			}
			cw.Write([]string{fmt.Sprint(e.Seq), time.UnixMilli(e.At).UTC().Format(time.RFC3339), e.Type, e.CaseRef, get("category"),
				get("action"), get("to"), get("by"), get("reason"), summarize(e), web.CSVSafe(e.Data), e.Hash})
		}
		cw.Flush()
		return cw.Error()
	case "table":
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tTIME\tEVENT\tCASE\tDETAILS")
		for _, e := range evs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", e.Seq, time.UnixMilli(e.At).Format("2006-01-02 15:04:05"), e.Type, e.CaseRef, summarize(e))
		}
		return tw.Flush()
	}
	return usageError{fmt.Errorf("--format %q: use table, csv or jsonl", format)}
}

// parseWhen reads "24h" (that long ago), "2025-03-01" or "2025-03-01T09:00[:00][Z]".
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither a duration (24h) nor a date (2025-03-01)", s)
}
