package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/mailtest"
	"github.com/triagem/triagem/store"
)

const (
	agentAna = "ana@example.test"
	agentRui = "rui@example.test"
	customer = "ana.costa@clientes.example.test" // demo/mails/03-apolice-valor.eml
)

func approvalEnv(t *testing.T, mod func(*config.Config)) *env {
	return startWith(t, func(c *config.Config) {
		c.Team.Agents = []string{agentAna, agentRui}
		if mod != nil {
			mod(c)
		}
	})
}

// customerMail puts demo mail name in the inbox and runs once; it returns the draft mail
// the agent got.
func (e *env) customerMail(t *testing.T, name, agent string) mailtest.Delivery {
	t.Helper()
	raw, err := os.ReadFile("../demo/mails/" + name)
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.smtp.Deliveries())
	if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, d := range e.smtp.Deliveries()[before:] {
		if len(d.Rcpts) == 1 && d.Rcpts[0] == agent && strings.Contains(string(header(d.Data, "Subject")), "Rascunho") {
			return d
		}
	}
	t.Fatalf("no draft reached %s", agent)
	return mailtest.Delivery{}
}

func hdr(raw []byte, key string) string { return strings.TrimSpace(string(header(raw, key))) }

// body is the text part of a delivery, decoded enough for tests (quoted-printable aside).
func body(d mailtest.Delivery) string {
	i := bytes.Index(d.Data, []byte("\r\n\r\n"))
	return string(d.Data[i+4:])
}

type replyStyle int

const (
	gmail replyStyle = iota
	outlook
)

// reply plays an agent's mail client answering draft with top text, quoting it below.
func reply(draft mailtest.Delivery, from, top string, style replyStyle, extra ...string) []byte {
	to := strings.Trim(hdr(draft.Data, "Reply-To"), "<>")
	var quoted strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(body(draft), "\r\n", "\n"), "\n") {
		quoted.WriteString("> " + l + "\n")
	}
	var sep string
	switch style {
	case gmail:
		sep = "Em seg., 3 de mar. de 2025 às 10:00, Apoio <suporte@example.test> escreveu:\n" + quoted.String()
	case outlook:
		sep = "________________________________\nDe: Apoio <suporte@example.test>\nEnviado: segunda-feira, 3 de março de 2025 10:00\nPara: " + from + "\nAssunto: " + hdr(draft.Data, "Subject") + "\n\n" + strings.ReplaceAll(quoted.String(), "> ", "")
	}
	h := fmt.Sprintf("From: Agente <%s>\r\nTo: %s\r\nSubject: Re: %s\r\nMessage-ID: <%d.%s>\r\nIn-Reply-To: %s\r\nReferences: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
		from, to, hdr(draft.Data, "Subject"), time.Now().UnixNano(), "client.example.test", hdr(draft.Data, "Message-Id"), hdr(draft.Data, "Message-Id"))
	for _, x := range extra {
		h += x + "\r\n"
	}
	return []byte(h + "\r\n" + strings.ReplaceAll(top+"\n\n"+sep, "\n", "\r\n"))
}

func (e *env) deliver(t *testing.T, raw []byte) {
	t.Helper()
	if err := e.imap.Append("suporte@example.test", "INBOX", raw); err != nil {
		t.Fatal(err)
	}
	if _, err := e.app.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) toCustomer() []mailtest.Delivery {
	var out []mailtest.Delivery
	for _, d := range e.smtp.Deliveries() {
		for _, r := range d.Rcpts {
			if r == customer {
				out = append(out, d)
			}
		}
	}
	return out
}

func (e *env) events(t *testing.T, typ string) []store.Event {
	t.Helper()
	evs, err := e.app.Store.Events(context.Background(), store.Filter{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func TestApproveByReplyInGmailAndOutlookStyle(t *testing.T) {
	for _, style := range []replyStyle{gmail, outlook} {
		t.Run(fmt.Sprint(style), func(t *testing.T) {
			e := approvalEnv(t, nil)
			draft := e.customerMail(t, "03-apolice-valor.eml", agentAna)
			if len(e.toCustomer()) != 0 {
				t.Fatal("something reached the customer before any approval")
			}
			for _, leak := range []string{hdr(draft.Data, "Message-Id"), hdr(draft.Data, "References")} {
				if strings.Contains(leak, "+") {
					t.Errorf("the token leaked into %q", leak)
				}
			}
			// Once sent, the token exists nowhere in the state directory: only its hash.
			token := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(hdr(draft.Data, "Reply-To"), "<>"), "suporte+"), "@example.test")
			filepath.WalkDir(e.dir, func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() {
					if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(token)) {
						t.Errorf("%s holds the token", p)
					}
				}
				return nil
			})
			e.deliver(t, reply(draft, agentAna, "APROVAR", style))
			got := e.toCustomer()
			if len(got) != 1 {
				t.Fatalf("%d mails to the customer after APROVAR, want 1", len(got))
			}
			a := got[0]
			if hdr(a.Data, "In-Reply-To") != "<03-apolice-valor.dda0247e@mail.example.test>" || !strings.HasPrefix(hdr(a.Data, "Subject"), "Re: Valor cobrado") {
				t.Errorf("the answer is not threaded: In-Reply-To %q, Subject %q", hdr(a.Data, "In-Reply-To"), hdr(a.Data, "Subject"))
			}
			if hdr(a.Data, "Auto-Submitted") != "" {
				t.Error("an approved answer carries Auto-Submitted")
			}
			if !strings.Contains(decodeQP(body(a)), e.app.Cfg.Team.Disclaimer) {
				t.Errorf("insurance answer without the disclaimer:\n%s", decodeQP(body(a)))
			}
			if n := len(e.events(t, store.EvApproved)); n != 1 {
				t.Errorf("%d approved events", n)
			}
			// The other agent's token, and the same reply again, do nothing more.
			e.deliver(t, reply(draft, agentAna, "APROVAR", style))
			if len(e.toCustomer()) != 1 || len(e.events(t, store.EvReplay)) != 1 {
				t.Errorf("a replay: %d answers, %d replay events", len(e.toCustomer()), len(e.events(t, store.EvReplay)))
			}
		})
	}
}

func TestEditAndReject(t *testing.T) {
	e := approvalEnv(t, nil)
	draft := e.customerMail(t, "01-receita-nao-recebida.eml", agentAna)
	cust := "maria.fernandes@clientes.example.test"
	e.deliver(t, reply(draft, agentAna, "Cara D. Maria,\nA receita foi reenviada hoje para o seu telemóvel.\n\n-- \nAna\nApoio ao Cliente", gmail))
	var answers []mailtest.Delivery
	for _, d := range e.smtp.Deliveries() {
		if len(d.Rcpts) == 1 && d.Rcpts[0] == cust {
			answers = append(answers, d)
		}
	}
	if len(answers) != 1 {
		t.Fatalf("%d answers after an edit", len(answers))
	}
	text := decodeQP(body(answers[0]))
	if !strings.Contains(text, "A receita foi reenviada hoje") || strings.Contains(text, "Ana\r\nApoio ao Cliente") || strings.Contains(text, "foi encaminhado para a equipa") {
		t.Errorf("the edit was not sent as written (without signature and draft):\n%s", text)
	}
	ev := e.events(t, store.EvEdited)
	if len(ev) != 1 || ev[0].Fields()["diff_blob"] == nil {
		t.Fatalf("edited events: %+v", ev)
	}
	diff, err := e.app.Spool.Get(ev[0].Fields()["diff_blob"].(string))
	if err != nil || !strings.Contains(string(diff), "+ A receita foi reenviada hoje") {
		t.Errorf("the stored diff: %q %v", diff, err)
	}

	// Reject: nothing is sent, and the reply goes to review.
	draft2 := e.customerMail(t, "08-fatura.eml", agentRui)
	before := len(e.smtp.Deliveries())
	e.deliver(t, reply(draft2, agentRui, "REJEITAR", outlook))
	for _, d := range e.smtp.Deliveries()[before:] {
		t.Errorf("a rejected draft sent mail to %v", d.Rcpts)
	}
	if len(e.events(t, store.EvRejected)) != 1 {
		t.Error("no rejected event")
	}
	if n, _ := mailtest.Count(e.imap.Addr, "suporte@example.test", "demo", "Triagem/Revisao"); n != 1 {
		t.Errorf("review holds %d, want the rejecting reply", n)
	}
}

// Every forgery and mistake is refused, logged with its reason, and never reaches the
// customer; the agent is told (at most once per notice_interval) only when the sender is
// a configured agent and not a robot.
func TestAttacksAreRefused(t *testing.T) {
	e := approvalEnv(t, func(c *config.Config) { c.Approval.NoticeInterval.Duration = 0 })
	draft := e.customerMail(t, "03-apolice-valor.eml", agentAna)
	other := e.customerMail(t, "08-fatura.eml", agentAna)
	token := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(hdr(draft.Data, "Reply-To"), "<>"), "suporte+"), "@example.test")
	otherTok := strings.TrimSuffix(strings.TrimPrefix(strings.Trim(hdr(other.Data, "Reply-To"), "<>"), "suporte+"), "@example.test")
	withTo := func(raw []byte, to string) []byte {
		return bytes.Replace(raw, []byte("To: "+strings.Trim(hdr(draft.Data, "Reply-To"), "<>")), []byte("To: "+to), 1)
	}
	parts := strings.Split(token, ".")
	forgedMAC := strings.Join(append(parts[:3], strings.Repeat("a", len(parts[3]))), ".")
	otherParts := strings.Split(otherTok, ".")
	swapped := strings.Join([]string{parts[0], otherParts[1], parts[2], parts[3]}, ".")

	attacks := map[string][]byte{
		"forged From, no token":   withTo(reply(draft, agentAna, "APROVAR", gmail), "suporte@example.test"),
		"wrong MAC":               withTo(reply(draft, agentAna, "APROVAR", gmail), "suporte+"+forgedMAC+"@example.test"),
		"another draft's token":   withTo(reply(draft, agentAna, "APROVAR", gmail), "suporte+"+swapped+"@example.test"),
		"non-agent sender":        reply(draft, "mallory@evil.example", "APROVAR", gmail),
		"display-name trick":      bytes.Replace(reply(draft, "mallory@evil.example", "APROVAR", gmail), []byte("From: Agente <mallory@evil.example>"), []byte(`From: "ana@example.test" <mallory@evil.example>`), 1),
		"out-of-office reply":     reply(draft, agentAna, "Estou ausente até segunda-feira.", gmail, "Auto-Submitted: auto-replied"),
		"the other agent's token": reply(draft, agentRui, "APROVAR", gmail),
		"two From addresses":      bytes.Replace(reply(draft, agentAna, "APROVAR", gmail), []byte("From: Agente <ana@example.test>"), []byte("From: ana@example.test, mallory@evil.example"), 1),
	}
	for name, raw := range attacks {
		before := len(e.events(t, store.EvRefused))
		e.deliver(t, raw)
		if len(e.toCustomer()) != 0 {
			t.Fatalf("%s: the customer got mail", name)
		}
		if len(e.events(t, store.EvRefused)) != before+1 {
			t.Errorf("%s: not logged as refused", name)
		}
	}
	// Notices went only to agents, and never for the robot or the outsiders.
	for _, d := range e.smtp.Deliveries() {
		if strings.Contains(hdr(d.Data, "Subject"), "não aceite") && d.Rcpts[0] != agentAna && d.Rcpts[0] != agentRui {
			t.Errorf("a notice went to %v", d.Rcpts)
		}
		for _, r := range d.Rcpts {
			if strings.Contains(r, "evil") {
				t.Errorf("mail went to %s", r)
			}
		}
	}
	// The genuine approval still works afterwards: the attacks used nothing up.
	e.deliver(t, reply(draft, agentAna, "APROVAR", gmail))
	if len(e.toCustomer()) != 1 {
		t.Fatalf("the genuine approval after the attacks: %d answers", len(e.toCustomer()))
	}
}

func TestExpiredTokenAndDKIM(t *testing.T) {
	e := approvalEnv(t, func(c *config.Config) { c.Approval.TokenTTL.Duration = time.Minute })
	draft := e.customerMail(t, "03-apolice-valor.eml", agentAna)
	e.app.Store.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	e.deliver(t, reply(draft, agentAna, "APROVAR", gmail))
	ev := e.events(t, store.EvRefused)
	if len(e.toCustomer()) != 0 || len(ev) != 1 || !strings.Contains(ev[0].Data, "expired") {
		t.Fatalf("expired token: %d answers, events %v", len(e.toCustomer()), ev)
	}

	e2 := approvalEnv(t, func(c *config.Config) { c.Approval.TrustedAuthservID = "mx.example.test" })
	draft = e2.customerMail(t, "03-apolice-valor.eml", agentAna)
	e2.deliver(t, reply(draft, agentAna, "APROVAR", gmail, "Authentication-Results: mx.example.test; dkim=fail header.d=example.test; dmarc=fail header.from=example.test"))
	if len(e2.toCustomer()) != 0 || len(e2.events(t, store.EvRefused)) != 1 {
		t.Fatal("dkim=fail was obeyed")
	}
	e2.deliver(t, reply(draft, agentAna, "APROVAR", gmail, "Authentication-Results: mx.example.test; dkim=pass header.d=example.test"))
	if len(e2.toCustomer()) != 1 {
		t.Fatal("dkim=pass from the trusted server was not obeyed")
	}
}

// An edit of an insurance answer that drops the disclaimer is not sent; the agent is told
// why, in the team's language.
func TestLintRefusesAnInsuranceAnswerWithoutTheDisclaimer(t *testing.T) {
	e := approvalEnv(t, nil)
	draft := e.customerMail(t, "03-apolice-valor.eml", agentAna)
	e.deliver(t, reply(draft, agentAna, "Cara Ana, o valor está correto.", gmail))
	if len(e.toCustomer()) != 0 {
		t.Fatal("an insurance answer without the disclaimer was sent")
	}
	notice := false
	for _, d := range e.smtp.Deliveries() {
		if d.Rcpts[0] == agentAna && strings.Contains(decodeQP(body(d)), "tem de levar o aviso da equipa") {
			notice = true
		}
	}
	if !notice {
		t.Error("the agent was not told why")
	}
}

func TestDepartmentAnswerBecomesADraft(t *testing.T) {
	e := approvalEnv(t, nil)
	e.customerMail(t, "03-apolice-valor.eml", agentAna)
	var fwd mailtest.Delivery
	for _, d := range e.smtp.Deliveries() {
		if d.Rcpts[0] == "medico.online@example.test" {
			fwd = d
		}
	}
	if fwd.Data == nil {
		t.Fatal("no forward to medico.online")
	}
	ans := fmt.Sprintf("From: Médis <medico.online@example.test>\r\nTo: suporte@example.test\r\nSubject: RE: %s\r\nMessage-ID: <dept1@medis.example.test>\r\nIn-Reply-To: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nConfirmamos que o valor correto da teleconsulta no plano da cliente é de 10 euros; a diferença será devolvida.\r\n\r\nCumprimentos,\r\nEquipa Médis\r\n\r\n-----Original Message-----\r\nFrom: Apoio\r\n> texto antigo\r\n",
		hdr(fwd.Data, "Subject"), hdr(fwd.Data, "Message-Id"))
	before := len(e.smtp.Deliveries())
	e.deliver(t, []byte(ans))
	var draft *mailtest.Delivery
	for _, d := range e.smtp.Deliveries()[before:] {
		if d.Rcpts[0] == customer {
			t.Fatal("a department answer went to the customer without approval")
		}
		if d.Rcpts[0] == agentAna {
			dd := d
			draft = &dd
		}
	}
	if draft == nil || !strings.Contains(decodeQP(body(*draft)), "o valor correto da teleconsulta") {
		t.Fatal("no final-answer draft reached the agent")
	}
	e.deliver(t, reply(*draft, agentAna, "OK", outlook))
	got := e.toCustomer()
	if len(got) != 1 {
		t.Fatalf("%d answers after approving the department's draft", len(got))
	}
	text := decodeQP(body(got[0]))
	if !strings.Contains(text, "o valor correto da teleconsulta") || !strings.Contains(text, e.app.Cfg.Team.Disclaimer) || strings.Contains(text, "texto antigo") {
		t.Errorf("final answer:\n%s", text)
	}
}

func TestAutoSendIdentificationRequest(t *testing.T) {
	e := approvalEnv(t, func(c *config.Config) { c.Approval.AutoSend = []string{"identify"} })
	raw, _ := os.ReadFile("../demo/mails/07-consulta-cancelada-cobrada.eml") // no NIF: an identification request
	e.deliver(t, raw)
	n := 0
	for _, d := range e.smtp.Deliveries() {
		if strings.Contains(strings.Join(d.Rcpts, ","), "sofia") {
			n++
		}
	}
	if n != 1 || len(e.events(t, store.EvApproved)) != 1 {
		t.Errorf("auto-send: %d mails to the customer, approved events %v", n, e.events(t, store.EvApproved))
	}
	// The same customer writes again the same day: no second automatic answer; the draft
	// waits for an agent, and the cap is an alert.
	again := bytes.Replace(raw, []byte("Message-ID: <"), []byte("Message-ID: <again-"), 1)
	e.deliver(t, again)
	n = 0
	for _, d := range e.smtp.Deliveries() {
		if strings.Contains(strings.Join(d.Rcpts, ","), "sofia") {
			n++
		}
	}
	if n != 1 || len(e.events(t, store.EvApproved)) != 1 {
		t.Errorf("past the cap: %d mails to the customer", n)
	}
	alerts := 0
	for _, ev := range e.events(t, store.EvAlert) {
		if strings.Contains(ev.Data, "auto-send-cap") {
			alerts++
		}
	}
	if alerts != 1 {
		t.Errorf("%d auto-send-cap alerts", alerts)
	}
}

// decodeQP undoes quoted-printable, which go-mail uses for non-ASCII text bodies.
func decodeQP(s string) string {
	b, err := io.ReadAll(quotedprintable.NewReader(strings.NewReader(s)))
	if err != nil {
		return s
	}
	return string(b)
}

// A web form's mail, from a noreply sender with Auto-Submitted set, is a customer's: it is
// forwarded, drafted, and once approved answered at the form's Reply-To, never at the form.
func TestWebFormMailIsAnsweredAtItsCustomer(t *testing.T) {
	const form = "noreply@forms.example.test"
	e := approvalEnv(t, func(c *config.Config) { c.Team.FormSenders = []string{form} })
	raw := []byte("From: Formulário de contacto <" + form + ">\r\nTo: suporte@example.test\r\nReply-To: " + customer + "\r\n" +
		"Auto-Submitted: auto-generated\r\nSubject: [Contacto] Faturas\r\nMessage-ID: <form-77@forms.example.test>\r\n" +
		"Date: Thu, 03 Dec 2026 10:00:00 +0000\r\n\r\nNome: Ana Costa\r\nEmail: " + customer + "\r\nNIF: 190328477\r\n" +
		"Mensagem: Boa tarde, preciso da fatura da teleconsulta de ontem para o IRS.\r\n")
	before := len(e.smtp.Deliveries())
	e.deliver(t, raw)
	var draft mailtest.Delivery
	forwarded := false
	for _, d := range e.smtp.Deliveries()[before:] {
		for _, r := range d.Rcpts {
			switch {
			case r == form:
				t.Errorf("something was sent to the form's own address: %s", hdr(d.Data, "Subject"))
			case r == agentAna && strings.Contains(hdr(d.Data, "Subject"), "Rascunho"):
				draft = d
			case strings.HasPrefix(r, "rute.joao"):
				forwarded = true
			}
		}
	}
	if !forwarded || draft.Data == nil {
		t.Fatalf("forwarded to the invoice contact: %v; a draft for %s: %v", forwarded, agentAna, draft.Data != nil)
	}
	if len(e.toCustomer()) != 0 {
		t.Fatal("the customer got mail before any approval")
	}
	e.deliver(t, reply(draft, agentAna, "APROVAR", gmail))
	if got := e.toCustomer(); len(got) != 1 {
		t.Fatalf("%d answers to the form's customer after APROVAR, want 1", len(got))
	}
}
