package e2e

import (
	"bytes"
	"fmt"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

const authserv = "mx.e2e.example.test"

// approvalWorld is a world with two agents whose replies reach the watched inbox by
// plus-addressing, and whose MX is trusted to have checked DKIM.
func approvalWorld(t *testing.T) *world {
	w := newWorld(t)
	local, domain, _ := strings.Cut(w.inbox, "@")
	w.cfg.Approval.ReplyAddress = local + "+{token}@" + domain
	w.cfg.Team.Agents = []string{w.addr("ana"), w.addr("rui")}
	w.cfg.Approval.TrustedAuthservID = authserv
	w.save()
	return w
}

// customerWrites delivers demo mail name as if from customer (local part), and runs once.
func (w *world) customerWrites(name, customer string) {
	w.t.Helper()
	raw, err := os.ReadFile("../demo/mails/" + name + ".eml")
	if err != nil {
		w.t.Fatal(err)
	}
	m, _ := mail.ReadMessage(bytes.NewReader(raw))
	old := m.Header.Get("From")
	raw = bytes.Replace(raw, []byte("From: "+old), []byte("From: Cliente <"+w.addr(customer)+">"), 1)
	raw = bytes.Replace(raw, []byte(m.Header.Get("Message-ID")), []byte("<"+name+"-"+customer+"-"+w.tag+"@mail.example.test>"), 1)
	if err := w.stack.Deliver(w.addr(customer), w.inbox, raw); err != nil {
		w.t.Fatal(err)
	}
	w.waitFor(w.inbox, "INBOX", 1)
	w.triagem("run", "--once")
}

// waitFor waits until user's folder holds at least n messages and returns them.
func (w *world) waitFor(user, folder string, n int) [][]byte {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, err := w.stack.Messages(user, folder)
		if err != nil {
			w.t.Fatal(err)
		}
		if len(msgs) >= n {
			return msgs
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("%s %s holds %d messages, want at least %d", user, folder, len(msgs), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// draftFor is the newest draft in the agent's mailbox about the customer.
func (w *world) draftFor(agent, customer string) *mail.Message {
	w.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		msgs, _ := w.stack.Messages(w.addr(agent), "INBOX")
		for i := len(msgs) - 1; i >= 0; i-- {
			if bytes.Contains(msgs[i], []byte(w.addr(customer))) && bytes.Contains(msgs[i], []byte("Rascunho")) {
				m, err := mail.ReadMessage(bytes.NewReader(msgs[i]))
				if err != nil {
					w.t.Fatal(err)
				}
				return m
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no draft about %s reached %s", customer, agent)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type style int

const (
	gmailStyle style = iota
	outlookStyle
)

// agentReplies plays the agent's mail client: it answers the draft with top above the
// quoted draft, and submits it to Postfix for the draft's Reply-To (rcpt overrides it).
func (w *world) agentReplies(draft *mail.Message, from, top string, st style, rcpt string, extra ...string) {
	w.t.Helper()
	replyTo := strings.Trim(draft.Header.Get("Reply-To"), "<> ")
	if rcpt == "" {
		rcpt = replyTo
	}
	var body bytes.Buffer
	body.ReadFrom(draft.Body)
	var quoted strings.Builder
	for _, l := range strings.Split(strings.ReplaceAll(body.String(), "\r\n", "\n"), "\n") {
		if st == gmailStyle {
			quoted.WriteString("> ")
		}
		quoted.WriteString(l + "\r\n")
	}
	sep := "Em seg., 3 de mar. de 2025 às 10:00, Apoio <" + w.inbox + "> escreveu:\r\n"
	if st == outlookStyle {
		sep = "________________________________\r\nDe: Apoio <" + w.inbox + ">\r\nEnviado: segunda-feira, 3 de março de 2025 10:00\r\nPara: " + from + "\r\nAssunto: " + draft.Header.Get("Subject") + "\r\n\r\n"
	}
	h := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: RE: %s\r\nMessage-ID: <%d@agent.example.test>\r\nIn-Reply-To: %s\r\nReferences: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n",
		from, rcpt, draft.Header.Get("Subject"), time.Now().UnixNano(), draft.Header.Get("Message-Id"), draft.Header.Get("Message-Id"))
	auth := "Authentication-Results: " + authserv + "; dkim=pass header.d=" + w.stack.Domain + "; spf=pass"
	for _, x := range extra {
		if strings.HasPrefix(x, "Authentication-Results:") {
			auth = ""
		}
		h += x + "\r\n"
	}
	if auth != "" {
		h = auth + "\r\n" + h
	}
	raw := []byte(h + "\r\n" + strings.ReplaceAll(top, "\n", "\r\n") + "\r\n\r\n" + sep + quoted.String())
	addr := from
	if i := strings.LastIndexByte(from, '<'); i >= 0 {
		addr = strings.Trim(from[i:], "<>")
	}
	if err := w.stack.Deliver(addr, rcpt, raw); err != nil {
		w.t.Fatal(err)
	}
}

// answers are the messages in the customer's mailbox.
func (w *world) answers(customer string) [][]byte {
	msgs, err := w.stack.Messages(w.addr(customer), "INBOX")
	if err != nil {
		w.t.Fatal(err)
	}
	return msgs
}

// settle runs once after Postfix has handed every submitted message to Dovecot.
func (w *world) settle(n int) {
	w.t.Helper()
	w.waitFor(w.inbox, "INBOX", n)
	w.triagem("run", "--once")
}

func decoded(raw []byte) string {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return string(raw)
	}
	var b bytes.Buffer
	b.ReadFrom(m.Body)
	s := b.String()
	if strings.Contains(strings.ToLower(m.Header.Get("Content-Transfer-Encoding")), "quoted-printable") {
		s = strings.NewReplacer("=\r\n", "", "=C3=A1", "á", "=C3=A9", "é", "=C3=AD", "í", "=C3=B3", "ó", "=C3=A3", "ã", "=C3=A7", "ç", "=C3=A0", "à", "=C3=AA", "ê", "=C3=B5", "õ", "=C3=BA", "ú", "=E2=80=94", "—", "=3D", "=").Replace(s)
	}
	return s
}

// The acceptance of issue 4 on real Dovecot and Postfix: approve in Gmail and Outlook
// styles, edit, reject, a department's answer, and every attack, in one world.
func TestRealStackApprovalByReply(t *testing.T) {
	w := approvalWorld(t)
	ana := "Ana <" + w.addr("ana") + ">"
	disclaimer := w.cfg.Team.Disclaimer

	// Happy path, Gmail style, an insurance case: one threaded answer with the disclaimer.
	w.customerWrites("03-apolice-valor", "cliente1")
	if n := len(w.waitFor(w.addr("medico.online"), "INBOX", 1)); n != 1 {
		t.Fatalf("the department holds %d forwards", n)
	}
	d1 := w.draftFor("ana", "cliente1")
	if len(w.answers("cliente1")) != 0 {
		t.Fatal("the customer got mail before any approval")
	}
	w.agentReplies(d1, ana, "APROVAR", gmailStyle, "")
	w.settle(1)
	got := w.waitFor(w.addr("cliente1"), "INBOX", 1)
	m, _ := mail.ReadMessage(bytes.NewReader(got[0]))
	if m.Header.Get("In-Reply-To") != "<03-apolice-valor-cliente1-"+w.tag+"@mail.example.test>" || !strings.HasPrefix(m.Header.Get("Subject"), "Re: ") ||
		m.Header.Get("Auto-Submitted") != "" || !strings.Contains(decoded(got[0]), disclaimer) {
		t.Errorf("the answer: In-Reply-To %q, Subject %q, Auto-Submitted %q, disclaimer %v", m.Header.Get("In-Reply-To"),
			m.Header.Get("Subject"), m.Header.Get("Auto-Submitted"), strings.Contains(decoded(got[0]), disclaimer))
	}

	// Happy path, Outlook style ("APROVAR" above the original, unquoted under a rule).
	w.customerWrites("06-cobrado-duas-vezes", "cliente2")
	w.agentReplies(w.draftFor("ana", "cliente2"), ana, "APROVAR", outlookStyle, "")
	w.settle(1)
	w.waitFor(w.addr("cliente2"), "INBOX", 1)

	// Edit: the agent's text goes instead of the draft, without the agent's signature.
	w.customerWrites("01-receita-nao-recebida", "cliente3")
	w.agentReplies(w.draftFor("rui", "cliente3"), "Rui <"+w.addr("rui")+">", "Cara D. Maria,\nA receita foi reenviada hoje.\n\n-- \nRui Agente", gmailStyle, "")
	w.settle(1)
	edited := decoded(w.waitFor(w.addr("cliente3"), "INBOX", 1)[0])
	if !strings.Contains(edited, "A receita foi reenviada hoje.") || strings.Contains(edited, "Rui Agente") || strings.Contains(edited, "encaminhado para a equipa") {
		t.Errorf("edited answer:\n%s", edited)
	}

	// Reject: nothing is sent.
	w.customerWrites("08-fatura", "cliente4")
	w.agentReplies(w.draftFor("ana", "cliente4"), ana, "REJEITAR", gmailStyle, "")
	w.settle(1)

	// Attacks on a pending draft: each is refused and logged; nothing reaches the customer.
	w.customerWrites("04-app-nao-entra", "cliente6")
	w.customerWrites("05-botao-marcar", "cliente7")
	d6, d7 := w.draftFor("ana", "cliente6"), w.draftFor("ana", "cliente7")
	tok6 := strings.Trim(d6.Header.Get("Reply-To"), "<>")
	tok7 := strings.Trim(d7.Header.Get("Reply-To"), "<>")
	parts6 := strings.Split(strings.SplitN(strings.SplitN(tok6, "+", 2)[1], "@", 2)[0], ".")
	parts7 := strings.Split(strings.SplitN(strings.SplitN(tok7, "+", 2)[1], "@", 2)[0], ".")
	local, domain, _ := strings.Cut(w.inbox, "@")
	addrOf := func(tok []string) string { return local + "+" + strings.Join(tok, ".") + "@" + domain }
	badMAC := append([]string{}, parts6...)
	badMAC[3] = strings.Repeat("b", len(badMAC[3]))
	otherDraft := []string{parts6[0], parts7[1], parts6[2], parts6[3]}
	refusedBefore := w.count(`SELECT count(*) FROM events WHERE type = 'refused'`)
	attacks := []func(){
		func() { w.agentReplies(d6, ana, "APROVAR", gmailStyle, w.inbox) },                                      // forged From, no token
		func() { w.agentReplies(d6, ana, "APROVAR", gmailStyle, addrOf(badMAC)) },                               // wrong MAC
		func() { w.agentReplies(d6, ana, "APROVAR", gmailStyle, addrOf(otherDraft)) },                           // another draft's token
		func() { w.agentReplies(d6, "Mallory <"+w.addr("mallory")+">", "APROVAR", gmailStyle, "") },             // a non-agent
		func() { w.agentReplies(d6, `"`+w.addr("ana")+`" <`+w.addr("mallory")+">", "APROVAR", gmailStyle, "") }, // display-name trick
		func() { w.agentReplies(d6, ana, "Estou ausente.", gmailStyle, "", "Auto-Submitted: auto-replied") },    // out-of-office
		func() {
			w.agentReplies(d6, ana, "APROVAR", gmailStyle, "", "Authentication-Results: "+authserv+"; dkim=fail header.d="+w.stack.Domain)
		}, // dkim=fail at the trusted MX
	}
	for _, a := range attacks {
		a()
	}
	w.settle(len(attacks))
	if n := w.count(`SELECT count(*) FROM events WHERE type = 'refused'`) - refusedBefore; n != len(attacks) {
		t.Errorf("%d refused events for %d attacks", n, len(attacks))
	}
	// A replay of cliente1's approval: logged, nothing sent.
	w.agentReplies(d1, ana, "APROVAR", gmailStyle, "")
	w.settle(1)
	if n := w.count(`SELECT count(*) FROM events WHERE type = 'replay'`); n != 1 {
		t.Errorf("%d replay events", n)
	}
	time.Sleep(2 * time.Second) // anything wrongly sent would have been delivered by now
	for c, want := range map[string]int{"cliente1": 1, "cliente2": 1, "cliente3": 1, "cliente4": 0, "cliente6": 0, "cliente7": 0} {
		if n := len(w.answers(c)); n != want {
			t.Errorf("%s holds %d answers, want %d", c, n, want)
		}
	}
	if n := len(w.answers("mallory")); n != 0 {
		t.Errorf("the attacker got %d mails", n)
	}
	// The genuine approval still works after the attacks.
	w.agentReplies(d6, ana, "SIM", gmailStyle, "")
	w.settle(1)
	w.waitFor(w.addr("cliente6"), "INBOX", 1)
}

// A department's answer to a forward becomes a final-answer draft; it reaches the
// customer only after an agent approves it.
func TestRealStackDepartmentAnswer(t *testing.T) {
	w := approvalWorld(t)
	w.customerWrites("03-apolice-valor", "cliente")
	fwd, _ := mail.ReadMessage(bytes.NewReader(w.waitFor(w.addr("medico.online"), "INBOX", 1)[0]))
	w.draftFor("ana", "cliente") // the acknowledgement draft, left pending
	ans := fmt.Sprintf("From: Medis <%s>\r\nTo: %s\r\nSubject: RE: %s\r\nMessage-ID: <dept-%s@medis.example.test>\r\nIn-Reply-To: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nConfirmamos que o valor correto da teleconsulta no plano da cliente e de 10 euros.\r\n\r\nCumprimentos,\r\nEquipa Medis\r\n",
		w.addr("medico.online"), w.inbox, fwd.Header.Get("Subject"), w.tag, fwd.Header.Get("Message-Id"))
	if err := w.stack.Deliver(w.addr("medico.online"), w.inbox, []byte(ans)); err != nil {
		t.Fatal(err)
	}
	w.settle(1)
	var final *mail.Message
	deadline := time.Now().Add(60 * time.Second)
	for final == nil && time.Now().Before(deadline) {
		msgs, _ := w.stack.Messages(w.addr("ana"), "INBOX")
		for _, raw := range msgs {
			if bytes.Contains(raw, []byte("Resposta de")) {
				final, _ = mail.ReadMessage(bytes.NewReader(raw))
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if final == nil {
		t.Fatal("no final-answer draft reached the agent")
	}
	if len(w.answers("cliente")) != 0 {
		t.Fatal("the department's answer reached the customer without approval")
	}
	w.agentReplies(final, "Ana <"+w.addr("ana")+">", "APROVAR", outlookStyle, "")
	w.settle(1)
	text := decoded(w.waitFor(w.addr("cliente"), "INBOX", 1)[0])
	if !strings.Contains(text, "o valor correto da teleconsulta") || !strings.Contains(text, w.cfg.Team.Disclaimer) {
		t.Errorf("final answer:\n%s", text)
	}
}

// An expired token is refused.
func TestRealStackExpiredToken(t *testing.T) {
	w := approvalWorld(t)
	w.cfg.Approval.TokenTTL.Duration = 2 * time.Second
	w.save()
	w.customerWrites("06-cobrado-duas-vezes", "cliente")
	d := w.draftFor("ana", "cliente")
	time.Sleep(3 * time.Second)
	w.agentReplies(d, "Ana <"+w.addr("ana")+">", "APROVAR", gmailStyle, "")
	w.settle(1)
	if n := w.count(`SELECT count(*) FROM events WHERE type = 'refused' AND data LIKE '%expired%'`); n != 1 {
		t.Errorf("%d refusals for expiry", n)
	}
	time.Sleep(time.Second)
	if n := len(w.answers("cliente")); n != 0 {
		t.Errorf("an expired token sent %d answers", n)
	}
}

// kill -9 between an approval and its send neither loses the answer nor sends it twice
// under different Message-IDs.
func TestRealStackApprovalSurvivesSIGKILL(t *testing.T) {
	w := approvalWorld(t)
	const n = 6
	names := []string{"01-receita-nao-recebida", "03-apolice-valor", "04-app-nao-entra", "06-cobrado-duas-vezes", "08-fatura", "16-videochamada"}
	for i := 0; i < n; i++ {
		w.customerWrites(names[i], fmt.Sprintf("c%d", i))
	}
	for i := 0; i < n; i++ {
		w.agentReplies(w.draftFor("ana", fmt.Sprintf("c%d", i)), "Ana <"+w.addr("ana")+">", "APROVAR", gmailStyle, "")
	}
	w.waitFor(w.inbox, "INBOX", n)
	for k := 0; k < 6; k++ {
		cmd := exec.Command(binary, "run", "--config", w.path)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(80+k*60) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	w.triagem("run", "--once")
	time.Sleep(2 * time.Second)
	for i := 0; i < n; i++ {
		got := w.waitFor(w.addr(fmt.Sprintf("c%d", i)), "INBOX", 1)
		ids := map[string]bool{}
		for _, raw := range got {
			m, _ := mail.ReadMessage(bytes.NewReader(raw))
			ids[m.Header.Get("Message-Id")] = true
		}
		if len(ids) != 1 {
			t.Errorf("c%d got %d answers under %d Message-IDs", i, len(got), len(ids))
		}
		if len(got) > 1 {
			t.Logf("c%d got the answer %d times, under one Message-ID (a send interrupted after the 250)", i, len(got))
		}
	}
	if x := w.count(`SELECT count(*) FROM drafts WHERE kind != 'answer' AND state = 'approved'`); x != n {
		t.Errorf("%d approved drafts, want %d", x, n)
	}
}
