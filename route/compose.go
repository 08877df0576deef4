package route

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/templates"
)

// Kinds of outgoing message.
const (
	KindForward    = "forward"    // the case to its department
	KindDraft      = "draft"      // a proposed customer reply, to the agents
	KindEscalation = "escalation" // a review case, copied to the review escalation address
)

// Outgoing is one message ready for the outbox: serialized once, never re-rendered.
type Outgoing struct {
	Kind         string
	MessageID    string // without <>
	EnvFrom      string
	Rcpts        []string
	Raw          []byte
	Template     string
	TemplateHash string
}

// Case is the received mail a decision is about.
type Case struct {
	Ref      string // TRG-XXXXXXXX
	Key      string // what identifies the case: its Message-ID, or the hash of its bytes
	Received time.Time
	Raw      []byte
	Mail     *parse.Mail
}

// Composer writes the messages a decision takes.
type Composer struct {
	cfg  *config.Config
	tmpl *templates.Set
}

// NewComposer prepares a composer.
func NewComposer(cfg *config.Config, t *templates.Set) *Composer {
	return &Composer{cfg: cfg, tmpl: t}
}

// Compose returns the outgoing messages of d, each with a Message-ID derived only from the
// case and the route, so composing again after a crash gives the same identities.
func (c *Composer) Compose(d Decision, cs Case) ([]Outgoing, error) {
	switch d.Action {
	case Forward:
		fwd, err := c.forward(d, cs)
		if err != nil {
			return nil, err
		}
		draft, err := c.draft(d, cs)
		if err != nil {
			return nil, err
		}
		return []Outgoing{fwd, draft}, nil
	case Review:
		if c.cfg.Team.ReviewEscalation == "" || cs.Mail == nil {
			return nil, nil
		}
		esc, err := c.escalation(d, cs)
		if err != nil {
			return nil, err
		}
		return []Outgoing{esc}, nil
	}
	return nil, nil
}

func (c *Composer) forward(d Decision, cs Case) (Outgoing, error) {
	cat := c.cfg.Category(d.Category)
	invalid := ""
	if d.NIF != nil && !d.NIF.Valid {
		invalid = d.NIF.Value
	}
	var atts []string
	for _, a := range cs.Mail.Attachments {
		atts = append(atts, fmt.Sprintf("%s (%s, %d bytes)", a.Name, a.Type, a.Size))
	}
	body, err := c.tmpl.Render("forward", c.cfg.Team.Language, map[string]any{
		"CaseRef": cs.Ref, "Label": cat.Label, "Category": d.Category, "Confidence": d.Confidence,
		"Name": nameOf(d), "Customer": d.Customer, "NIF": d.ValidNIF(), "InvalidNIF": invalid,
		"Subject": cs.Mail.Subject, "Received": cs.Received.Format("2006-01-02 15:04 MST"),
		"Attachments": strings.Join(atts, "; "), "Reasons": d.Reasons,
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject := fmt.Sprintf("[%s] %s: %s", cs.Ref, cat.Label, orNoSubject(cs.Mail.Subject))
	return c.build(KindForward, cs, d.To, d.Cc, subject, body.Text, true)
}

func (c *Composer) escalation(d Decision, cs Case) (Outgoing, error) {
	body, err := c.tmpl.Render("review", c.cfg.Team.Language, map[string]any{
		"CaseRef": cs.Ref, "Name": nameOf(d), "Customer": d.Customer, "Subject": cs.Mail.Subject, "Reasons": d.Reasons,
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject := fmt.Sprintf("[%s] Revisão: %s", cs.Ref, orNoSubject(cs.Mail.Subject))
	return c.build(KindEscalation, cs, []string{c.cfg.Team.ReviewEscalation}, nil, subject, body.Text, true)
}

// draft is the proposed answer to the customer, sent to the agents. It is never sent to
// the customer by triagem itself.
func (c *Composer) draft(d Decision, cs Case) (Outgoing, error) {
	ack, err := c.CustomerReply(d, cs)
	if err != nil {
		return Outgoing{}, err
	}
	cat := c.cfg.Category(d.Category)
	body, err := c.tmpl.Render("draft", c.cfg.Team.Language, map[string]any{
		"CaseRef": cs.Ref, "Name": nameOf(d), "Customer": d.Customer, "Label": cat.Label, "Category": d.Category,
		"Forwarded": strings.Join(append(append([]string{}, d.To...), d.Cc...), ", "), "Subject": cs.Mail.Subject,
		"Draft": ack.Text, "CustomerText": quoteForAgent(cs.Mail),
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject := fmt.Sprintf("[%s] Rascunho: Re: %s", cs.Ref, orNoSubject(cs.Mail.Subject))
	out, err := c.build(KindDraft, cs, c.cfg.Team.Agents, nil, subject, body.Text, false)
	out.Template, out.TemplateHash = ack.Template, ack.Hash
	return out, err
}

// CustomerReply renders the acknowledgement the customer would get: it asks only for
// what is missing and carries the disclaimer where the category demands it.
func (c *Composer) CustomerReply(d Decision, cs Case) (templates.Rendered, error) {
	disclaimer := ""
	if d.Disclaimer {
		disclaimer = c.cfg.Team.Disclaimer
	}
	text := ""
	if cs.Mail != nil {
		text = cs.Mail.Subject + "\n" + cs.Mail.NewText
	}
	f := strings.ToLower(text)
	return c.tmpl.Render("ack", d.Language, map[string]any{
		"Name": nameOf(d), "Category": d.Category, "CaseRef": cs.Ref,
		"MissingName": d.Name == nil, "MissingNIF": d.ValidNIF() == "", "InvalidNIF": d.NIF != nil && !d.NIF.Valid,
		"Disclaimer":    disclaimer,
		"BookingButton": strings.Contains(f, "bot") && (strings.Contains(f, "marca") || strings.Contains(f, "agend") || strings.Contains(f, "book")),
		"DoubleCharge":  strings.Contains(f, "duas vezes") || strings.Contains(f, "duplica") || strings.Contains(f, "twice") || strings.Contains(f, "cativ"),
	})
}

// build serializes one message. attach puts the customer's original in as message/rfc822,
// unencoded (7bit/8bit), so the department sees it exactly as it arrived.
func (c *Composer) build(kind string, cs Case, to, cc []string, subject, body string, attach bool) (Outgoing, error) {
	from, err := config.ParseAddress(c.cfg.Team.From)
	if err != nil {
		return Outgoing{}, fmt.Errorf("team.from: %w", err)
	}
	rcpts := append(append([]string{}, to...), cc...)
	id := MessageID(kind, cs, rcpts, c.cfg.Daemon.MessageIDDomain)

	m := gomail.NewMsg()
	if err := m.From(c.cfg.Team.From); err != nil {
		return Outgoing{}, fmt.Errorf("from: %w", err)
	}
	if err := m.To(to...); err != nil {
		return Outgoing{}, fmt.Errorf("to: %w", err)
	}
	if len(cc) > 0 {
		if err := m.Cc(cc...); err != nil {
			return Outgoing{}, fmt.Errorf("cc: %w", err)
		}
	}
	m.Subject(subject)
	m.SetMessageIDWithValue(id)
	m.SetDateWithValue(time.Now())
	// Everything triagem sends is automatic: robots must not answer it, and it must be
	// recognisable as ours if it ever comes back.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader("X-Auto-Response-Suppress", "All")
	m.SetGenHeader(gomail.Header(screen.MarkerHeader), cs.Ref)
	if cs.Mail != nil && cs.Mail.MessageID != "" && kind != KindForward {
		m.SetGenHeader("X-Triagem-Original", "<"+cs.Mail.MessageID+">")
	}
	m.SetBodyString(gomail.TypeTextPlain, body)
	if attach && cs.Raw != nil {
		enc := gomail.EncodingUSASCII
		if !isASCII(cs.Raw) {
			enc = gomail.NoEncoding
		}
		if err := m.AttachReader("mensagem-original.eml", bytes.NewReader(cs.Raw),
			gomail.WithFileContentType("message/rfc822"), gomail.WithFileEncoding(enc)); err != nil {
			return Outgoing{}, fmt.Errorf("attach original: %w", err)
		}
	}
	var buf bytes.Buffer
	if _, err := m.WriteTo(&buf); err != nil {
		return Outgoing{}, fmt.Errorf("serialize %s: %w", kind, err)
	}
	return Outgoing{Kind: kind, MessageID: id, EnvFrom: from.Address, Rcpts: lower(rcpts), Raw: buf.Bytes()}, nil
}

// MessageID is the deterministic identity of the kind message of a case to rcpts.
func MessageID(kind string, cs Case, rcpts []string, domain string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", kind, cs.Key, strings.Join(lower(rcpts), ","))
	return fmt.Sprintf("%s.%s.%s@%s", kind, strings.ToLower(cs.Ref), hex.EncodeToString(h.Sum(nil))[:12], domain)
}

// CaseRef is the reference people see for a case key: TRG- and 8 characters.
func CaseRef(key string) string {
	sum := sha256.Sum256([]byte(key))
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I
	var b strings.Builder
	b.WriteString("TRG-")
	for i := 0; i < 8; i++ {
		b.WriteByte(alphabet[sum[i]%32])
	}
	return b.String()
}

func quoteForAgent(m *parse.Mail) string {
	var b strings.Builder
	if len(m.From) > 0 {
		fmt.Fprintf(&b, "De: %s <%s>\n", m.From[0].Name, m.From[0].Address)
	}
	fmt.Fprintf(&b, "Assunto: %s\n\n", m.Subject)
	b.WriteString(m.NewText)
	if m.Signature != "" {
		b.WriteString("\n" + m.Signature)
	}
	return b.String()
}

func nameOf(d Decision) string {
	if d.Name != nil {
		return d.Name.Value
	}
	return ""
}

func orNoSubject(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(sem assunto)"
	}
	return s
}

func lower(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if a, err := config.ParseAddress(s); err == nil {
			out = append(out, a.Address)
		} else {
			out = append(out, strings.ToLower(s))
		}
	}
	return out
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}
