package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Draft states.
const (
	DraftPending  = "pending"
	DraftApproved = "approved" // sent as proposed
	DraftEdited   = "edited"   // sent as the agent rewrote it
	DraftRejected = "rejected"
	DraftAuto     = "auto" // sent without approval, as approval.auto_send allows
)

// Sent reports whether the draft's text was released to the customer: approved as is,
// edited, or sent without approval by approval.auto_send.
func (d Draft) Sent() bool {
	return d.State == DraftApproved || d.State == DraftEdited || d.State == DraftAuto
}

// Draft is a customer-facing text waiting for an agent.
type Draft struct {
	ID           int64
	Message      int64
	CaseRef      string
	Kind         string
	Category     string
	Customer     string
	Subject      string
	InReplyTo    string
	Refs         []string
	Language     string
	Template     string
	TemplateHash string
	Disclaimer   bool
	TextBlob     string
	TextSHA256   string
	State        string
	CreatedAt    int64
	ExpiresAt    int64
	DecidedBy    string
	FinalBlob    string
	DiffBlob     string
	AnswerOutbox sql.NullInt64
}

const draftColumns = `id, message, case_ref, kind, category, customer, subject, in_reply_to, refs, language, template, template_hash,
	disclaimer, text_blob, text_sha256, state, created_at, expires_at, decided_by, final_blob, diff_blob, answer_outbox`

func scanDraft(sc interface{ Scan(...any) error }) (Draft, error) {
	var d Draft
	var refs string
	err := sc.Scan(&d.ID, &d.Message, &d.CaseRef, &d.Kind, &d.Category, &d.Customer, &d.Subject, &d.InReplyTo, &refs, &d.Language,
		&d.Template, &d.TemplateHash, &d.Disclaimer, &d.TextBlob, &d.TextSHA256, &d.State, &d.CreatedAt, &d.ExpiresAt,
		&d.DecidedBy, &d.FinalBlob, &d.DiffBlob, &d.AnswerOutbox)
	d.Refs = strings.Fields(refs)
	return d, err
}

// InsertDraft records d (state and times are set here). A draft of the same kind for the
// same mail already recorded is returned instead: deciding a mail twice drafts once.
func (t *Tx) InsertDraft(d *Draft, ttl time.Duration) (inserted bool, err error) {
	d.State = DraftPending
	d.CreatedAt, d.ExpiresAt = t.Now.UnixMilli(), t.Now.Add(ttl).UnixMilli()
	res, err := t.exec(`INSERT INTO drafts (message, case_ref, kind, category, customer, subject, in_reply_to, refs, language, template,
		template_hash, disclaimer, text_blob, text_sha256, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (message, kind) DO NOTHING`,
		d.Message, d.CaseRef, d.Kind, d.Category, d.Customer, d.Subject, d.InReplyTo, strings.Join(d.Refs, " "), d.Language, d.Template,
		d.TemplateHash, d.Disclaimer, d.TextBlob, d.TextSHA256, d.State, d.CreatedAt, d.ExpiresAt)
	if err != nil {
		return false, fmt.Errorf("record draft: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		d.ID, _ = res.LastInsertId()
		return true, nil
	}
	old, err := scanDraft(t.queryRow(`SELECT `+draftColumns+` FROM drafts WHERE message = ? AND kind = ?`, d.Message, d.Kind))
	if err != nil {
		return false, err
	}
	*d = old
	return false, nil
}

// Draft returns one draft.
func (t *Tx) Draft(id int64) (Draft, bool, error) {
	d, err := scanDraft(t.queryRow(`SELECT `+draftColumns+` FROM drafts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Draft{}, false, nil
	}
	return d, err == nil, err
}

// DraftOfOutbox returns the draft whose answer is outbox row id.
func (s *Store) DraftOfOutbox(ctx context.Context, id int64) (Draft, bool, error) {
	d, err := scanDraft(s.db.QueryRowContext(ctx, `SELECT `+draftColumns+` FROM drafts WHERE answer_outbox = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Draft{}, false, nil
	}
	return d, err == nil, err
}

// DraftsOf returns the drafts of a case, oldest first.
func (s *Store) DraftsOf(ctx context.Context, caseRef string) ([]Draft, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+draftColumns+` FROM drafts WHERE case_ref = ? ORDER BY id`, caseRef)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Draft
	for rows.Next() {
		d, err := scanDraft(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Token is the stored form of a reply token: its hash.
type Token struct {
	Hash      string
	Draft     int64
	Agent     string
	KeyID     string
	ExpiresAt int64
	Used      bool
}

// InsertToken records the hash of a token issued for draft to agent.
func (t *Tx) InsertToken(tok Token) error {
	_, err := t.exec(`INSERT INTO tokens (hash, draft, agent, key_id, expires_at) VALUES (?, ?, ?, ?, ?)`,
		tok.Hash, tok.Draft, tok.Agent, tok.KeyID, tok.ExpiresAt)
	return err
}

// TokenByHash finds a token.
func (t *Tx) TokenByHash(hash string) (Token, bool, error) {
	var tok Token
	var used sql.NullInt64
	err := t.queryRow(`SELECT hash, draft, agent, key_id, expires_at, used_at FROM tokens WHERE hash = ?`, hash).
		Scan(&tok.Hash, &tok.Draft, &tok.Agent, &tok.KeyID, &tok.ExpiresAt, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return Token{}, false, nil
	}
	tok.Used = used.Valid
	return tok, err == nil, err
}

// UseToken marks a token used by the reply in message; false when it was already used.
func (t *Tx) UseToken(hash string, message int64) (bool, error) {
	res, err := t.exec(`UPDATE tokens SET used_at = ?, used_by = ? WHERE hash = ? AND used_at IS NULL`, t.Now.UnixMilli(), message, hash)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ResolveDraft moves a pending draft to state, once: false when it was no longer pending
// (a replay, or another agent was first). It is the single conditional UPDATE an approval
// turns on.
func (t *Tx) ResolveDraft(id int64, state, by, finalBlob, diffBlob string, answer int64) (bool, error) {
	var out any
	if answer > 0 {
		out = answer
	}
	res, err := t.exec(`UPDATE drafts SET state = ?, decided_at = ?, decided_by = ?, final_blob = ?, diff_blob = ?, answer_outbox = ?
		WHERE id = ? AND state = 'pending'`, state, t.Now.UnixMilli(), by, finalBlob, diffBlob, out, id)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// NoticeAllowed reports whether agent may be told about a refusal now, at most once per
// interval, and records it when so.
func (t *Tx) NoticeAllowed(agent string, interval time.Duration) (bool, error) {
	res, err := t.exec(`INSERT INTO notices (agent, last_at) VALUES (?, ?)
		ON CONFLICT (agent) DO UPDATE SET last_at = excluded.last_at WHERE notices.last_at <= ?`,
		agent, t.Now.UnixMilli(), t.Now.Add(-interval).UnixMilli())
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ForwardCase finds the case whose forward had one of these Message-IDs (no <>).
func (t *Tx) ForwardCase(ids []string) (caseRef string, message int64, ok bool, err error) {
	for _, id := range ids {
		err = t.queryRow(`SELECT case_ref, message FROM outbox WHERE message_id = ? AND kind = 'forward'`, strings.Trim(id, "<> ")).Scan(&caseRef, &message)
		if err == nil {
			return caseRef, message, true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return "", 0, false, err
		}
	}
	return "", 0, false, nil
}

// CaseByRef finds the first message of a case by its reference.
func (t *Tx) CaseByRef(ref string) (message int64, ok bool, err error) {
	err = t.queryRow(`SELECT id FROM messages WHERE case_ref = ? ORDER BY id LIMIT 1`, ref).Scan(&message)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return message, err == nil, err
}

// MessageByID returns one message inside a transaction.
func (t *Tx) MessageByID(id int64) (Message, error) {
	return scanMessage(t.queryRow(`SELECT `+messageColumns+` FROM messages WHERE id = ?`, id))
}

// DecisionOf returns the decision of a message.
func (t *Tx) DecisionOf(message int64) (Decision, bool, error) {
	var d Decision
	err := t.queryRow(`SELECT message, category, confidence, action, customer, nif_hash, identified, disclaimer, trace FROM decisions WHERE message = ?`, message).
		Scan(&d.Message, &d.Category, &d.Confidence, &d.Action, &d.Customer, &d.NIFHash, &d.Identified, &d.Disclaimer, &d.Trace)
	if errors.Is(err, sql.ErrNoRows) {
		return Decision{}, false, nil
	}
	return d, err == nil, err
}

// AutoSentTo counts the answers sent to customer without approval since t: the cap on
// automatic replies per sender (RFC 5230's :days) is checked against it.
func (t *Tx) AutoSentTo(customer string, since time.Time) (int, error) {
	var n int
	err := t.queryRow(`SELECT count(*) FROM drafts WHERE state = 'auto' AND lower(customer) = lower(?) AND created_at >= ?`,
		customer, since.UnixMilli()).Scan(&n)
	return n, err
}
