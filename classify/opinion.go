package classify

import (
	"fmt"

	"github.com/triagem/triagem/reason"
)

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
//     confident and the local probability is at least liftShare of its threshold;
//   - disagreement sends the case to review: the model can confirm, never redirect;
//   - a sensitive category is never entered or left on the model's word, and the model
//     cannot lift a case while a sensitive category keeps more probability than a sure
//     local decision would leave it;
//   - nor while the review category (no department) keeps reviewLiftMax of it, or one of
//     its rules fired ("já recebi", praise): whether a mail asks anything of a department
//     at all is a person's call.
func (c *Classifier) Consider(res *Result, op Opinion, minConfidence float64, always bool) {
	res.LLM = &op // op is this call's copy: later changes to it show in res
	if op.Error != "" || op.Confidence < minConfidence {
		op.Effect = "ignored"
		if op.Error == "" {
			op.Error = fmt.Sprintf("confidence %.2f is below llm.min_confidence %.2f", op.Confidence, minConfidence)
		}
		if always && !res.Unsure {
			res.Unsure = true
			res.Reasons = append(res.Reasons, reason.New("llm-unusable", op.Error))
		}
		return
	}
	if op.Category == res.Category {
		op.Effect = "agreed"
		if res.Unsure && c.canLift(res, op) {
			op.Effect = "decided"
			res.Unsure = false
			res.Method += "+llm"
			res.Reasons = append(res.Reasons, reason.New("llm-agrees", op.Category, fmt.Sprintf("%.2f", op.Confidence)))
		}
		return
	}
	op.Effect = "overruled"
	if !res.Unsure {
		res.Unsure = true
		res.Reasons = append(res.Reasons, reason.New("llm-disagrees", op.Category, res.Category))
		return
	}
	res.Reasons = append(res.Reasons, reason.New("llm-unsure", op.Category))
}

// liftShare: an agreeing model can lift a case whose probability is at least this share of
// its threshold. Below it the local guess is too weak for a second opinion, which might be
// wrong in the same way, to settle it. It was 0.75: on 250 fresh mails a model that
// answers at random, agreeing by chance, lifted wrong guesses at 0.73 and 0.76.
const liftShare = 0.85

// reviewLiftMax is the probability of the review category above which no opinion lifts a
// case: the wrong guesses that a chance agreement lifted had 0.14–0.21 of it.
const reviewLiftMax = 0.10

func (c *Classifier) canLift(res *Result, op Opinion) bool {
	if c.isReview(res.Category) || res.Probabilities == nil || res.Probabilities[c.review] >= reviewLiftMax {
		return false
	}
	for _, h := range res.Hits {
		if c.isReview(h.Category) {
			return false
		}
	}
	t := c.thresholdByName(res.Category)
	// The model may vouch for the doubt between ordinary categories only: the share left to
	// a sensitive one must be as small as a sure local decision would leave it.
	return res.Confidence >= liftShare*t && c.sensitiveShare(res, res.Category) <= 1-t
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
