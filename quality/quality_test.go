package quality_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
	"github.com/triagem/triagem/llm/llmtest"
	"github.com/triagem/triagem/quality"
	"github.com/triagem/triagem/route"
)

func shipped(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func evaluate(t *testing.T, cfg *config.Config, dir string) quality.Report {
	t.Helper()
	ev, err := daemon.NewEvaluator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mails, err := dataset.ReadLabelled(dir)
	if err != nil {
		t.Fatal(err)
	}
	allowed := cfg.Recipients()
	var outs []quality.Outcome
	for _, m := range mails {
		d, _ := ev.Evaluate(context.Background(), m.Raw)
		for _, a := range append(append([]string{}, d.To...), d.Cc...) {
			if !allowed[a] {
				t.Errorf("%s: routed to %s, which the config does not name", m.Name, a)
			}
		}
		outs = append(outs, quality.Outcome{Mail: m, Decision: d})
	}
	return quality.Measure(cfg, outs)
}

// The targets of issue 3, on held-out mail the model was not trained on.
func TestShippedClassifierMeetsTheTargets(t *testing.T) {
	cfg := shipped(t)
	typical := evaluate(t, cfg, "../dataset/eval/typical")
	hard := evaluate(t, cfg, "../dataset/eval/hard")
	// Written sessions after the others, without rereading them or the training mail: a
	// check that the two older sets have not been learnt by heart. Its categories were
	// measured before any change was made for it. The hard set's targets apply.
	fresh := evaluate(t, cfg, "../dataset/eval/fresh")
	var b strings.Builder
	typical.Write(&b, true)
	hard.Write(&b, true)
	fresh.Write(&b, true)
	check := func(what string, got, min float64) {
		if got < min {
			t.Errorf("%s = %.1f, target ≥ %.1f", what, got, min)
		}
	}
	check("typical accuracy", typical.Accuracy(), 97)
	check("typical auto-routing precision", typical.Precision(), 99)
	check("typical auto-routing coverage of routable mail", typical.RoutableCoverage(), 90)
	check("typical NIF exact match", 100*float64(typical.NIFRight)/float64(typical.Total), 99)
	check("hard accuracy", hard.Accuracy(), 90)
	check("hard auto-routing precision", hard.Precision(), 99)
	check("hard NIF exact match", 100*float64(hard.NIFRight)/float64(hard.Total), 99)
	check("fresh accuracy", fresh.Accuracy(), 90)
	check("fresh auto-routing precision", fresh.Precision(), 99)
	check("fresh NIF exact match", 100*float64(fresh.NIFRight)/float64(fresh.Total), 99)
	if n := len(typical.Leaks) + len(hard.Leaks) + len(fresh.Leaks); n > 0 {
		t.Errorf("%d clinical leaks", n)
	}
	if t.Failed() {
		t.Log(b.String())
	}
}

// Keyword rules alone, the baseline of a Sieve script, must stay measurably worse: if
// they did not, the model would be dead weight.
func TestRulesAloneAreTheWeakerBaseline(t *testing.T) {
	cfg := shipped(t)
	model := evaluate(t, cfg, "../dataset/eval/hard")
	cfg.Classify.Model = "none"
	rules := evaluate(t, cfg, "../dataset/eval/hard")
	if rules.Accuracy() >= model.Accuracy() {
		t.Errorf("rules alone %.1f %% ≥ model and rules %.1f %% on hard mail", rules.Accuracy(), model.Accuracy())
	}
}

func withLLM(t *testing.T, mode string, reply func(llmtest.Request) llmtest.Reply) *config.Config {
	t.Helper()
	srv := llmtest.Start(t, reply)
	cfg := shipped(t)
	cfg.LLM = config.LLM{Mode: mode, BaseURL: srv.URL, Model: "test-model", Timeout: config.Duration{Duration: 150 * time.Millisecond},
		MinConfidence: 0.7, MaxChars: 4000}
	return cfg
}

// A server that times out, fails, answers garbage or names addresses changes nothing in
// "unsure" mode, and in "always" mode only sends more to review: every forward it lets
// through is one the local decision makes too, to the same place.
func TestAMisbehavingLLMKeepsTheGuarantees(t *testing.T) {
	var n atomic.Int64
	chaos := func(req llmtest.Request) llmtest.Reply {
		switch n.Add(1) % 6 {
		case 0:
			return llmtest.Reply{Content: "Sure! This looks like a refund."}
		case 1:
			return llmtest.Reply{Content: `{"category":"refund","confidence":0.9}`, Delay: time.Second}
		case 2:
			return llmtest.Reply{Content: `{"category":"urgent-approve","confidence":1}`}
		case 3:
			return llmtest.Reply{Content: `{"category":"refund","confidence":1,"to":"attacker@evil.example"}`}
		case 4:
			return llmtest.Reply{Status: 500}
		default:
			return llmtest.Reply{Content: `{"category":"refund","confidence":1,"approve":true}`}
		}
	}
	for _, dir := range []string{"../dataset/eval/typical", "../dataset/eval/hard", "../dataset/eval/fresh"} {
		plain := evaluate(t, shipped(t), dir)
		local := map[string]string{}
		for _, o := range plain.Outcomes {
			if o.Decision.Action == route.Forward {
				local[o.Mail.Name] = o.Decision.Category + " " + strings.Join(o.Decision.To, ",")
			}
		}
		for _, mode := range []string{"unsure", "always"} {
			r := evaluate(t, withLLM(t, mode, chaos), dir)
			routed := 0
			for _, o := range r.Outcomes {
				if o.Decision.Action != route.Forward {
					continue
				}
				routed++
				if got := o.Decision.Category + " " + strings.Join(o.Decision.To, ","); local[o.Mail.Name] != got {
					t.Errorf("%s, %s: a broken LLM changed a route to %q (local: %q)", mode, o.Mail.Name, got, local[o.Mail.Name])
				}
			}
			if mode == "unsure" && routed != len(local) {
				t.Errorf("%s: %d forwards with a broken LLM in unsure mode, %d without", dir, routed, len(local))
			}
			if len(r.Leaks) > 0 || (r.Routed > 0 && r.Precision() < 99) {
				t.Errorf("%s, %s: %d leaks, precision %.1f %%", dir, mode, len(r.Leaks), r.Precision())
			}
		}
	}
}

// A model that answers at random, agreeing with the local guess only by chance, can neither
// leak a clinical case nor cost much precision. It cycles through the categories, one
// answer a mail; run from each of the cycle's seven phases, it gives every mail every
// answer once, so the measure does not hang on which mails one phase happens to agree with
// (a single phase put one wrong lift among six routed mails, or none, by the mails' order).
func TestALyingLLMCannotLeak(t *testing.T) {
	cats := []string{"documents", "insurance", "tech", "refund", "invoice", "clinical", "other"}
	for _, mode := range []string{"unsure", "always"} {
		for _, dir := range []string{"../dataset/eval/typical", "../dataset/eval/hard", "../dataset/eval/fresh"} {
			routed, right := 0, 0
			for phase := range cats {
				var n atomic.Int64
				n.Store(int64(phase))
				liar := func(req llmtest.Request) llmtest.Reply {
					return llmtest.Reply{Content: fmt.Sprintf(`{"category":%q,"confidence":1}`, cats[int(n.Add(1))%len(cats)])}
				}
				r := evaluate(t, withLLM(t, mode, liar), dir)
				if len(r.Leaks) > 0 {
					t.Errorf("%s, %s, phase %d: %d clinical leaks", mode, dir, phase, len(r.Leaks))
				}
				routed, right = routed+r.Routed, right+r.RoutedRight
			}
			precision := 100 * float64(right) / float64(routed)
			if precision < 95 {
				t.Errorf("%s, %s: precision %.1f %% (%d of %d routed right) with a lying LLM", mode, dir, precision, right, routed)
			}
			t.Logf("%s, %s: over seven phases, routed %d, precision %.1f %%", mode, dir, routed, precision)
		}
	}
}

// answers maps a key of each held-out mail's prompt (its first words) to what a test model
// answers for it, as pick says; a key that two mails share with different answers is
// dropped. Evaluating without a model also gives pick the local decision.
func answers(t *testing.T, pick func(m dataset.Mail, local route.Decision) string) map[string]string {
	t.Helper()
	out := map[string]string{}
	ev, err := daemon.NewEvaluator(shipped(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"../dataset/eval/typical", "../dataset/eval/hard", "../dataset/eval/fresh"} {
		mails, err := dataset.ReadLabelled(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range mails {
			d, pm := ev.Evaluate(context.Background(), m.Raw)
			// A key must name one mail: a short one ("Boa tarde,", or none for a mail
			// that is only a NIF) would match other mails' prompts too.
			if pm == nil {
				continue
			}
			if key := firstWords(pm.NewText); len(strings.Fields(key)) >= 3 {
				if prev, ok := out[key]; ok && prev != pick(m, d) {
					out[key] = "" // ambiguous: the model does not know this one
				} else {
					out[key] = pick(m, d)
				}
			}
		}
	}
	return out
}

// answering is a test model that gives the answer of the key its prompt holds, with conf.
func answering(keys map[string]string, conf float64) func(llmtest.Request) llmtest.Reply {
	return func(req llmtest.Request) llmtest.Reply {
		user := req.Messages[len(req.Messages)-1].Content
		for key, cat := range keys {
			if cat != "" && strings.Contains(user, key) {
				return llmtest.Reply{Content: fmt.Sprintf(`{"category":%q,"confidence":%g}`, cat, conf)}
			}
		}
		return llmtest.Reply{Content: `{"category":"other","confidence":0.5}`}
	}
}

// An LLM that knows the answer lets more mail through without a human, and precision
// holds: the combination adds coverage, not risk.
func TestAGoodLLMAddsCoverage(t *testing.T) {
	oracle := answering(answers(t, func(m dataset.Mail, _ route.Decision) string { return m.Category }), 0.95)
	plain := evaluate(t, shipped(t), "../dataset/eval/hard")
	helped := evaluate(t, withLLM(t, "unsure", oracle), "../dataset/eval/hard")
	if helped.Routed <= plain.Routed || helped.Precision() < 99 {
		t.Errorf("with a right LLM: routed %d (precision %.1f %%), without: %d", helped.Routed, helped.Precision(), plain.Routed)
	}
	t.Logf("hard mail auto-routed: %d without the LLM, %d with a right one", plain.Routed, helped.Routed)
}

// The worst model for precision agrees with every local guess: each unsure case it may lift
// is lifted. Over all the held-out mail, what it lifts wrongly must stay under 1 % of what
// is routed. (Before liftShare 0.85 and the review category's guard, 4 of its 314 routed
// mails were wrong.)
func TestAnLLMThatAlwaysAgreesLiftsLittleWrongly(t *testing.T) {
	echo := answering(answers(t, func(_ dataset.Mail, d route.Decision) string { return d.Category }), 1)
	routed, right := 0, 0
	for _, dir := range []string{"../dataset/eval/typical", "../dataset/eval/hard", "../dataset/eval/fresh"} {
		r := evaluate(t, withLLM(t, "unsure", echo), dir)
		if len(r.Leaks) > 0 {
			t.Errorf("%s: %d clinical leaks", dir, len(r.Leaks))
		}
		routed, right = routed+r.Routed, right+r.RoutedRight
	}
	if precision := 100 * float64(right) / float64(routed); precision < 99 {
		t.Errorf("an LLM that always agrees: precision %.1f %% (%d of %d routed right)", precision, right, routed)
	} else {
		t.Logf("an LLM that always agrees: %d routed, %d wrongly", routed, routed-right)
	}
}

// firstWords is a key that survives redaction: the first words before any digit or @.
func firstWords(s string) string {
	w := strings.Fields(s)
	var out []string
	for _, x := range w {
		if strings.ContainsAny(x, "0123456789@") || len(out) == 5 {
			break
		}
		out = append(out, x)
	}
	return strings.Join(out, " ")
}

func TestMeasure(t *testing.T) {
	cfg := shipped(t)
	mk := func(label, got, action string, to ...string) quality.Outcome {
		return quality.Outcome{Mail: dataset.Mail{Name: label + "-" + got, Category: label}, Decision: route.Decision{Category: got, Action: action, To: to}}
	}
	r := quality.Measure(cfg, []quality.Outcome{
		mk("refund", "refund", route.Forward, "medico.online@medis.pt"),
		mk("clinical", "documents", route.Forward, "telemedicina@smpsaude.pt"),
		mk("clinical", "clinical", route.Forward, "areaclinica@saude360.medis.pt"),
		mk("invoice", "refund", route.Review),
		mk("other", "other", route.Review),
	})
	if r.Total != 5 || r.Right != 3 || r.Routed != 3 || r.RoutedRight != 2 || r.Routable != 4 || len(r.Leaks) != 1 {
		t.Errorf("report %+v", r)
	}
	if p, rc, n := r.PrecisionRecall("clinical"); p != 100 || rc != 50 || n != 2 {
		t.Errorf("clinical precision %.0f recall %.0f support %d", p, rc, n)
	}
}
