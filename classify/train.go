package classify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"sort"

	"github.com/triagem/triagem/config"
)

// Example is one labelled mail to learn from.
type Example struct {
	Name     string
	Input    Input
	Category string
}

// TrainOptions tune training; the zero value gives the defaults used for the shipped model.
type TrainOptions struct {
	Epochs     int     // full passes of gradient descent (300)
	L2         float64 // weight decay (0.001)
	MinDocFreq int     // a feature must occur in this many examples (2)
	Folds      int     // cross-validation folds for calibration (5)
	LR         float64 // gradient step (1)
	// TargetPrecision is what calibration aims at for automatic routing (0.99).
	TargetPrecision float64
	// Log, when set, receives every cross-validation mistake: the examples to read first
	// when improving the training set.
	Log io.Writer
}

func (o *TrainOptions) defaults() {
	if o.Epochs == 0 {
		o.Epochs = 300
	}
	if o.L2 == 0 {
		o.L2 = 0.001
	}
	if o.MinDocFreq == 0 {
		o.MinDocFreq = 2
	}
	if o.LR == 0 {
		o.LR = 1
	}
	if o.Folds == 0 {
		o.Folds = 5
	}
	if o.TargetPrecision == 0 {
		o.TargetPrecision = 0.99
	}
}

// Train fits a model to examples for the categories of cfg, then calibrates a threshold
// per category by cross-validation: each example is scored by a model that never saw it,
// combined with cfg's rules exactly as in production, and the threshold is the least
// probability above which those held-out routes were right often enough.
func Train(cfg *config.Config, examples []Example, opt TrainOptions) (*Model, error) {
	opt.defaults()
	classes := make([]string, 0, len(cfg.Categories))
	index := map[string]int{}
	for _, c := range cfg.Categories {
		index[c.Name] = len(classes)
		classes = append(classes, c.Name)
	}
	perClass := map[string]int{}
	for _, e := range examples {
		if _, ok := index[e.Category]; !ok {
			return nil, fmt.Errorf("example %s is labelled %q, which is not a category of the config", e.Name, e.Category)
		}
		perClass[e.Category]++
	}
	for _, c := range classes {
		if perClass[c] < opt.Folds {
			return nil, fmt.Errorf("category %q has %d examples: write at least %d", c, perClass[c], opt.Folds)
		}
	}
	ordered := append([]Example(nil), examples...)
	sort.Slice(ordered, func(i, j int) bool { return ordered[i].Name < ordered[j].Name })

	m := fit(classes, index, ordered, opt)

	// Out-of-fold logits for calibration: every example scored by a model that never saw it.
	type oof struct {
		truth  int
		logits []float64
		name   string
	}
	var held []oof
	for k := 0; k < opt.Folds; k++ {
		var train, test []Example
		for _, e := range ordered {
			if foldOf(e.Name, opt.Folds) == k {
				test = append(test, e)
			} else {
				train = append(train, e)
			}
		}
		cl, err := NewWithModel(cfg, fit(classes, index, train, opt))
		if err != nil {
			return nil, err
		}
		s := cl.pool.Get().(*scratch)
		for _, e := range test {
			var r Result
			r.Scores = map[string]float64{}
			words := sectionWords(e.Input)
			cl.ruleScores(e.Input.Subject, &words, &r)
			cl.combined(e.Input.Subject, &words, r.Scores, s)
			held = append(held, oof{index[e.Category], append([]float64(nil), s.final...), e.Name})
		}
	}

	// Temperature: the one that makes the held-out probabilities most likely.
	probs := func(l []float64, t float64) []float64 {
		p := make([]float64, len(l))
		for i, x := range l {
			p[i] = x / t
		}
		softmax(p)
		return p
	}
	bestT, bestNLL := 1.0, math.Inf(1)
	for t := 0.1; t <= 3.0001; t += 0.05 {
		nll := 0.0
		for _, h := range held {
			nll -= math.Log(math.Max(probs(h.logits, t)[h.truth], 1e-12))
		}
		if nll < bestNLL-1e-9 {
			bestT, bestNLL = t, nll
		}
	}
	m.Temperature = math.Round(bestT*100) / 100
	type pred struct {
		truth, pred string
		p           float64
	}
	var preds []pred
	for _, h := range held {
		p := probs(h.logits, m.Temperature)
		top := 0
		for i := range p {
			if p[i] > p[top] {
				top = i
			}
		}
		preds = append(preds, pred{classes[h.truth], classes[top], p[top]})
		if opt.Log != nil && h.truth != top {
			fmt.Fprintf(opt.Log, "held out: %s labelled %s, scored %s %.2f\n", h.name, classes[h.truth], classes[top], p[top])
		}
	}

	// Thresholds: first the least probability at which the held-out routes of all
	// categories together reach the target precision; then, per category, as much higher
	// as it takes for that category alone to stay within classPrecision.
	review := cfg.ReviewCategory()
	grid := []float64{0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99}
	count := func(class string, t float64) (n, wrong int) {
		for _, p := range preds {
			if p.pred != review && (class == "" || p.pred == class) && p.p >= t {
				n++
				if p.truth != p.pred {
					wrong++
				}
			}
		}
		return n, wrong
	}
	global := grid[len(grid)-1]
	for _, t := range grid {
		if n, wrong := count("", t); float64(wrong) <= (1-opt.TargetPrecision)*float64(n) {
			global = t
			break
		}
	}
	m.Thresholds = map[string]float64{}
	for _, c := range classes {
		if c == review {
			continue
		}
		m.Thresholds[c] = grid[len(grid)-1]
		for _, t := range grid {
			if t < global {
				continue
			}
			if n, wrong := count(c, t); float64(wrong) <= (1-classPrecision)*float64(n) {
				m.Thresholds[c] = t
				break
			}
		}
	}

	right, routed, routedRight := 0, 0, 0
	for _, p := range preds {
		if p.pred == p.truth {
			right++
		}
		if p.pred != review && p.p >= math.Max(cfg.Classify.Threshold, m.Thresholds[p.pred]) {
			routed++
			if p.pred == p.truth {
				routedRight++
			}
		}
	}
	h := sha256.New()
	for _, e := range ordered {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00", e.Name, e.Category, e.Input.Subject, e.Input.NewText, e.Input.Quoted)
	}
	m.Info = ModelInfo{
		Examples: len(ordered), PerClass: perClass, ExamplesHash: hex.EncodeToString(h.Sum(nil)),
		RuleWeight: cfg.Classify.RuleWeight, Epochs: opt.Epochs, L2: opt.L2, MinDocFreq: opt.MinDocFreq,
		CVAccuracy:  round3(float64(right) / float64(len(preds))),
		CVCoverage:  round3(float64(routed) / float64(len(preds))),
		CVPrecision: round3(float64(routedRight) / math.Max(1, float64(routed))),
	}
	return m, nil
}

// classPrecision is the least held-out precision of one category's automatic routes; below
// the pooled target because one category has few examples and one hard one among them
// should not stop all its routing.
const classPrecision = 0.97

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// foldOf assigns an example to a cross-validation fold by its name, so adding one example
// does not reshuffle the others.
func foldOf(name string, k int) int {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int(h.Sum32() % uint32(k))
}

type sparse struct {
	idx   []int
	value float64
	class int
}

// fit runs full-batch gradient descent on the softmax loss with L2 decay. It is
// deterministic: the same examples in the same order give the same weights.
func fit(classes []string, index map[string]int, examples []Example, opt TrainOptions) *Model {
	fs := newFeatureSet()
	df := map[string]int{}
	docs := make([][]string, len(examples))
	for i, e := range examples {
		fs.extract(e.Input)
		docs[i] = append([]string(nil), fs.names...)
		for _, n := range fs.names {
			df[n]++
		}
	}
	var vocab []string
	for f, n := range df {
		if n >= opt.MinDocFreq {
			vocab = append(vocab, f)
		}
	}
	sort.Strings(vocab)
	fidx := make(map[string]int, len(vocab))
	for i, f := range vocab {
		fidx[f] = i
	}
	data := make([]sparse, len(examples))
	for i, d := range docs {
		s := sparse{class: index[examples[i].Category]}
		if len(d) > 0 {
			s.value = featureValue(len(d))
		}
		for _, n := range d {
			if j, ok := fidx[n]; ok {
				s.idx = append(s.idx, j)
			}
		}
		data[i] = s
	}

	K, F, N := len(classes), len(vocab), float64(len(data))
	w := make([]float64, F*K)
	b := make([]float64, K)

	gw := make([]float64, F*K)
	gb := make([]float64, K)
	p := make([]float64, K)
	lr := opt.LR
	for epoch := 0; epoch < opt.Epochs; epoch++ {
		clear(gw)
		clear(gb)
		for _, s := range data {
			copy(p, b)
			for _, j := range s.idx {
				for k := 0; k < K; k++ {
					p[k] += w[j*K+k] * s.value
				}
			}
			softmax(p)
			p[s.class] -= 1
			for k := 0; k < K; k++ {
				gb[k] += p[k]
			}
			for _, j := range s.idx {
				for k := 0; k < K; k++ {
					gw[j*K+k] += p[k] * s.value
				}
			}
		}
		for k := 0; k < K; k++ {
			b[k] -= lr * gb[k] / N
		}
		for i := range w {
			w[i] -= lr * (gw[i]/N + opt.L2*w[i])
		}
	}

	m := &Model{Format: modelFormat, Classes: classes, Bias: b, Weights: make(map[string][]float32, F)}
	for i, f := range vocab {
		row := make([]float32, K)
		for k := 0; k < K; k++ {
			row[k] = float32(w[i*K+k])
		}
		m.Weights[f] = row
	}
	return m
}
