// Package metrics writes triagem's numbers in the Prometheus text exposition format, and
// keeps the few that only exist in memory (latency histograms).
package metrics

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Label is one name=value pair of a sample.
type Label struct{ Name, Value string }

// Sample is one value of a family.
type Sample struct {
	Suffix string // "_bucket", "_sum", "_count" for histograms
	Labels []Label
	Value  float64
}

// Family is one metric: a name, its help and type, and its samples.
type Family struct {
	Name, Help, Type string // Type: counter | gauge | histogram
	Samples          []Sample
}

// Write prints families in the text format (version 0.0.4).
func Write(w io.Writer, fams []Family) error {
	for _, f := range fams {
		if _, err := fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", f.Name, escapeHelp(f.Help), f.Name, f.Type); err != nil {
			return err
		}
		for _, s := range f.Samples {
			var b strings.Builder
			b.WriteString(f.Name + s.Suffix)
			if len(s.Labels) > 0 {
				b.WriteByte('{')
				for i, l := range s.Labels {
					if i > 0 {
						b.WriteByte(',')
					}
					fmt.Fprintf(&b, "%s=%q", l.Name, escapeValue(l.Value))
				}
				b.WriteByte('}')
			}
			fmt.Fprintf(&b, " %s\n", formatValue(s.Value))
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return fmt.Sprintf("%d", int64(v))
	}
	return fmt.Sprintf("%g", v)
}

func escapeHelp(s string) string { return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s) }

// escapeValue leaves what %q would double-escape: %q handles quotes, backslashes, newlines.
func escapeValue(s string) string { return s }

// Counted is a family of one sample per label value, from a map.
func Counted(name, help, typ, label string, m map[string]int) Family {
	f := Family{Name: name, Help: help, Type: typ}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		f.Samples = append(f.Samples, Sample{Labels: []Label{{label, k}}, Value: float64(m[k])})
	}
	return f
}

// Single is a family with one unlabelled sample.
func Single(name, help, typ string, v float64) Family {
	return Family{Name: name, Help: help, Type: typ, Samples: []Sample{{Value: v}}}
}

// Histogram counts durations into fixed buckets. It is safe for concurrent use.
type Histogram struct {
	mu      sync.Mutex
	bounds  []float64 // seconds, ascending
	counts  []uint64  // per bound, not cumulative
	sum     float64
	total   uint64
	overMax uint64
}

// NewHistogram makes a histogram with the given upper bounds in seconds.
func NewHistogram(bounds ...float64) *Histogram {
	return &Histogram{bounds: bounds, counts: make([]uint64, len(bounds))}
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sum += s
	h.total++
	for i, b := range h.bounds {
		if s <= b {
			h.counts[i]++
			return
		}
	}
	h.overMax++
}

// Family renders the histogram as a family called name.
func (h *Histogram) Family(name, help string) Family {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := Family{Name: name, Help: help, Type: "histogram"}
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		f.Samples = append(f.Samples, Sample{Suffix: "_bucket", Labels: []Label{{"le", formatValue(b)}}, Value: float64(cum)})
	}
	f.Samples = append(f.Samples,
		Sample{Suffix: "_bucket", Labels: []Label{{"le", "+Inf"}}, Value: float64(h.total)},
		Sample{Suffix: "_sum", Value: h.sum},
		Sample{Suffix: "_count", Value: float64(h.total)})
	return f
}
