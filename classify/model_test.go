package classify_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/dataset"
	"github.com/triagem/triagem/parse"
)

func shippedConfig(t testing.TB) *config.Config {
	t.Helper()
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The embedded model must be what `triagem train` makes of the shipped examples and
// config: a changed example, rule or training option without retraining fails here.
func TestEmbeddedModelIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("retraining takes a few seconds; run without -short")
	}
	cfg := shippedConfig(t)
	m, err := dataset.Train(cfg, "../dataset/train", daemon.ParseLimits(cfg), classify.TrainOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, classify.EmbeddedModel) {
		t.Fatalf("classify/model.json is stale: run `go run ./cmd/triagem train` and commit it (trained %d bytes, embedded %d)", len(b), len(classify.EmbeddedModel))
	}
}

// No evaluation mail may be a training mail, or a near copy of one: the figures in the
// README would be memory, not judgement.
func TestEvaluationMailIsNotTrainingMail(t *testing.T) {
	cfg := shippedConfig(t)
	train, err := dataset.ReadTraining("../dataset/train")
	if err != nil {
		t.Fatal(err)
	}
	trainEx, err := dataset.Examples(train, daemon.ParseLimits(cfg))
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"../dataset/eval/typical", "../dataset/eval/hard", "../dataset/eval/fresh"} {
		mails, err := dataset.ReadLabelled(dir)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := dataset.Examples(mails, daemon.ParseLimits(cfg))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range dataset.Copies(trainEx, ex) {
			t.Errorf("%s/%s shares %d of %d six-word runs with training mail %s", dir, c.Name, c.Shared, c.OfRuns, c.Of)
		}
	}
}

func TestTrainingIsDeterministic(t *testing.T) {
	cfg := shippedConfig(t)
	var ex []classify.Example
	texts := map[string][]string{
		"refund":    {"quero o reembolso", "cobraram duas vezes, devolvam", "reembolso da consulta cancelada", "devolução do valor pago", "cobrado em duplicado", "estorno por favor"},
		"invoice":   {"enviem a fatura", "preciso do recibo", "fatura com nif", "segunda via da fatura", "fatura para o irs", "recibo da consulta"},
		"documents": {"não recebi a receita", "atestado com datas erradas", "declaração de presença", "reenviem a receita", "relatório médico", "corrigir o atestado"},
	}
	for cat, list := range texts {
		for i, s := range list {
			ex = append(ex, classify.Example{Name: cat + string(rune('a'+i)), Input: classify.Input{NewText: s}, Category: cat})
		}
	}
	for _, c := range cfg.Categories {
		if texts[c.Name] == nil {
			for i := 0; i < 5; i++ {
				ex = append(ex, classify.Example{Name: c.Name + string(rune('a'+i)), Input: classify.Input{NewText: c.Label}, Category: c.Name})
			}
		}
	}
	a, err := classify.Train(cfg, ex, classify.TrainOptions{Epochs: 50})
	if err != nil {
		t.Fatal(err)
	}
	// The order examples arrive in must not matter.
	rev := append([]classify.Example(nil), ex...)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	b, err := classify.Train(cfg, rev, classify.TrainOptions{Epochs: 50})
	if err != nil {
		t.Fatal(err)
	}
	ab, _ := a.Marshal()
	bb, _ := b.Marshal()
	if !bytes.Equal(ab, bb) {
		t.Fatal("two trainings on the same examples gave different models")
	}
	if _, err := classify.Train(cfg, append(ex, classify.Example{Name: "x", Category: "nosuch"}), classify.TrainOptions{}); err == nil {
		t.Error("an example with an unknown category was accepted")
	}
}

func TestModelTraceAndRulesOnlyMode(t *testing.T) {
	cfg := shippedConfig(t)
	c, err := classify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r := c.Classify(classify.Input{Subject: "Reembolso", NewText: "Cancelaram a consulta e cobraram na mesma. Quero o reembolso."})
	if r.Method != "model+rules" || r.Category != "refund" || len(r.Features) == 0 || r.Probabilities["refund"] < 0.5 || r.Threshold <= 0 {
		t.Errorf("model decision without its trace: %+v", r)
	}
	cfg.Classify.Model = "none"
	c, err = classify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r = c.Classify(classify.Input{Subject: "Reembolso", NewText: "Cancelaram a consulta e cobraram na mesma. Quero o reembolso."})
	if r.Method != "rules" || r.Category != "refund" || r.Probabilities != nil {
		t.Errorf("rules-only decision: %+v", r)
	}
}

func TestAModelForOtherCategoriesIsRefused(t *testing.T) {
	cfg := shippedConfig(t)
	m, err := classify.ParseModel(classify.EmbeddedModel)
	if err != nil {
		t.Fatal(err)
	}
	m.Classes = []string{"a", "b", "c", "d", "e", "f", "g"}
	if _, err := classify.NewWithModel(cfg, m); err == nil || !strings.Contains(err.Error(), "triagem train") {
		t.Errorf("a model for other categories: err = %v", err)
	}
	if _, err := classify.ParseModel([]byte(`{"format":99}`)); err == nil {
		t.Error("a model of an unknown format was accepted")
	}
}

func TestIsReplySubject(t *testing.T) {
	for s, want := range map[string]bool{"Re: fatura": true, "RE: RE: x": true, "RES: atestado": true, "Fwd: Re: x": true,
		"Fwd: receita": false, "ENC: receita": false, "Receita": false, "Reembolso: urgente": false, "[Ticket] Re: x": true} {
		if got := classify.IsReplySubject(s); got != want {
			t.Errorf("IsReplySubject(%q) = %v", s, got)
		}
	}
}

// A forward with a short note passes the mail below on as the request: its text is read as
// new text. A reply's history, and a forward under a note of its own, stay history.
func TestInputOfAForwardWithAShortNote(t *testing.T) {
	forwarded := "De: Jorge Tomé\nAssunto: seguro\n\nEla quer saber se a consulta está coberta pelo seguro."
	long := strings.Repeat("palavra ", 40)
	cases := []struct {
		subject, note string
		asNew         bool
	}{
		{"Fwd: seguro", "Reencaminho o pedido da minha mulher.", true},
		{"ENC: seguro", "", true},
		{"[#12] Fw: seguro", "Vejam abaixo.", true},
		{"Re: seguro", "Obrigado.", false},
		{"Fwd: seguro", long, false},
		{"seguro", "Reencaminho o pedido da minha mulher.", false},
	}
	for _, c := range cases {
		in := classify.InputOf(&parse.Mail{Subject: c.subject, NewText: c.note, Quoted: forwarded})
		gotNew := strings.Contains(in.NewText, "coberta pelo seguro") && in.Quoted == ""
		if gotNew != c.asNew {
			t.Errorf("%q with a note of %d words: forwarded text read as new %v, want %v", c.subject, len(strings.Fields(c.note)), gotNew, c.asNew)
		}
	}
}
