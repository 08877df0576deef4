package classify_test

import (
	"strings"
	"testing"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
)

func shipped(t testing.TB) *classify.Classifier {
	t.Helper()
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := classify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The 001 line between documents and clinical, and the other categories, on the shipped rules.
func TestProcedure001Semantics(t *testing.T) {
	c := shipped(t)
	cases := []struct {
		subject, text, want string
		sure                bool
	}{
		{"Atestado", "O atestado tem as datas erradas, podem retificar?", "documents", true},
		{"Atestado", "A médica recusou passar o atestado sem justificação.", "clinical", true},
		{"Receita", "Não recebi a receita da consulta de ontem.", "documents", true},
		{"Valor", "A minha apólice diz que pago 10 € de copagamento mas paguei 15 €.", "insurance", true},
		{"Cobrança", "Fui cobrado duas vezes pela mesma consulta.", "refund", true},
		// A reimbursement by the insurer is the policy's matter, not a refund of ours.
		{"Reembolso", "Onde está o formulário para pedir o reembolso das despesas de saúde ao seguro Médis?", "insurance", true},
		{"Fatura", "Podem enviar-me a fatura da consulta com o meu NIF?", "invoice", true},
		{"App", "Não consigo entrar na app, dá erro.", "tech", true},
		{"Olá", "Têm parceria com ginásios?", "other", false},
	}
	for _, tc := range cases {
		r := c.Classify(classify.Input{Subject: tc.subject, NewText: tc.text})
		// Whether a right category is also sure enough to route is measured on the
		// evaluation sets (quality tests); here only "never sure and wrong" is checked.
		if r.Category != tc.want || (!tc.sure && !r.Unsure) {
			t.Errorf("%q: got %s (unsure %v, conf %.2f, %v), want %s sure=%v", tc.text, r.Category, r.Unsure, r.Confidence, r.Hits, tc.want, tc.sure)
		}
		if r.Category != "other" && len(r.Hits) == 0 {
			t.Errorf("%q: a decision without a trace", tc.text)
		}
	}
}

func TestNewTextOutweighsQuotedHistory(t *testing.T) {
	c := shipped(t)
	r := c.Classify(classify.Input{Subject: "Re: consulta", NewText: "Fui cobrada duas vezes, quero o reembolso.", Quoted: "A sua receita foi enviada. Reenvio do atestado."})
	if r.Category != "refund" {
		t.Errorf("got %s (%v), want refund: the quote is about something else", r.Category, r.Scores)
	}
}

func TestClinicalEvidenceIsNeverRoutedElsewhereOnAGuess(t *testing.T) {
	c := shipped(t)
	r := c.Classify(classify.Input{Subject: "Fatura", NewText: "Preciso da fatura. Também quero reclamar: o médico foi arrogante."})
	if !r.Unsure && r.Category != "clinical" {
		t.Errorf("got %s sure (%v): mixed clinical evidence must go to clinical or review", r.Category, r.Scores)
	}
}

func TestLanguage(t *testing.T) {
	for text, want := range map[string]string{
		"Hello, my appointment was cancelled and I would like a refund please": "en",
		"Hola, quiero una factura de mi consulta por favor, gracias":           "es",
		"Bom dia, não recebi a receita da consulta":                            "pt-PT",
		"ok": "pt-PT",
		"Здравствуйте, результаты анализов до сих пор не пришли на почту":      "ru",
		"Re: Заказ 4521 — the lab results are still not in my account, please": "en",
	} {
		if got := classify.Language(text, "pt-PT"); got != want {
			t.Errorf("%q: %s, want %s", text, got, want)
		}
	}
	// A team whose own language is Russian keeps its variant.
	if got := classify.Language("Прошу перенести запись к врачу на пятницу", "ru-RU"); got != "ru-RU" {
		t.Errorf("a Russian mail to a ru-RU team: %s, want ru-RU", got)
	}
}

func BenchmarkClassify(b *testing.B) {
	c := shipped(b)
	in := classify.Input{Subject: "Re: Valor cobrado na teleconsulta",
		NewText: "Olá,\n\nSegundo a minha apólice Médis a teleconsulta tem um copagamento de 10 €, mas foram-me cobrados 15 € na última consulta. Podem confirmar qual é o valor a meu cargo?\n\nCumprimentos,\nAna Rita Costa",
		Quoted:  "Para podermos ajudar, indique-nos o seu NOME e NIF."}
	b.ReportAllocs()
	for b.Loop() {
		c.Classify(in)
	}
}

// An 'unless' phrase in the new text blocks its rule in the subject as well: the subject
// and the new text are the customer's one message. The quoted history blocks only itself.
func TestUnlessSpansSubjectAndNewTextButNotTheQuote(t *testing.T) {
	c := shipped(t)
	fired := func(in classify.Input) bool {
		for _, h := range c.Classify(in).Hits {
			if h.Rule == "copy-again" {
				return true
			}
		}
		return false
	}
	if fired(classify.Input{Subject: "2ª via", NewText: "Solicito a segunda via da factura de outubro."}) {
		t.Error("copy-again fired in the subject although the new text speaks of an invoice")
	}
	if fired(classify.Input{Subject: "Atestado", NewText: "Podem reenviar? A fatura já tenho, falta o atestado."}) {
		t.Error("copy-again fired in the new text although it speaks of an invoice")
	}
	if !fired(classify.Input{Subject: "2ª via", NewText: "Preciso do atestado outra vez.", Quoted: "Segue a fatura pedida."}) {
		t.Error("an invoice in the quoted history blocked copy-again in the subject")
	}
}

// Two neighbouring letters swapped in a long word still match its one-word phrase; the
// first letter, a short word, and a word that differs otherwise do not.
func TestSlipsOfLongWordsMatch(t *testing.T) {
	c := shipped(t)
	hit := func(text, rule string) bool {
		for _, h := range c.Classify(classify.Input{Subject: "olá", NewText: text}).Hits {
			if h.Rule == rule {
				return true
			}
		}
		return false
	}
	for text, want := range map[string]bool{
		"queria a fatrua da consulta":     true,  // fatura
		"a app no meu andriod nao abre":   true,  // android (tech-words)
		"queria a aftura da consulta":     false, // the first letter moved
		"numa consulta futura":            false, // another word, one letter off
		"queria a fatura da consulta":     true,
		"o recbio da consulta, por favor": true, // recibo
	} {
		rule := "invoice"
		if strings.Contains(text, "andriod") {
			rule = "tech-words"
		}
		if got := hit(text, rule); got != want {
			t.Errorf("%q: %s fired %v, want %v", text, rule, got, want)
		}
	}
}

// A thank-you that names a document asks for nothing and is never routed; with a "but"
// or a word that asks, the new request is routed as usual.
func TestAThankYouIsNotARequest(t *testing.T) {
	c := shipped(t)
	for _, text := range []string{"Obrigada, já recebi o atestado. Bom trabalho!", "Já chegou a receita, obrigado.", "Thanks, I've already received the invoice.",
		"Quero deixar um elogio à Dra. Sofia, que foi muito atenciosa e me explicou a medicação toda."} {
		if r := c.Classify(classify.Input{Subject: "Re: pedido", NewText: text}); !r.Unsure && r.Category != "other" {
			t.Errorf("%q: routed as %s at %.2f", text, r.Category, r.Confidence)
		}
	}
	// The document named in the thanks, the subject and the quoted request alike.
	fixed := classify.Input{Subject: "Re: Pedido de atestado", NewText: "Bom dia, já recebi o atestado corrigido. Muito obrigado pela rapidez!\nPaulo Neves",
		Quoted: "Em qui., 3/12/2026 às 16:40, Apoio Médico Online <suporte@medicoonline.example.pt> escreveu:\nOlá Paulo, o seu pedido de correção do atestado foi encaminhado. Obrigado."}
	if r := c.Classify(fixed); !r.Unsure && r.Category != "other" {
		t.Errorf("%q: routed as %s at %.2f", fixed.NewText, r.Category, r.Confidence)
	}
	for text, want := range map[string]string{
		"Já recebi a fatura, obrigado. Mas reparei que a consulta foi cobrada duas vezes, podem devolver uma?": "refund",
		"O problema da app ficou resolvido. Aproveito para pedir a fatura das consultas de fevereiro.":         "invoice",
		"Queria agradecer a rapidez, mas a médica recusou passar a receita e quero apresentar queixa.":         "clinical",
	} {
		if r := c.Classify(classify.Input{Subject: "Re: pedido", NewText: text}); r.Category != want {
			t.Errorf("%q: %s (unsure %v), want %s", text, r.Category, r.Unsure, want)
		}
	}
}

// A legal matter goes to a person even when it names a document; test results uploaded
// through the app are a tech problem, not a clinical question.
func TestLegalMattersAndUploadedResults(t *testing.T) {
	c := shipped(t)
	legal := c.Classify(classify.Input{Subject: "Pedido de relatório", NewText: "Na qualidade de advogado da Sra. D. Filomena Ramos, venho requerer cópia do relatório da teleconsulta e a identificação do médico. Junto procuração."})
	if !legal.Unsure {
		t.Errorf("a lawyer's request was decided %s at %.2f without a person", legal.Category, legal.Confidence)
	}
	// A lawyer asking for his own invoice is no legal matter.
	for _, h := range c.Classify(classify.Input{Subject: "Fatura", NewText: "Preciso da fatura-recibo para a contabilidade. Cumprimentos, Dr. Paulo Nunes (advogado)"}).Hits {
		if h.Rule == "legal-matter" {
			t.Errorf("a lawyer's own invoice fired legal-matter")
		}
	}
	upload := c.Classify(classify.Input{Subject: "Cannot upload", NewText: "I was asked to upload my blood test results but the upload button in the app does nothing."})
	for _, h := range upload.Hits {
		if h.Rule == "test-results" {
			t.Errorf("an upload problem fired test-results")
		}
	}
}

// The rules know the pronoun before the verb ("não me quis dar") and a refusal without
// it ("não quis receitar"), Brazil's "comprovante fiscal", a count in digits ("2
// pagamentos"), the clinical record, test results brought back to be read, a lawyer's
// mandate, and a claim on the insurer.
func TestRulesKnowHowPeopleWriteIt(t *testing.T) {
	c := shipped(t)
	for text, rule := range map[string]string{
		"A médica não me quis dar a baixa, disse que não se justificava.": "refused-document",
		"O médico não quis receitar o antibiótico ao meu filho.":          "refused-document",
		"Como peço o reembolso ao seguro de uma clínica fora da rede?":    "insurer-reimbursement",
		"Preciso de um comprovante fiscal da consulta para o imposto.":    "invoice",
		"Tenho 2 pagamentos de 10€ no cartão e só fiz uma consulta.":      "refund",
		"Gostaria de ter acesso ao meu processo clínico das consultas.":   "clinical-record",
		"Já tenho os resultados das análises, o colesterol está alto?":    "test-results",
		"Na qualidade de mandatário da Sra. Ana Reis, requeiro cópia.":    "legal-matter",
	} {
		fired := false
		for _, h := range c.Classify(classify.Input{Subject: "Pedido", NewText: text}).Hits {
			fired = fired || h.Rule == rule
		}
		if !fired {
			t.Errorf("%q: rule %s did not fire", text, rule)
		}
	}
}
