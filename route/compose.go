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
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/templates"
	"github.com/triagem/triagem/textnorm"
)

// Kinds of outgoing message.
const (
	KindForward    = "forward"    // the case to its department
	KindDraft      = "draft"      // a proposed customer reply, to the agents
	KindEscalation = "escalation" // a review case, copied to the review escalation address
	KindAnswer     = "answer"     // an approved text, to the customer
	KindNotice     = "notice"     // why an agent's reply was refused, to that agent
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
		return []Outgoing{fwd}, nil
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
	reasons, err := c.tmpl.Reasons(c.cfg.Team.Language, d.Reasons)
	if err != nil {
		return Outgoing{}, err
	}
	body, err := c.tmpl.Render("forward", c.cfg.Team.Language, map[string]any{
		"CaseRef": cs.Ref, "Label": cat.Label, "Category": d.Category, "Confidence": d.Confidence,
		"Name": nameOf(d), "Customer": d.Customer, "NIF": d.ValidNIF(), "InvalidNIF": invalid,
		"Subject": cs.Mail.Subject, "Received": cs.Received.Format("2006-01-02 15:04 MST"),
		"Attachments": strings.Join(atts, "; "), "Reasons": reasons,
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject, err := c.subject("forward", cs.Ref, cs.Mail.Subject, cat.Label)
	if err != nil {
		return Outgoing{}, err
	}
	return c.build(KindForward, cs, d.To, d.Cc, subject, body.Text, true)
}

func (c *Composer) escalation(d Decision, cs Case) (Outgoing, error) {
	reasons, err := c.tmpl.Reasons(c.cfg.Team.Language, d.Reasons)
	if err != nil {
		return Outgoing{}, err
	}
	body, err := c.tmpl.Render("review", c.cfg.Team.Language, map[string]any{
		"CaseRef": cs.Ref, "Name": nameOf(d), "Customer": d.Customer, "Subject": cs.Mail.Subject, "Reasons": reasons,
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject, err := c.subject("review", cs.Ref, cs.Mail.Subject, "")
	if err != nil {
		return Outgoing{}, err
	}
	return c.build(KindEscalation, cs, []string{c.cfg.Team.ReviewEscalation}, nil, subject, body.Text, true)
}

// DraftSpec is what an agent sees of one draft.
type DraftSpec struct {
	ID             int64
	CaseRef        string
	Name, Customer string
	Category       string
	Forwarded      []string
	Subject        string // the customer's subject
	Text           string // the proposed customer-facing text
	Original       string // the customer's (or the department's) mail, as the agent reads it
	FromDepartment string // set for a department's answer
	Expires        time.Time
	Disclaimer     bool
}

// DraftMail is the mail that shows an agent a draft and how to act on it. Its Reply-To is
// replyTo, the agent's signed address; the token never appears in Message-ID or References.
func (c *Composer) DraftMail(sp DraftSpec, agent, replyTo string) (Outgoing, error) {
	label := sp.Category
	if cat := c.cfg.Category(sp.Category); cat != nil {
		label = cat.Label
	}
	disclaimer := ""
	if sp.Disclaimer {
		disclaimer = c.cfg.Team.Disclaimer
	}
	body, err := c.tmpl.Render("draft", c.cfg.Team.Language, map[string]any{
		"CaseRef": sp.CaseRef, "Name": sp.Name, "Customer": sp.Customer, "Label": label, "Category": sp.Category,
		"Forwarded": strings.Join(sp.Forwarded, ", "), "Subject": sp.Subject, "Draft": sp.Text, "CustomerText": sp.Original,
		"FromDepartment": sp.FromDepartment, "Expires": sp.Expires.Format("2006-01-02 15:04 MST"), "Disclaimer": disclaimer,
	})
	if err != nil {
		return Outgoing{}, err
	}
	subject, err := c.subject("draft", sp.CaseRef, sp.Subject, label)
	if err != nil {
		return Outgoing{}, err
	}
	id := derivedID("draft", sp.CaseRef, fmt.Sprintf("%d\x00%s", sp.ID, strings.ToLower(agent)), c.cfg.Daemon.MessageIDDomain)
	out, err := c.mail(mailSpec{kind: KindDraft, id: id, caseRef: sp.CaseRef, to: []string{agent}, subject: subject, body: body.Text,
		automatic: true, replyTo: replyTo})
	out.Template, out.TemplateHash = body.Template, body.Hash
	return out, err
}

// AnswerSpec is an approved text on its way to the customer.
type AnswerSpec struct {
	DraftID   int64
	CaseRef   string
	Customer  string
	Subject   string // already "Re: ..."
	InReplyTo string
	Refs      []string
	Text      string
}

// Answer is the customer's reply: only the approved text, to the stored customer address,
// threaded to the customer's mail, from the team, and without Auto-Submitted (a person
// approved it).
func (c *Composer) Answer(sp AnswerSpec) (Outgoing, error) {
	id := derivedID(KindAnswer, sp.CaseRef, fmt.Sprint(sp.DraftID), c.cfg.Daemon.MessageIDDomain)
	return c.mail(mailSpec{kind: KindAnswer, id: id, caseRef: sp.CaseRef, to: []string{sp.Customer}, subject: sp.Subject,
		body: sp.Text, inReplyTo: sp.InReplyTo, refs: sp.Refs})
}

// Notice tells an agent why a reply was refused.
func (c *Composer) Notice(caseRef, agent string, why reason.Reason, hint, from, subject, replyID string) (Outgoing, error) {
	said, err := c.tmpl.Reasons(c.cfg.Team.Language, []reason.Reason{why})
	if err != nil {
		return Outgoing{}, err
	}
	body, err := c.tmpl.Render("notice", c.cfg.Team.Language, map[string]any{
		"CaseRef": caseRef, "Reason": said[0], "Hint": hint, "From": from, "Subject": subject,
		"Interval": c.cfg.Approval.NoticeInterval.Duration.String(), "Disclaimer": c.cfg.Team.Disclaimer,
	})
	if err != nil {
		return Outgoing{}, err
	}
	line, err := c.subject("notice", caseRef, subject, "")
	if err != nil {
		return Outgoing{}, err
	}
	id := derivedID(KindNotice, caseRef, replyID+"\x00"+agent, c.cfg.Daemon.MessageIDDomain)
	return c.mail(mailSpec{kind: KindNotice, id: id, caseRef: caseRef, to: []string{agent},
		subject: line, body: body.Text, automatic: true})
}

// DepartmentAnswer wraps a department's text in the answer template for the customer.
func (c *Composer) DepartmentAnswer(text, name, lang, caseRef string, disclaimer bool) (templates.Rendered, error) {
	d := ""
	if disclaimer {
		d = c.cfg.Team.Disclaimer
	}
	return c.tmpl.Render("answer", lang, map[string]any{"Text": strings.TrimSpace(text), "Name": name, "CaseRef": caseRef, "Disclaimer": d})
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
	// .Text is the customer's words, folded, for the template's own hints
	// ({{if mentions .Text "botao" "zoom"}}): what a procedure suggests is in its texts.
	return c.tmpl.Render("ack", d.Language, map[string]any{
		"Name": nameOf(d), "Category": d.Category, "CaseRef": cs.Ref,
		"MissingName": d.Name == nil && c.cfg.Team.Asks("name"), "MissingNIF": d.ValidNIF() == "" && c.cfg.Team.Asks("nif"), "InvalidNIF": d.NIF != nil && !d.NIF.Valid,
		"Disclaimer": disclaimer, "Text": textnorm.Fold(text),
	})
}

// build serializes one message of a case. attach puts the customer's original in as
// message/rfc822, unencoded (7bit/8bit), so the department sees it exactly as it arrived.
func (c *Composer) build(kind string, cs Case, to, cc []string, subject, body string, attach bool) (Outgoing, error) {
	sp := mailSpec{kind: kind, id: MessageID(kind, cs, append(append([]string{}, to...), cc...), c.cfg.Daemon.MessageIDDomain),
		caseRef: cs.Ref, to: to, cc: cc, subject: subject, body: body, automatic: true}
	if cs.Mail != nil && cs.Mail.MessageID != "" && kind != KindForward {
		sp.original = "<" + cs.Mail.MessageID + ">"
	}
	if attach {
		sp.attach = cs.Raw
	}
	return c.mail(sp)
}

type mailSpec struct {
	kind, id, caseRef string
	to, cc            []string
	subject, body     string
	// automatic marks mail no person wrote: Auto-Submitted, and a request not to answer it.
	automatic bool
	replyTo   string
	inReplyTo string
	refs      []string
	original  string
	attach    []byte
}

func (c *Composer) mail(sp mailSpec) (Outgoing, error) {
	from, err := config.ParseAddress(c.cfg.Team.From)
	if err != nil {
		return Outgoing{}, fmt.Errorf("team.from: %w", err)
	}
	rcpts := append(append([]string{}, sp.to...), sp.cc...)
	m := gomail.NewMsg()
	if err := m.From(c.cfg.Team.From); err != nil {
		return Outgoing{}, fmt.Errorf("from: %w", err)
	}
	if err := m.To(sp.to...); err != nil {
		return Outgoing{}, fmt.Errorf("to: %w", err)
	}
	if len(sp.cc) > 0 {
		if err := m.Cc(sp.cc...); err != nil {
			return Outgoing{}, fmt.Errorf("cc: %w", err)
		}
	}
	if sp.replyTo != "" {
		if err := m.ReplyTo(sp.replyTo); err != nil {
			return Outgoing{}, fmt.Errorf("reply-to: %w", err)
		}
	}
	m.Subject(sp.subject)
	m.SetMessageIDWithValue(sp.id)
	m.SetDateWithValue(time.Now())
	if sp.inReplyTo != "" {
		m.SetGenHeader(gomail.HeaderInReplyTo, "<"+strings.Trim(sp.inReplyTo, "<>")+">")
	}
	if len(sp.refs) > 0 {
		var refs []string
		for _, r := range sp.refs {
			refs = append(refs, "<"+strings.Trim(r, "<>")+">")
		}
		m.SetGenHeader(gomail.HeaderReferences, strings.Join(refs, " "))
	}
	if sp.automatic {
		// Robots must not answer what triagem sends on its own.
		m.SetGenHeader("Auto-Submitted", "auto-generated")
		m.SetGenHeader("X-Auto-Response-Suppress", "All")
	}
	// Recognisable as ours if it ever comes back.
	m.SetGenHeader(gomail.Header(screen.MarkerHeader), sp.caseRef)
	if sp.original != "" {
		m.SetGenHeader("X-Triagem-Original", sp.original)
	}
	m.SetBodyString(gomail.TypeTextPlain, sp.body)
	if sp.attach != nil {
		// message/rfc822 admits no transfer encoding (RFC 2046 5.2.1): the original goes
		// byte for byte, labelled 8bit. go-mail's "7bit" would quoted-printable it.
		// A ReadSeeker is read when the message is written; AttachReader would copy it
		// first, which for a 25 MB scan is 25 MB more.
		m.AttachReadSeeker("mensagem-original.eml", bytes.NewReader(sp.attach),
			gomail.WithFileContentType("message/rfc822"), gomail.WithFileEncoding(gomail.NoEncoding))
	}
	var buf bytes.Buffer
	buf.Grow(len(sp.attach) + len(sp.body) + 8<<10) // headers and text: grown once, not doubled
	if _, err := m.WriteTo(&buf); err != nil {
		return Outgoing{}, fmt.Errorf("serialize %s: %w", sp.kind, err)
	}
	return Outgoing{Kind: sp.kind, MessageID: sp.id, EnvFrom: from.Address, Rcpts: lower(rcpts), Raw: buf.Bytes()}, nil
}

// derivedID is a deterministic Message-ID for a message that is not of one case's route.
func derivedID(kind, caseRef, key, domain string) string {
	h := sha256.Sum256([]byte(kind + "\x00" + key))
	return fmt.Sprintf("%s.%s.%s@%s", kind, strings.ToLower(caseRef), hex.EncodeToString(h[:])[:12], domain)
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

// QuoteForAgent is a mail as an agent reads it in a draft: sender, subject, new text.
func QuoteForAgent(m *parse.Mail) string {
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

// subject is the subject line of a mail to the team (kind is a block of the team
// language's subjects template), about the case ref and a mail whose subject was subject.
func (c *Composer) subject(kind, ref, subject, label string) (string, error) {
	lang := c.cfg.Team.Language
	if strings.TrimSpace(subject) == "" {
		var err error
		if subject, err = c.tmpl.Line("subjects", "empty", lang, nil); err != nil {
			return "", err
		}
	}
	return c.tmpl.Line("subjects", kind, lang, map[string]string{"CaseRef": ref, "Subject": subject, "Label": label})
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

// DraftKind is the kind of draft a decision's reply is: "identify" when it asks for what
// the procedure needs to know of the customer (team.identify: NOME and NIF in 001), "ack"
// otherwise.
func DraftKind(d Decision) string {
	if !d.Identified {
		return "identify"
	}
	return "ack"
}
