// Package replay re-decides mail under a candidate configuration, next to the current one,
// and reports every route that would change, so a rules or model change can be checked
// (in CI, too) before it goes live. Nothing is sent.
package replay

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/spool"
	"github.com/triagem/triagem/store"
)

// Mail is one message to re-decide.
type Mail struct {
	Name string
	Raw  []byte
}

// Route is the part of a decision a change is about.
type Route struct {
	Action   string
	Category string
	To       []string
}

func routeOf(d route.Decision) Route {
	to := append(append([]string{}, d.To...), d.Cc...)
	sort.Strings(to)
	action := d.Action
	if action == route.Duplicate {
		action = route.Forward // a duplicate is judged like the case it repeats
	}
	return Route{Action: action, Category: d.Category, To: to}
}

// equal is about what happens to the mail: where it goes, and, when forwarded, as which
// category (that picks the template and the disclaimer). The category a review case is
// filed under is only a hint to the agent.
func (r Route) equal(o Route) bool {
	return r.Action == o.Action && slices.Equal(r.To, o.To) && (r.Action != route.Forward || r.Category == o.Category)
}

func (r Route) String() string {
	s := r.Action + " " + r.Category
	if len(r.To) > 0 {
		s += " (" + strings.Join(r.To, ", ") + ")"
	}
	return s
}

// Change is one mail whose route differs.
type Change struct {
	Name          string
	Before, After Route
	Why           string // the candidate's reasons
}

// Result is the outcome of one replay.
type Result struct {
	Total   int
	Changes []Change
}

// Compare decides every mail with base and with candidate.
func Compare(ctx context.Context, base, candidate *daemon.Evaluator, mails []Mail) (Result, error) {
	var r Result
	for _, m := range mails {
		if err := ctx.Err(); err != nil {
			return r, err
		}
		r.Total++
		b, _ := base.Evaluate(ctx, m.Raw)
		c, _ := candidate.Evaluate(ctx, m.Raw)
		if rb, rc := routeOf(b), routeOf(c); !rb.equal(rc) {
			r.Changes = append(r.Changes, Change{Name: m.Name, Before: rb, After: rc, Why: strings.Join(reason.Strings(c.Reasons), "; ")})
		}
	}
	return r, nil
}

// Write prints the changes for people.
func (r Result) Write(w io.Writer) {
	fmt.Fprintf(w, "replayed %d mails: %d routes would change\n", r.Total, len(r.Changes))
	for _, c := range r.Changes {
		fmt.Fprintf(w, "\n%s\n  now:       %s\n  candidate: %s\n", c.Name, c.Before, c.After)
		if c.Why != "" {
			fmt.Fprintf(w, "  because:   %s\n", c.Why)
		}
	}
}

// FromDir reads every .eml file under dir, in name order.
func FromDir(dir string, maxBytes int64) ([]Mail, error) {
	var out []Mail
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(strings.ToLower(d.Name()), ".eml") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Size() > maxBytes {
			return fmt.Errorf("%s is %d bytes, over limits.max_message_bytes", path, info.Size())
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		out = append(out, Mail{Name: path, Raw: b})
		return nil
	})
	if err == nil && len(out) == 0 {
		err = fmt.Errorf("%s holds no .eml files", dir)
	}
	return out, err
}

// FromStore reads the raw mail recorded in stateDir since the given time. Mail whose raw
// copy was purged, or never kept (quarantined before it was read), is skipped.
func FromStore(ctx context.Context, stateDir string, since time.Time) ([]Mail, error) {
	dbPath := filepath.Join(stateDir, "triagem.db")
	if _, err := os.Stat(dbPath); err != nil {
		return nil, fmt.Errorf("no triagem state in %s (%v): point --config at the running daemon's configuration", stateDir, err)
	}
	st, err := store.Open(dbPath)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	sp, err := spool.Open(filepath.Join(stateDir, "spool"))
	if err != nil {
		return nil, err
	}
	defer sp.Close()
	msgs, err := st.ReceivedSince(ctx, since)
	if err != nil {
		return nil, err
	}
	var out []Mail
	for _, m := range msgs {
		raw, err := sp.Get(m.Blob)
		if err != nil {
			continue
		}
		out = append(out, Mail{Name: m.CaseRef, Raw: raw})
	}
	return out, nil
}
