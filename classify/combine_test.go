package classify

import "testing"

// A probability just below the threshold must not read as the threshold itself.
func TestApartNeverShowsTheThreshold(t *testing.T) {
	cases := []struct {
		p, threshold float64
		want         string
	}{
		{0.966, 0.97, "0.966"},
		{0.9699999, 0.97, "0.969"},
		{0.84, 0.97, "0.84"},
		{0.972, 0.97, "0.97"},
		{0.5, 0.5, "0.50"},
	}
	for _, c := range cases {
		if got := apart(c.p, c.threshold); got != c.want {
			t.Errorf("apart(%v, %v) = %q, want %q", c.p, c.threshold, got, c.want)
		}
	}
}
