package classify

import (
	"cmp"
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
)

// EmbeddedModel is the model trained on the shipped examples (dataset/train) for the
// shipped config.toml. `triagem train` rewrites it; a test fails when it is stale.
//
//go:embed model.json
var EmbeddedModel []byte

// Model is a multinomial logistic regression over the features of a mail (see features.go).
// It is small (a weight per class for each feature seen at least twice in training), needs
// no network, and scores a mail in microseconds.
type Model struct {
	Format  int                  `json:"format"`
	Classes []string             `json:"classes"`
	Bias    []float64            `json:"bias"`
	Weights map[string][]float32 `json:"features"`
	// Thresholds are the calibrated least probabilities for automatic routing, per class:
	// below them, cross-validation on the training examples saw wrong routes.
	Thresholds map[string]float64 `json:"thresholds"`
	// Temperature divides the combined logits before the softmax; fitted on held-out
	// predictions so that a probability of 0.8 is right about 80 % of the time.
	Temperature float64   `json:"temperature"`
	Info        ModelInfo `json:"info"`

	// The weights laid out for scoring: feature name → row, rows of len(Classes) floats.
	index map[string]int32
	names []string
	flat  []float32
}

// prepare lays the weights out for scoring; it is called once per model.
func (m *Model) prepare() {
	if m.index != nil {
		return
	}
	k := len(m.Classes)
	m.names = make([]string, 0, len(m.Weights))
	for f := range m.Weights {
		m.names = append(m.names, f)
	}
	sort.Strings(m.names)
	m.index = make(map[string]int32, len(m.names))
	m.flat = make([]float32, 0, len(m.names)*k)
	for i, f := range m.names {
		m.index[f] = int32(i)
		m.flat = append(m.flat, m.Weights[f]...)
	}
}

// ModelInfo records how a model was made, so a model file explains itself.
type ModelInfo struct {
	Examples     int            `json:"examples"`
	PerClass     map[string]int `json:"per_class"`
	ExamplesHash string         `json:"examples_sha256"`
	RuleWeight   float64        `json:"rule_weight"`
	Epochs       int            `json:"epochs"`
	L2           float64        `json:"l2"`
	MinDocFreq   int            `json:"min_doc_freq"`
	// Cross-validated figures on the training examples, at the thresholds above.
	CVAccuracy  float64 `json:"cv_accuracy"`
	CVCoverage  float64 `json:"cv_coverage"`
	CVPrecision float64 `json:"cv_precision"`
}

const modelFormat = 1

// ParseModel reads a model file.
func ParseModel(b []byte) (*Model, error) {
	var m Model
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("model file is not valid JSON: %w", err)
	}
	if m.Format != modelFormat {
		return nil, fmt.Errorf("model format %d is not %d: retrain it with `triagem train`", m.Format, modelFormat)
	}
	if len(m.Classes) == 0 || len(m.Bias) != len(m.Classes) {
		return nil, fmt.Errorf("model has %d classes and %d biases: retrain it with `triagem train`", len(m.Classes), len(m.Bias))
	}
	for f, w := range m.Weights {
		if len(w) != len(m.Classes) {
			return nil, fmt.Errorf("model feature %q has %d weights for %d classes: retrain it", f, len(w), len(m.Classes))
		}
	}
	m.prepare()
	return &m, nil
}

// LoadModel reads a model from a file, or the embedded one for "" and "embedded".
func LoadModel(path string) (*Model, error) {
	if path == "" || path == "embedded" {
		return ParseModel(EmbeddedModel)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	m, err := ParseModel(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Marshal writes the model deterministically: the same training gives the same bytes.
func (m *Model) Marshal() ([]byte, error) {
	out := *m
	out.Weights = make(map[string][]float32, len(m.Weights))
	for f, w := range m.Weights {
		r := make([]float32, len(w))
		for i, x := range w {
			r[i] = float32(math.Round(float64(x)*1e4) / 1e4)
		}
		out.Weights[f] = r
	}
	out.Bias = append([]float64(nil), m.Bias...)
	for i, b := range out.Bias {
		out.Bias[i] = math.Round(b*1e4) / 1e4
	}
	b, err := json.Marshal(out) // map keys are sorted
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// logits writes the model's score of every class (indexed like m.Classes) into dst.
func (m *Model) logits(h *hits, dst []float64) {
	copy(dst, m.Bias)
	if h.n == 0 {
		return
	}
	k := len(m.Classes)
	v := featureValue(h.n)
	for _, i := range h.known {
		row := m.flat[int(i)*k : int(i)*k+k]
		for c, x := range row {
			dst[c] += float64(x) * v
		}
	}
}

// Feature is one piece of evidence the model weighed.
type Feature struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// topFeatures are the features that pushed class c up most, strongest first.
func (m *Model) topFeatures(h *hits, c, n int) []Feature {
	if h.n == 0 {
		return nil
	}
	k := len(m.Classes)
	v := featureValue(h.n)
	var out []Feature
	for _, i := range h.known {
		row := m.flat[int(i)*k : int(i)*k+k]
		// Relative to the mean of the other classes: what made c win, not what is common.
		other := 0.0
		for j, x := range row {
			if j != c {
				other += float64(x)
			}
		}
		d := (float64(row[c]) - other/float64(k-1)) * v
		if d > 0 {
			out = append(out, Feature{Name: m.names[i], Weight: math.Round(d*1000) / 1000})
		}
	}
	slices.SortFunc(out, func(a, b Feature) int {
		if a.Weight != b.Weight {
			return cmp.Compare(b.Weight, a.Weight)
		}
		return strings.Compare(a.Name, b.Name)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func softmax(x []float64) {
	maxv := math.Inf(-1)
	for _, v := range x {
		maxv = math.Max(maxv, v)
	}
	sum := 0.0
	for i, v := range x {
		x[i] = math.Exp(v - maxv)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

func (m *Model) classes() []string {
	if m == nil {
		return nil
	}
	return m.Classes
}

// featureValue is the value of each present feature in a mail with n features: n^-¼, a
// middle way between raw presence (long mails get overconfident) and unit length (long
// mails get timid).
func featureValue(n int) float64 { return 1 / math.Sqrt(math.Sqrt(float64(n))) }
