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
	if err != nil || len(outs) != 2 {
		t.Fatalf("compose: %v, %d messages", err, len(outs))
	}
	fwd, draft := outs[0], outs[1]
	if strings.Join(fwd.Rcpts, ",") != "medico.online@medis.pt" || strings.Join(draft.Rcpts, ",") != "agentes@medicoonline.example.pt" {
		t.Errorf("recipients %v / %v", fwd.Rcpts, draft.Rcpts)
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
