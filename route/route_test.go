package route_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem"
	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/identify"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/templates"
)

func TestForwardDraftAndDisclaimer(t *testing.T) {
	cfg, err := config.Parse("embedded", triagem.DefaultConfig)
	if err != nil {
		t.Fatal(err)
	}
	cls, _ := classify.New(cfg)
	tmpl, err := templates.Load("pt-PT")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../demo/mails/03-apolice-valor.eml")
	if err != nil {
		t.Fatal(err)
	}
	m, err := parse.Parse(raw, parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	d := route.New(cfg, cls).Decide(context.Background(), m, screen.Verdict{})
	if d.Action != route.Forward || d.Category != "insurance" || !d.Disclaimer {
		t.Fatalf("decision %+v", d)
	}
	cs := route.Case{Ref: route.CaseRef("mid:x"), Key: "mid:x", Received: time.Now(), Raw: raw, Mail: m}
	comp := route.NewComposer(cfg, tmpl)
	outs, err := comp.Compose(d, cs)
	if err != nil || len(outs) != 1 {
		t.Fatalf("compose: %v, %d messages (the forward; drafts are the daemon's)", err, len(outs))
	}
	fwd := outs[0]
	// The department reads why in the team's language; the log keeps the English.
	if !bytes.Contains(fwd.Raw, []byte("tem probabilidade")) || bytes.Contains(fwd.Raw, []byte("has probability")) {
		t.Errorf("the forward's reasons are not the team's Portuguese:\n%s", fwd.Raw)
	}
	if strings.Join(fwd.Rcpts, ",") != "medico.online@medis.pt" {
		t.Errorf("recipients %v", fwd.Rcpts)
	}
	for _, want := range []string{"Content-Type: message/rfc822", "Auto-Submitted: auto-generated", cs.Ref} {
		if !bytes.Contains(fwd.Raw, []byte(want)) {
			t.Errorf("forward lacks %q", want)
		}
	}
	i := bytes.Index(fwd.Raw, []byte("Content-Type: message/rfc822"))
	part := fwd.Raw[max(0, i-200):i]
	if bytes.Contains(part, []byte("base64")) || !bytes.Contains(part, []byte("Content-Transfer-Encoding: 8bit")) {
		t.Errorf("the original must be attached unencoded (8bit here):\n%s", part)
	}
	// An all-ASCII original (base64 attachments, long lines, "=") is attached byte for byte:
	// message/rfc822 allows no transfer encoding.
	ascii := []byte("From: a@clientes.example.test\r\nSubject: apolice\r\nMessage-ID: <ascii@x>\r\nContent-Type: multipart/mixed; boundary=\"b=1\"\r\n\r\n--b=1\r\nContent-Type: text/plain\r\n\r\nQual o valor da minha apolice? " +
		strings.Repeat("long line ", 20) + "\r\n--b=1\r\nContent-Transfer-Encoding: base64\r\n\r\nQUJD=\r\n--b=1--\r\n")
	am, err := parse.Parse(ascii, parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	aouts, err := comp.Compose(d, route.Case{Ref: route.CaseRef("mid:ascii"), Key: "mid:ascii", Received: time.Now(), Raw: ascii, Mail: am})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(aouts[0].Raw, ascii) {
		t.Errorf("the ASCII original is not attached unchanged:\n%s", aouts[0].Raw)
	}
	again, _ := comp.Compose(d, cs)
	if again[0].MessageID != fwd.MessageID || !strings.HasSuffix(fwd.MessageID, "@"+cfg.Daemon.MessageIDDomain) {
		t.Errorf("Message-ID not deterministic: %s vs %s", fwd.MessageID, again[0].MessageID)
	}
	ack, err := comp.CustomerReply(d, cs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ack.Text, cfg.Team.Disclaimer) {
		t.Errorf("insurance reply without the disclaimer:\n%s", ack.Text)
	}
	if strings.Contains(ack.Text, "pedimos que nos indique") {
		t.Errorf("name and NIF are both given: the reply must not ask for them:\n%s", ack.Text)
	}
}

func TestReplyAsksOnlyForWhatIsMissing(t *testing.T) {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	tmpl, _ := templates.Load("pt-PT")
	comp := route.NewComposer(cfg, tmpl)
	for _, tc := range []struct {
		d    route.Decision
		want string
	}{
		{route.Decision{Category: "tech", Language: "pt-PT"}, "o seu NOME completo e o seu NIF"},
		{route.Decision{Category: "tech", Language: "pt-PT", Name: &identify.Name{Value: "Ana Lopes"}}, "indique o seu NIF."},
		{route.Decision{Category: "tech", Language: "pt-PT", NIF: &identify.NIF{Value: "123456789", Valid: true}}, "indique o seu NOME completo."},
		{route.Decision{Category: "refund", Language: "en"}, "full NAME and your NIF"},
		{route.Decision{Category: "invoice", Language: "es"}, "su NOMBRE completo y su NIF"},
		{route.Decision{Category: "invoice", Language: "fr"}, "o seu NOME completo e o seu NIF"}, // no French template: pt-PT
	} {
		r, err := comp.CustomerReply(tc.d, route.Case{Ref: "TRG-TEST"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, tc.want) || strings.Contains(r.Text, "Médis, deve utilizar") {
			t.Errorf("%+v: want %q and no disclaimer in:\n%s", tc.d, tc.want, r.Text)
		}
	}
}

// The customer's language picks the reply template, end to end from the mail's text.
func TestReplyLanguageFollowsTheCustomer(t *testing.T) {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	cls, err := classify.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmpl, _ := templates.Load("pt-PT")
	comp := route.NewComposer(cfg, tmpl)
	for text, want := range map[string]string{
		"Hello, I was charged twice for my appointment and I would like a refund please. Thank you": "Your refund request",
		"Hola, me cobraron dos veces la consulta y quiero el reembolso, por favor. Gracias":         "Su solicitud de reembolso",
		"Bom dia, fui cobrado duas vezes pela consulta e quero o reembolso. Obrigado":               "reembolso",
	} {
		raw := "From: c@example.pt\r\nSubject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + text + "\r\n"
		m, err := parse.Parse([]byte(raw), parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		d := route.New(cfg, cls).Decide(context.Background(), m, screen.Verdict{})
		r, err := comp.CustomerReply(d, route.Case{Ref: "TRG-TEST"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Text, want) {
			t.Errorf("%q (language %s): reply lacks %q:\n%s", text, d.Language, want, r.Text)
		}
	}
}

// A draft mail carries the agent's signed Reply-To, never in Message-ID or References; the
// answer threads to the customer and is not marked automatic.
func TestDraftMailAndAnswerHeaders(t *testing.T) {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	tmpl, _ := templates.Load("pt-PT")
	comp := route.NewComposer(cfg, tmpl)
	token := "k1.a.b.secrettoken"
	mail, err := comp.DraftMail(route.DraftSpec{ID: 7, CaseRef: "TRG-TEST2345", Customer: "c@example.pt", Category: "insurance",
		Subject: "Valor", Text: "Proposta", Original: "texto", Expires: time.Now(), Disclaimer: true},
		"ana@medicoonline.example.pt", "suporte+"+token+"@medicoonline.example.pt")
	if err != nil {
		t.Fatal(err)
	}
	head := string(mail.Raw[:bytes.Index(mail.Raw, []byte("\r\n\r\n"))])
	if !strings.Contains(head, "Reply-To: <suporte+"+token+"@medicoonline.example.pt>") {
		t.Errorf("draft without the signed Reply-To:\n%s", head)
	}
	if strings.Contains(mail.MessageID, token) || strings.Contains(strings.ToLower(header(mail.Raw, "References")), token) {
		t.Error("the token leaked into Message-ID or References")
	}
	if !strings.Contains(string(mail.Raw), "APROVAR") || !strings.Contains(string(mail.Raw), "REJEITAR") {
		t.Error("the draft does not say how to act")
	}
	ans, err := comp.Answer(route.AnswerSpec{DraftID: 7, CaseRef: "TRG-TEST2345", Customer: "c@example.pt", Subject: "Re: Valor",
		InReplyTo: "orig@x.example", Refs: []string{"a@x.example", "orig@x.example"}, Text: "Olá"})
	if err != nil {
		t.Fatal(err)
	}
	ahead := string(ans.Raw[:bytes.Index(ans.Raw, []byte("\r\n\r\n"))])
	for _, want := range []string{"In-Reply-To: <orig@x.example>", "References: <a@x.example> <orig@x.example>", "Subject: Re: Valor", "To: <c@example.pt>"} {
		if !strings.Contains(ahead, want) {
			t.Errorf("answer lacks %q:\n%s", want, ahead)
		}
	}
	if strings.Contains(ahead, "Auto-Submitted") {
		t.Errorf("an approved answer must not be Auto-Submitted:\n%s", ahead)
	}
}

func header(raw []byte, name string) string {
	for _, l := range strings.Split(string(raw), "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			return l
		}
	}
	return ""
}

// Loop guard on what triagem sends: every message carries the marker; everything it sends on
// its own also says Auto-Submitted and asks robots not to answer; an approved answer to a
// customer is a person's, so it does not.
func TestLoopGuardHeaders(t *testing.T) {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	tmpl, _ := templates.Load("pt-PT")
	comp := route.NewComposer(cfg, tmpl)
	draft, _ := comp.DraftMail(route.DraftSpec{ID: 1, CaseRef: "TRG-LOOP2345", Customer: "c@x.pt", Category: "tech", Expires: time.Now()}, "a@x.pt", "s+t@x.pt")
	notice, _ := comp.Notice("TRG-LOOP2345", "a@x.pt", reason.Text("motivo"), "", "a@x.pt", "assunto", "1")
	answer, _ := comp.Answer(route.AnswerSpec{DraftID: 1, CaseRef: "TRG-LOOP2345", Customer: "c@x.pt", Subject: "Re: x", Text: "ok"})
	for name, m := range map[string]route.Outgoing{"draft": draft, "notice": notice} {
		for _, h := range []string{"X-Triagem", "Auto-Submitted", "X-Auto-Response-Suppress"} {
			if header(m.Raw, h) == "" {
				t.Errorf("%s lacks %s", name, h)
			}
		}
	}
	if header(answer.Raw, "X-Triagem") == "" || header(answer.Raw, "Auto-Submitted") != "" {
		t.Errorf("answer headers: marker %q, Auto-Submitted %q", header(answer.Raw, "X-Triagem"), header(answer.Raw, "Auto-Submitted"))
	}
}

// Procedure 001's hints come from the ack template, on the customer's words: the zoom tip
// when the booking button is missing, the "cativo" check on a double charge.
func TestReplyHintsFollowTheCustomersWords(t *testing.T) {
	cfg, _ := config.Parse("embedded", triagem.DefaultConfig)
	tmpl, _ := templates.Load("pt-PT")
	comp := route.NewComposer(cfg, tmpl)
	for _, tc := range []struct {
		category, text, want string
		present              bool
	}{
		{"tech", "Não me aparece o BOTÃO para marcar a consulta.", "ajuste o zoom", true},
		{"tech", "A app fecha sozinha quando abro a consulta.", "ajuste o zoom", false},
		{"refund", "Fui cobrada duas vezes pela consulta.", "ficou apenas cativo", true},
		{"refund", "A consulta foi cancelada e cobrada.", "ficou apenas cativo", false},
	} {
		cs := route.Case{Ref: "TRG-TEST", Mail: &parse.Mail{Subject: "pedido", NewText: tc.text}}
		r, err := comp.CustomerReply(route.Decision{Category: tc.category, Language: "pt-PT"}, cs)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Text, tc.want) != tc.present {
			t.Errorf("%q: %q present should be %v:\n%s", tc.text, tc.want, tc.present, r.Text)
		}
	}
}

// team.identify says what the procedure asks of a customer: 001 asks NOME and NIF; a
// procedure that asks only a name neither looks for a NIF nor asks for one.
func TestIdentifyFollowsWhatTheProcedureAsks(t *testing.T) {
	tmpl, _ := templates.Load("pt-PT")
	raw := []byte("From: Ana Lopes <ana@x.pt>\r\nTo: s@x.pt\r\nSubject: App\r\nMessage-ID: <id-1@x.pt>\r\n\r\nNao consigo entrar na app, da erro. O meu NIF: 190328477.\r\n\r\nCumprimentos,\r\nAna Lopes\r\n")
	m, err := parse.Parse(raw, parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		identify     string
		identified   bool
		nif, asksNIF bool
	}{
		{`["name", "nif"]`, false, true, true},
		{`["name"]`, true, false, false},
	} {
		src := strings.Replace(string(triagem.DefaultConfig), `identify = ["name", "nif"]`, "identify = "+tc.identify, 1)
		cfg, err := config.Parse("test", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		cls, _ := classify.New(cfg)
		d := route.New(cfg, cls).Decide(context.Background(), m, screen.Verdict{})
		if d.Identified != tc.identified || (d.NIF != nil) != tc.nif {
			t.Errorf("identify %s: identified %v, NIF %+v", tc.identify, d.Identified, d.NIF)
		}
		r, err := route.NewComposer(cfg, tmpl).CustomerReply(d, route.Case{Ref: "TRG-TEST", Mail: m})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(r.Text, "NIF") != tc.asksNIF {
			t.Errorf("identify %s: the answer asks for the NIF: %v, want %v:\n%s", tc.identify, !tc.asksNIF, tc.asksNIF, r.Text)
		}
	}
}

// A customer is answered in their language only when the team answers in it
// (team.customer_languages); anyone else in the team's.
func TestAnswerLanguageIsOneTheTeamSpeaks(t *testing.T) {
	raw := []byte("From: Jane Doe <jane@x.test>\r\nTo: s@x.pt\r\nSubject: Invoice\r\nMessage-ID: <en-2@x.test>\r\n\r\nHello, could you please send me the invoice for my consultation? Thank you.\r\n\r\nJane Doe\r\n")
	m, err := parse.Parse(raw, parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	for list, want := range map[string]string{`["en", "es"]`: "en", `[]`: "pt-PT"} {
		src := strings.Replace(string(triagem.DefaultConfig), `customer_languages = ["en", "es"]`, "customer_languages = "+list, 1)
		cfg, err := config.Parse("test", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		cls, _ := classify.New(cfg)
		if d := route.New(cfg, cls).Decide(context.Background(), m, screen.Verdict{}); d.Language != want {
			t.Errorf("customer_languages = %s: answered in %q, want %q", list, d.Language, want)
		}
	}
}
