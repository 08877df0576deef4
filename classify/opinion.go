package classify

import "fmt"

// Opinion is a language model's answer about one mail, after triagem checked it. The model
// only ever names a category: addresses, folders and replies come from the config.
type Opinion struct {
	Model      string  `json:"model"`
	PromptHash string  `json:"prompt_sha256"`
	Raw        string  `json:"raw"`
	Category   string  `json:"category,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	// Error says why the answer could not be used (timeout, invalid JSON, not a category).
	Error string `json:"error,omitempty"`
	// Effect is what the opinion changed: "agreed", "decided", "overruled", "ignored".
	Effect string `json:"effect"`
}

// Consider folds an opinion into res. The rules are conservative on purpose, so that a
// misbehaving or manipulated model can make a case go to review but can never push a
// mail to a department the local evidence argues against:
//   - an unusable answer (Error set, or below minConfidence) changes nothing, except that
//     when always asked, a case is not routed without the opinion;
//   - agreement keeps the local decision, and lets an unsure one through when the model is
//     confident and the local probability of that category is at least half its threshold;
//   - disagreement with a sure local decision sends the case to review;
//   - a sensitive category is never entered or left on the model's word, and the model
//     cannot lift a case while a sensitive category keeps more probability than a sure
//     local decision would leave it.
func (c *Classifier) Consider(res *Result, op Opinion, minConfidence float64, always bool) {
	res.LLM = &op
	if op.Error != "" || op.Confidence < minConfidence {
		op.Effect = "ignored"
		if op.Error == "" {
			op.Error = fmt.Sprintf("confidence %.2f is below llm.min_confidence %.2f", op.Confidence, minConfidence)
		}
		res.LLM = &op
		if always && !res.Unsure {
			res.Unsure = true
			res.Reasons = append(res.Reasons, "the language model gave no usable answer ("+op.Error+"): a human decides")
		}
		return
	}
	if op.Category == res.Category {
		op.Effect = "agreed"
		if res.Unsure && c.canLift(res, op) {
			op.Effect = "decided"
			res.Unsure = false
			res.Method += "+llm"
			res.Reasons = append(res.Reasons, fmt.Sprintf("the language model agrees (%s, %.2f): routed", op.Category, op.Confidence))
		}
		res.LLM = &op
		return
	}
	op.Effect = "overruled"
	res.LLM = &op
	if !res.Unsure {
		res.Unsure = true
		res.Reasons = append(res.Reasons, fmt.Sprintf("the language model says %s, the local model %s: a human decides", op.Category, res.Category))
		return
	}
	// Locally unsure and the model names another category: follow it only if the local
	// evidence gives that category a fair chance, and never into or out of a sensitive one.
	p := res.Probabilities[op.Category]
	if res.Probabilities == nil || c.sensitive[op.Category] || c.sensitive[res.Category] || c.isReview(op.Category) ||
		p < 0.5*c.thresholdByName(op.Category) || c.sensitiveShare(res, op.Category) > 1-c.thresholdByName(op.Category) {
		res.Reasons = append(res.Reasons, fmt.Sprintf("the language model says %s, which the local evidence does not support enough: a human decides", op.Category))
		return
	}
	op.Effect = "decided"
	res.LLM = &op
	res.Reasons = append(res.Reasons, fmt.Sprintf("unsure locally; the language model says %s (%.2f), which had %.2f locally: routed", op.Category, op.Confidence, p))
	res.Category, res.Confidence, res.Unsure = op.Category, p, false
	res.Method += "+llm"
}

func (c *Classifier) canLift(res *Result, op Opinion) bool {
	if c.isReview(res.Category) || res.Probabilities == nil {
		return false
	}
	t := c.thresholdByName(res.Category)
	// The model may vouch for the doubt between ordinary categories only: the share left to
	// a sensitive one must be as small as a sure local decision would leave it.
	return res.Confidence >= 0.5*t && c.sensitiveShare(res, res.Category) <= 1-t
}

// sensitiveShare is the probability of the sensitive categories other than except.
func (c *Classifier) sensitiveShare(res *Result, except string) float64 {
	sum := 0.0
	for name, p := range res.Probabilities {
		if c.sensitive[name] && name != except {
			sum += p
		}
	}
	return sum
}

func (c *Classifier) isReview(name string) bool { return name == c.review }

func (c *Classifier) thresholdByName(name string) float64 {
	for i, cat := range c.cats {
		if cat.name == name {
			return c.thresholdOf(i)
		}
	}
	return 1
}
