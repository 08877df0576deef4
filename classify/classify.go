// Package classify decides which category a customer mail belongs to, with a confidence
// and a trace of the evidence, from the rules in the configuration.
package classify

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/textnorm"
)

// Input is the text of one mail, already split by the parser.
type Input struct {
	Subject string
	NewText string
	Quoted  string
}

// Hit is one rule that fired: the evidence behind a score.
type Hit struct {
	Category string  `json:"category"`
	Rule     string  `json:"rule"`
	Phrase   string  `json:"phrase"`
	Where    string  `json:"where"` // subject | new | quoted
	Score    float64 `json:"score"`
}

// Result is a decision and everything needed to explain it.
type Result struct {
	Category   string  `json:"category"`
	Confidence float64 `json:"confidence"`
	// Unsure is true when the mail must go to human review rather than be routed.
	Unsure  bool               `json:"unsure"`
	Scores  map[string]float64 `json:"scores"`
	Hits    []Hit              `json:"hits"`
	Reasons []string           `json:"reasons"`
}

// Classifier holds the compiled rules of one configuration. It is safe for concurrent use.
type Classifier struct {
	cats          []category
	review        string
	sensitive     map[string]bool
	threshold     float64
	minScore      float64
	subjectWeight float64
	quotedWeight  float64
}

type category struct {
	name  string
	rules []rule
}

type rule struct {
	name   string
	weight float64
	any    []phrase
	unless []phrase
}

// phrase is a folded word sequence, " w1 w2 ", matched on word boundaries; prefix means the
// last word may continue ("errad*" matches "errada").
type phrase struct {
	text   string
	needle string
	prefix bool
}

// New compiles the categories of cfg.
func New(cfg *config.Config) (*Classifier, error) {
	c := &Classifier{
		review:        cfg.ReviewCategory(),
		sensitive:     map[string]bool{},
		threshold:     cfg.Classify.Threshold,
		minScore:      cfg.Classify.MinScore,
		subjectWeight: cfg.Classify.SubjectWeight,
		quotedWeight:  cfg.Classify.QuotedWeight,
	}
	for _, cc := range cfg.Categories {
		if cc.Sensitive {
			c.sensitive[cc.Name] = true
		}
		cat := category{name: cc.Name}
		for _, r := range cc.Rules {
			cr := rule{name: r.Name, weight: r.Weight}
			for _, p := range r.Any {
				ph, err := compile(p)
				if err != nil {
					return nil, fmt.Errorf("category %s, rule %s: %w", cc.Name, r.Name, err)
				}
				cr.any = append(cr.any, ph)
			}
			for _, p := range r.Unless {
				ph, err := compile(p)
				if err != nil {
					return nil, fmt.Errorf("category %s, rule %s: %w", cc.Name, r.Name, err)
				}
				cr.unless = append(cr.unless, ph)
			}
			cat.rules = append(cat.rules, cr)
		}
		c.cats = append(c.cats, cat)
	}
	return c, nil
}

func compile(p string) (phrase, error) {
	prefix := strings.HasSuffix(strings.TrimSpace(p), "*")
	words := textnorm.Words(strings.TrimSuffix(strings.TrimSpace(p), "*"))
	if len(words) == 0 {
		return phrase{}, fmt.Errorf("phrase %q has no words", p)
	}
	j := strings.Join(words, " ")
	ph := phrase{text: p, prefix: prefix, needle: " " + j + " "}
	if prefix {
		ph.needle = " " + j
	}
	return ph, nil
}

// folded is a text prepared for phrase matching: its words, joined by single spaces and
// framed by spaces, so every word boundary is a space.
type folded string

func fold(s string) folded {
	return folded(" " + strings.Join(textnorm.Words(s), " ") + " ")
}

func (f folded) has(p phrase) bool { return strings.Contains(string(f), p.needle) }

func (f folded) hasAny(ps []phrase) (phrase, bool) {
	for _, p := range ps {
		if f.has(p) {
			return p, true
		}
	}
	return phrase{}, false
}

// Classify scores in against every category. Each rule counts once, in the section where
// it weighs most: new text 1, subject SubjectWeight, quoted history QuotedWeight.
func (c *Classifier) Classify(in Input) Result {
	sections := []struct {
		name   string
		text   folded
		weight float64
	}{
		{"subject", fold(in.Subject), c.subjectWeight},
		{"new", fold(in.NewText), 1},
		{"quoted", fold(in.Quoted), c.quotedWeight},
	}
	res := Result{Scores: map[string]float64{}}
	for _, cat := range c.cats {
		for _, r := range cat.rules {
			var best *Hit
			for _, s := range sections {
				if s.weight <= 0 {
					continue
				}
				p, ok := s.text.hasAny(r.any)
				if !ok {
					continue
				}
				if _, blocked := s.text.hasAny(r.unless); blocked {
					continue
				}
				score := r.weight * s.weight
				if best == nil || score > best.Score {
					best = &Hit{Category: cat.name, Rule: r.name, Phrase: p.text, Where: s.name, Score: score}
				}
			}
			if best != nil {
				res.Scores[cat.name] += best.Score
				res.Hits = append(res.Hits, *best)
			}
		}
	}
	sort.SliceStable(res.Hits, func(i, j int) bool { return res.Hits[i].Score > res.Hits[j].Score })
	c.decide(&res)
	return res
}

// decide turns scores into a category and a confidence. Confidence is the winner's share of
// the two best scores, damped when the evidence is thin; below the threshold, or with too
// little evidence, the case goes to review.
func (c *Classifier) decide(res *Result) {
	type cs struct {
		name  string
		score float64
	}
	var ranked []cs
	for n, s := range res.Scores {
		ranked = append(ranked, cs{n, s})
	}
	sort.Slice(ranked, func(i, j int) bool {
		if ranked[i].score != ranked[j].score {
			return ranked[i].score > ranked[j].score
		}
		return ranked[i].name < ranked[j].name
	})
	if len(ranked) == 0 || ranked[0].score < c.minScore {
		res.Category, res.Unsure = c.review, true
		res.Reasons = append(res.Reasons, "no category has enough evidence")
		return
	}
	top := ranked[0]
	second := 0.0
	if len(ranked) > 1 {
		second = ranked[1].score
	}
	share := top.score / (top.score + second)
	evidence := 1 - math.Exp(-1.5*top.score/c.minScore)
	res.Category = top.name
	res.Confidence = math.Round(share*evidence*1000) / 1000
	res.Reasons = append(res.Reasons, fmt.Sprintf("%s scored %.2f, next best %.2f", top.name, top.score, second))
	if res.Confidence < c.threshold {
		res.Unsure = true
		res.Reasons = append(res.Reasons, fmt.Sprintf("confidence %.2f is below the threshold %.2f", res.Confidence, c.threshold))
	}
	// A sensitive category (clinical) that has real evidence but lost must not be routed
	// elsewhere: a human decides.
	for _, r := range ranked[1:] {
		if c.sensitive[r.name] && r.score >= c.minScore && !res.Unsure {
			res.Unsure = true
			res.Reasons = append(res.Reasons, fmt.Sprintf("%s also has evidence (%.2f): a sensitive case is never routed elsewhere on a guess", r.name, r.score))
		}
	}
}
