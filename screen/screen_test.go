package screen

import (
	"testing"

	"github.com/triagem/triagem/parse"
)

func check(t *testing.T, raw string) Verdict {
	t.Helper()
	m, err := parse.Parse([]byte(raw), parse.Limits{MaxHeaderBytes: 1 << 16, MaxParts: 10, MaxDepth: 5, MaxTextBytes: 1 << 16})
	if err != nil {
		t.Fatal(err)
	}
	return Check(m, Env{Own: map[string]bool{"suporte@ours.example": true}, Agents: map[string]bool{"agent@ours.example": true}, MessageIDDomain: "triagem.ours.example"})
}

// One fixture per rule: each of these must never be answered.
func TestAutomatedMailIsRecognised(t *testing.T) {
	const body = "\r\n\r\nolá\r\n"
	for name, hdr := range map[string]string{
		"auto-submitted": "From: a@c.example\r\nAuto-Submitted: auto-replied",
		"precedence":     "From: a@c.example\r\nPrecedence: bulk",
		"list-id":        "From: a@c.example\r\nList-Id: <x.c.example>",
		"report":         "From: a@c.example\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b",
		"null-path":      "From: a@c.example\r\nReturn-Path: <>",
		"x-autoreply":    "From: a@c.example\r\nX-Autoreply: yes",
		"mailer-daemon":  "From: MAILER-DAEMON@c.example",
		"postmaster":     "From: postmaster@c.example",
		"noreply":        "From: no-reply@c.example",
		"own address":    "From: Suporte <SUPORTE@ours.example>",
		"own message-id": "From: a@c.example\r\nMessage-ID: <forward.x@triagem.ours.example>",
		"our marker":     "From: a@c.example\r\nX-Triagem: TRG-1",
		"ooo subject":    "From: a@c.example\r\nSubject: Out of Office: consulta",
		"no from":        "Subject: x",
	} {
		if v := check(t, hdr+body); v.Kind == Customer {
			t.Errorf("%s: taken for a customer", name)
		}
	}
	loop := "From: a@c.example\r\n"
	for i := 0; i < 31; i++ {
		loop += "Received: from x by y\r\n"
	}
	if v := check(t, loop+body); v.Kind != Loop {
		t.Errorf("31 Received headers: %v, want a loop", v)
	}
	if v := check(t, "From: Ana <ana@c.example>\r\nAuto-Submitted: no\r\nSubject: receita"+body); v.Kind != Customer {
		t.Errorf("a person's mail was screened out: %v", v)
	}
	if v := check(t, "From: agent@ours.example\r\nIn-Reply-To: <draft.x@triagem.ours.example>"+body); v.Kind != Approval {
		t.Errorf("an agent's reply to a draft: %v", v)
	}
}
