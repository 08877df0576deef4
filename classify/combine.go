package classify

import (
	"fmt"
	"math"
	"sort"

	"github.com/triagem/triagem/reason"
)

// decideModel combines the model with the rule scores: each category's logit is the
// model's plus rule_weight × its rule score, and the softmax of those is the confidence.
// Rules thus stay the operator's lever: a new phrase shifts the decision without
// retraining, and a category the model does not know can still win on rules alone.
func (c *Classifier) decideModel(subject string, words *[3][]string, res *Result) {
	s := c.pool.Get().(*scratch)
	defer c.pool.Put(s)
	c.combined(subject, words, res.Scores, s)
	t := c.model.Temperature
	if t <= 0 {
		t = 1
	}
	for i := range s.final {
		s.final[i] /= t
	}
	softmax(s.final)

	res.Probabilities = make(map[string]float64, len(c.cats))
	order := make([]int, len(c.cats))
	for i, cat := range c.cats {
		res.Probabilities[cat.name] = math.Round(s.final[i]*1000) / 1000
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return s.final[order[a]] > s.final[order[b]] })
	top := c.cats[order[0]]
	p := s.final[order[0]]
	res.Category = top.name
	res.Confidence = math.Round(p*1000) / 1000
	if j := c.modelIdx[order[0]]; j >= 0 {
		res.Features = c.model.topFeatures(s.hits, j, 8)
	}
	next := c.cats[order[1%len(order)]]
	res.Threshold = c.thresholdOf(order[0])
	shown := apart(p, res.Threshold)
	res.Reasons = append(res.Reasons, reason.New("probability", top.name, shown, next.name, fmt.Sprintf("%.2f", s.final[order[1%len(order)]])))

	if top.name == c.review {
		res.Unsure = true
		return
	}
	if p < res.Threshold {
		res.Unsure = true
		res.Reasons = append(res.Reasons, reason.New("below-threshold", shown, fmt.Sprintf("%.2f", res.Threshold), top.name))
	}
	// A sensitive category (clinical) with a real chance must not be routed elsewhere.
	for _, i := range order[1:] {
		if c.sensitive[c.cats[i].name] && s.final[i] >= c.sensitiveFloor && !res.Unsure {
			res.Unsure = true
			res.Reasons = append(res.Reasons, reason.New("sensitive-probability", c.cats[i].name, fmt.Sprintf("%.2f", s.final[i])))
		}
	}
}

// combined fills s.final with each category's logit before calibration: the model's plus
// rule_weight × the rule score.
func (c *Classifier) combined(subject string, words *[3][]string, scores map[string]float64, s *scratch) {
	s.hits.extract(IsReplySubject(subject), words, c.model)
	c.model.logits(s.hits, s.logits)
	floor := math.Inf(1)
	for _, l := range s.logits {
		floor = math.Min(floor, l)
	}
	for i, cat := range c.cats {
		base := floor
		if j := c.modelIdx[i]; j >= 0 {
			base = s.logits[j]
		}
		s.final[i] = base + c.ruleWeight*scores[cat.name]
	}
}

// thresholdOf is the least probability category i needs: the highest of classify.threshold,
// the model's calibrated value, and the category's own threshold.
func (c *Classifier) thresholdOf(i int) float64 {
	t := math.Max(c.threshold, c.cats[i].threshold)
	if c.model != nil {
		t = math.Max(t, c.model.Thresholds[c.cats[i].name])
	}
	return t
}

// apart writes p with two decimals, or, when p is below threshold but would read as it,
// with as many more as show it below, cut rather than rounded: "0.966 is below the 0.97
// needed", never "0.97 is below the 0.97".
func apart(p, threshold float64) string {
	s := fmt.Sprintf("%.2f", p)
	if p >= threshold || s != fmt.Sprintf("%.2f", threshold) {
		return s
	}
	for prec := 3; prec < 9; prec++ {
		scale := math.Pow10(prec)
		if v := math.Floor(p*scale) / scale; v < threshold {
			return fmt.Sprintf("%.*f", prec, v)
		}
	}
	return fmt.Sprintf("%.9f", p)
}
