package classify_test

import (
	"testing"

	"github.com/triagem/triagem/classify"
)

func TestConsider(t *testing.T) {
	c := shipped(t)
	probs := func(kv ...any) map[string]float64 {
		m := map[string]float64{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1].(float64)
		}
		return m
	}
	cases := []struct {
		name       string
		res        classify.Result
		op         classify.Opinion
		always     bool
		wantCat    string
		wantSure   bool
		wantEffect string
	}{
		{"agrees with a sure decision", classify.Result{Category: "refund", Confidence: 0.97, Probabilities: probs("refund", 0.97)},
			classify.Opinion{Category: "refund", Confidence: 0.9}, false, "refund", true, "agreed"},
		{"agreement lifts an unsure decision", classify.Result{Category: "refund", Confidence: 0.85, Unsure: true, Probabilities: probs("refund", 0.85, "invoice", 0.15)},
			classify.Opinion{Category: "refund", Confidence: 0.9}, false, "refund", true, "decided"},
		{"agreement does not lift a weak one", classify.Result{Category: "refund", Confidence: 0.3, Unsure: true, Probabilities: probs("refund", 0.3, "invoice", 0.29)},
			classify.Opinion{Category: "refund", Confidence: 0.9}, false, "refund", false, "agreed"},
		{"agreement does not lift past clinical evidence", classify.Result{Category: "documents", Confidence: 0.85, Unsure: true, Probabilities: probs("documents", 0.85, "clinical", 0.14)},
			classify.Opinion{Category: "documents", Confidence: 0.99}, false, "documents", false, "agreed"},
		{"disagreement with a sure decision → review", classify.Result{Category: "invoice", Confidence: 0.97, Probabilities: probs("invoice", 0.97)},
			classify.Opinion{Category: "refund", Confidence: 1}, true, "invoice", false, "overruled"},
		{"unsure, and the model names another: review", classify.Result{Category: "tech", Confidence: 0.5, Unsure: true, Probabilities: probs("tech", 0.5, "refund", 0.49)},
			classify.Opinion{Category: "refund", Confidence: 0.9}, false, "tech", false, "overruled"},
		{"unsure, and the model names an implausible other", classify.Result{Category: "tech", Confidence: 0.6, Unsure: true, Probabilities: probs("tech", 0.6, "refund", 0.05)},
			classify.Opinion{Category: "refund", Confidence: 0.99}, false, "tech", false, "overruled"},
		{"the model may not move a mail out of clinical", classify.Result{Category: "clinical", Confidence: 0.5, Unsure: true, Probabilities: probs("clinical", 0.5, "documents", 0.49)},
			classify.Opinion{Category: "documents", Confidence: 0.99}, false, "clinical", false, "overruled"},
		{"nor into clinical on its word", classify.Result{Category: "documents", Confidence: 0.5, Unsure: true, Probabilities: probs("documents", 0.5, "clinical", 0.49)},
			classify.Opinion{Category: "clinical", Confidence: 0.99}, false, "documents", false, "overruled"},
		{"an error changes nothing", classify.Result{Category: "refund", Confidence: 0.97, Probabilities: probs("refund", 0.97)},
			classify.Opinion{Error: "timeout"}, false, "refund", true, "ignored"},
		{"an error in always mode → review", classify.Result{Category: "refund", Confidence: 0.97, Probabilities: probs("refund", 0.97)},
			classify.Opinion{Error: "timeout"}, true, "refund", false, "ignored"},
		{"a timid answer is ignored", classify.Result{Category: "tech", Confidence: 0.5, Unsure: true, Probabilities: probs("tech", 0.5, "refund", 0.49)},
			classify.Opinion{Category: "refund", Confidence: 0.2}, false, "tech", false, "ignored"},
		{"the review category is never lifted", classify.Result{Category: "other", Confidence: 0.8, Unsure: true, Probabilities: probs("other", 0.8)},
			classify.Opinion{Category: "other", Confidence: 0.99}, false, "other", false, "agreed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := tc.res
			res.Method = "model+rules"
			c.Consider(&res, tc.op, 0.7, tc.always)
			if res.Category != tc.wantCat || res.Unsure == tc.wantSure || res.LLM == nil || res.LLM.Effect != tc.wantEffect {
				t.Errorf("got %s unsure=%v effect=%v, want %s sure=%v %s (%v)", res.Category, res.Unsure, res.LLM, tc.wantCat, tc.wantSure, tc.wantEffect, res.Reasons)
			}
		})
	}
}
