// Package quality measures decisions against labelled mail: accuracy, per-class precision
// and recall, the confusion matrix, automatic-routing coverage and precision, clinical
// leaks, and identification.
package quality

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/dataset"
	"github.com/triagem/triagem/route"
)

// Outcome is one labelled mail and what triagem decided on it.
type Outcome struct {
	Mail     dataset.Mail
	Decision route.Decision
}

// Right reports whether the decided category is the label or one it allows.
func (o Outcome) Right() bool {
	if o.Decision.Category == o.Mail.Category {
		return true
	}
	for _, a := range o.Mail.AlsoOK {
		if a == o.Decision.Category {
			return true
		}
	}
	return false
}

// Report holds the figures of one evaluation.
type Report struct {
	Total, Right int
	// Routed counts mails forwarded without a human; RoutedRight those among them whose
	// category was right. Routable counts mails whose label is a forwarding category, and
	// RoutedRoutable those of them that were forwarded: a mail labelled "other" that is
	// forwarded under one of its also_ok categories is routed, but is no coverage.
	Routed, RoutedRight, Routable, RoutedRoutable int
	// Leaks are sensitive-category mails forwarded anywhere but that category's address.
	Leaks []Outcome
	// Sensitive names the sensitive categories (procedure 001's clinical).
	Sensitive []string
	// NIFRight counts mails whose found valid NIF equals the label ("" when none).
	NIFRight, NameRight int
	Classes             []string
	Confusion           map[string]map[string]int // label → decided → count
	Wrong               []Outcome
	// Outcomes are all the mails measured, in order.
	Outcomes []Outcome
}

// Measure compares outcomes with their labels under cfg's categories.
func Measure(cfg *config.Config, outs []Outcome) Report {
	r := Report{Confusion: map[string]map[string]int{}, Outcomes: outs}
	for _, c := range cfg.Categories {
		r.Classes = append(r.Classes, c.Name)
		if c.Sensitive {
			r.Sensitive = append(r.Sensitive, c.Name)
		}
	}
	for _, o := range outs {
		r.Total++
		label, got := o.Mail.Category, o.Decision.Category
		if r.Confusion[label] == nil {
			r.Confusion[label] = map[string]int{}
		}
		r.Confusion[label][got]++
		right := o.Right()
		if right {
			r.Right++
		}
		cat := cfg.Category(label)
		routable := cat != nil && !cat.Review
		if routable {
			r.Routable++
		}
		if o.Decision.Action == route.Forward {
			r.Routed++
			if routable {
				r.RoutedRoutable++
			}
			if right {
				r.RoutedRight++
			}
			if cat != nil && cat.Sensitive && !sameSet(o.Decision.To, cat.To) {
				r.Leaks = append(r.Leaks, o)
			}
		}
		if o.Decision.ValidNIF() == o.Mail.NIF {
			r.NIFRight++
		}
		name := decidedName(o.Decision)
		nameRight := strings.EqualFold(name, o.Mail.Person)
		if nameRight {
			r.NameRight++
		}
		if !right || !nameRight || o.Decision.ValidNIF() != o.Mail.NIF {
			r.Wrong = append(r.Wrong, o)
		}
	}
	for label := range r.Confusion {
		if !contains(r.Classes, label) {
			r.Classes = append(r.Classes, label)
		}
	}
	return r
}

// decidedName is the person a decision identified, "" for none.
func decidedName(d route.Decision) string {
	if d.Name == nil {
		return ""
	}
	return d.Name.Value
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		found := false
		for _, y := range b {
			if strings.EqualFold(x, y) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func pct(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return 100 * float64(n) / float64(d)
}

// Accuracy is the share of mails whose category is right.
func (r Report) Accuracy() float64 { return pct(r.Right, r.Total) }

// Coverage is the share of all mails routed without a human.
func (r Report) Coverage() float64 { return pct(r.Routed, r.Total) }

// RoutableCoverage is the share of the mail that has a department that was routed.
func (r Report) RoutableCoverage() float64 { return pct(r.RoutedRoutable, r.Routable) }

// Precision is the share of automatically routed mails whose category was right.
func (r Report) Precision() float64 { return pct(r.RoutedRight, r.Routed) }

// PrecisionRecall of one class, in percent.
func (r Report) PrecisionRecall(class string) (precision, recall float64, support int) {
	tp, predicted := 0, 0
	for label, row := range r.Confusion {
		predicted += row[class]
		if label == class {
			tp = row[class]
			for _, n := range row {
				support += n
			}
		}
	}
	return pct(tp, predicted), pct(tp, support), support
}

// Write prints the report for people.
func (r Report) Write(w io.Writer, traces bool) {
	fmt.Fprintf(w, "mails            %d\n", r.Total)
	fmt.Fprintf(w, "accuracy         %.1f %% (%d/%d)\n", r.Accuracy(), r.Right, r.Total)
	fmt.Fprintf(w, "auto-routed      %.1f %% of all mail (%d/%d), %.1f %% of routable mail (%d)\n", r.Coverage(), r.Routed, r.Total, r.RoutableCoverage(), r.Routable)
	fmt.Fprintf(w, "  precision      %.1f %% (%d/%d right)\n", r.Precision(), r.RoutedRight, r.Routed)
	fmt.Fprintf(w, "sensitive leaks  %d (%s)\n", len(r.Leaks), strings.Join(r.Sensitive, ", "))
	fmt.Fprintf(w, "NIF exact match  %.1f %% (%d/%d)\n", pct(r.NIFRight, r.Total), r.NIFRight, r.Total)
	fmt.Fprintf(w, "name match       %.1f %% (%d/%d)\n\n", pct(r.NameRight, r.Total), r.NameRight, r.Total)

	fmt.Fprintf(w, "%-12s %9s %7s %7s\n", "class", "precision", "recall", "mails")
	for _, c := range r.Classes {
		p, rc, n := r.PrecisionRecall(c)
		fmt.Fprintf(w, "%-12s %8.1f%% %6.1f%% %7d\n", c, p, rc, n)
	}
	fmt.Fprintf(w, "\nconfusion (rows: label, columns: decided)\n%-12s", "")
	for _, c := range r.Classes {
		fmt.Fprintf(w, " %6.6s", c)
	}
	fmt.Fprintln(w)
	for _, label := range r.Classes {
		fmt.Fprintf(w, "%-12s", label)
		for _, c := range r.Classes {
			fmt.Fprintf(w, " %6d", r.Confusion[label][c])
		}
		fmt.Fprintln(w)
	}
	if len(r.Leaks) > 0 {
		fmt.Fprintf(w, "\nSENSITIVE LEAKS (%s)\n", strings.Join(r.Sensitive, ", "))
		for _, o := range r.Leaks {
			fmt.Fprintf(w, "  %s → %s\n", o.Mail.Name, strings.Join(o.Decision.To, ", "))
		}
	}
	if !traces || len(r.Wrong) == 0 {
		return
	}
	fmt.Fprintln(w, "\nwrong or unidentified")
	for _, o := range r.Wrong {
		d := o.Decision
		fmt.Fprintf(w, "\n%s: label %s, decided %s → %s (confidence %.2f)", o.Mail.Name, o.Mail.Category, d.Category, d.Action, d.Confidence)
		if d.ValidNIF() != o.Mail.NIF {
			fmt.Fprintf(w, "; NIF %q, expected %q", d.ValidNIF(), o.Mail.NIF)
		}
		if got := decidedName(d); !strings.EqualFold(got, o.Mail.Person) {
			fmt.Fprintf(w, "; name %q, expected %q", got, o.Mail.Person)
		}
		fmt.Fprintln(w)
		for _, reason := range d.Reasons {
			fmt.Fprintf(w, "    because  %s\n", reason)
		}
		if t := d.Trace; t != nil {
			fmt.Fprintf(w, "    scores   %s\n", formatScores(t.Probabilities))
			var feats []string
			for _, f := range t.Features {
				feats = append(feats, fmt.Sprintf("%s %+.2f", f.Name, f.Weight))
			}
			if len(feats) > 0 {
				fmt.Fprintf(w, "    features %s\n", strings.Join(feats, ", "))
			}
			for _, h := range t.Hits {
				fmt.Fprintf(w, "    rule     %s/%s %s %.2f %q\n", h.Category, h.Rule, h.Where, h.Score, h.Phrase)
			}
		}
	}
}

func formatScores(m map[string]float64) string {
	type kv struct {
		k string
		v float64
	}
	var l []kv
	for k, v := range m {
		l = append(l, kv{k, v})
	}
	sort.Slice(l, func(i, j int) bool { return l[i].v > l[j].v || (l[i].v == l[j].v && l[i].k < l[j].k) })
	var s []string
	for _, x := range l {
		if x.v >= 0.01 {
			s = append(s, fmt.Sprintf("%s %.2f", x.k, x.v))
		}
	}
	return strings.Join(s, ", ")
}
