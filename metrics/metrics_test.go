package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	h := NewHistogram(0.1, 1)
	h.Observe(50 * time.Millisecond)
	h.Observe(500 * time.Millisecond)
	h.Observe(3 * time.Second)
	var b strings.Builder
	err := Write(&b, []Family{
		Single("x_total", "Things.\nMore.", "counter", 3),
		Counted("y", "Per label.", "gauge", "category", map[string]int{"b": 2, "a\"q": 1}),
		h.Family("lat_seconds", "Latency."),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `# HELP x_total Things.\nMore.
# TYPE x_total counter
x_total 3
# HELP y Per label.
# TYPE y gauge
y{category="a\"q"} 1
y{category="b"} 2
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{le="0.1"} 1
lat_seconds_bucket{le="1"} 2
lat_seconds_bucket{le="+Inf"} 3
lat_seconds_sum 3.55
lat_seconds_count 3
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}
