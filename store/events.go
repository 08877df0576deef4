package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Event types: one per step of a case.
const (
	EvReceived    = "received"
	EvIgnored     = "ignored"
	EvQuarantined = "quarantined"
	EvDuplicate   = "duplicate"
	EvClassified  = "classified"
	EvQueued      = "queued"
	EvSent        = "sent"
	EvRetry       = "retry"
	EvFailed      = "failed" // parked: a permanent failure, or too many temporary ones
	EvMoved       = "moved"
	EvAlert       = "alert"
	// Approval by reply.
	EvDrafted    = "drafted"  // a customer-facing text waits for an agent
	EvApproved   = "approved" // sent as proposed (by an agent, or "auto")
	EvEdited     = "edited"   // sent as the agent rewrote it
	EvRejected   = "rejected" // discarded by an agent; the case goes back to review
	EvRefused    = "refused"  // a reply to a draft that was not obeyed, and why
	EvReplay     = "replay"   // a reply whose token was already used: logged, nothing else
	EvDeptAnswer = "department-answer"
	EvAudit      = "audit" // an operator's action on the log: purge, checkpoint
)

// Event is one row of the log. Data never holds message bodies or NIFs in clear.
type Event struct {
	Seq      int64
	At       int64
	Type     string
	CaseRef  string
	Message  int64
	Data     string // JSON object
	PrevHash string
	Hash     string
}

// Fields decodes Data.
func (e Event) Fields() map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal([]byte(e.Data), &m)
	return m
}

// ChainHash is the hash of an event given the previous one's: SHA-256 over the previous
// hash and the canonical row. Verification recomputes it for every row.
//
// The canonical row is the JSON array [seq, at, type, case_ref, message, data].
func ChainHash(prev string, seq, at int64, typ, caseRef string, message int64, data string) string {
	b := make([]byte, 0, len(prev)+len(data)+len(data)/8+96)
	b = append(b, prev...)
	b = append(b, '\n', '[')
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, at, 10)
	b = append(b, ',')
	b = appendJSONString(b, typ)
	b = append(b, ',')
	b = appendJSONString(b, caseRef)
	b = append(b, ',')
	b = strconv.AppendInt(b, message, 10)
	b = append(b, ',')
	b = appendJSONString(b, data)
	b = append(b, ']')
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func (t *Tx) logEvent(typ, caseRef string, message int64, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	b, err := appendJSON(make([]byte, 0, 512), data) // map keys are sorted: the encoding is canonical
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	// The chain head is read once per transaction (no other writer can move it meanwhile)
	// and forgotten when a savepoint rolls back.
	if t.head == nil {
		var h chainHead
		err = t.queryRow(`SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1`).Scan(&h.seq, &h.hash)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("read chain head: %w", err)
		}
		t.head = &h
	}
	prev := t.head.hash
	seq := t.head.seq + 1
	at := t.Now.UnixMilli()
	hash := ChainHash(prev, seq, at, typ, caseRef, message, string(b))
	t.events = append(t.events, pendingEvent{seq, at, typ, caseRef, message, string(b), prev, hash})
	t.head.seq, t.head.hash = seq, hash
	return t.indexCase(typ, caseRef, at, data)
}

// pendingEvent is an event computed but not yet inserted: a transaction's events are
// written together, a few statements for all of them, when it commits (or a savepoint
// closes). One INSERT each was most of the log's cost (docs/PERFORMANCE.md, lesson 28).
type pendingEvent struct {
	seq, at        int64
	typ, caseRef   string
	message        int64
	data, prevHash string
	hash           string
}

// eventRows are the row counts of the multi-row INSERTs events are written with: a
// transaction's events take the largest that fit, then the smaller ones, so that only
// these few statements are ever prepared.
var eventRows = []int{64, 16, 4, 1}

// eventInsert[i] is the INSERT of eventRows[i] rows.
var eventInsert = multiRowInserts(`INSERT INTO events (seq, at, type, case_ref, message, data, prev_hash, hash) VALUES `,
	`(?, ?, ?, ?, ?, ?, ?, ?)`, eventRows)

// multiRowInserts is, for each count of rows, the INSERT that begins with head and has
// that many copies of row.
func multiRowInserts(head, row string, rows []int) []string {
	qs := make([]string, len(rows))
	for i, n := range rows {
		qs[i] = head + row + strings.Repeat(","+row, n-1)
	}
	return qs
}

// flushEvents inserts the events logged since the last flush. On failure the chain head
// is forgotten, to be read again from the table.
func (t *Tx) flushEvents() error {
	pending := t.events
	args := make([]any, 0, 8*min(len(pending), eventRows[0]))
	for i, n := range eventRows {
		for len(pending) >= n {
			args = args[:0]
			for _, e := range pending[:n] {
				args = append(args, e.seq, e.at, e.typ, e.caseRef, e.message, e.data, e.prevHash, e.hash)
			}
			if _, err := t.exec(eventInsert[i], args...); err != nil {
				t.events, t.head = t.events[:0], nil
				return fmt.Errorf("append events: %w", err)
			}
			pending = pending[n:]
		}
	}
	t.events = t.events[:0]
	return nil
}

// Received logs that a message was recorded.
func (t *Tx) Received(m *Message, from string) error {
	return t.logEvent(EvReceived, m.CaseRef, m.ID, map[string]any{
		"inbox": m.Inbox, "mailbox": m.Mailbox, "uidvalidity": m.UIDValidity, "uid": m.UID,
		"blob": m.Blob, "size": m.Size, "message_id": m.MessageID, "from": from,
	})
}

// Ignored logs that a message was recognised as automated (or ours) and left unanswered.
func (t *Tx) Ignored(m *Message, reason string) error {
	return t.logEvent(EvIgnored, m.CaseRef, m.ID, map[string]any{"reason": reason})
}

// Quarantined logs that a message could not be handled safely.
func (t *Tx) Quarantined(m *Message, reason string) error {
	return t.logEvent(EvQuarantined, m.CaseRef, m.ID, map[string]any{"reason": reason})
}

// Duplicate logs that a message is another copy of an earlier case.
func (t *Tx) Duplicate(m *Message, of string) error {
	return t.logEvent(EvDuplicate, m.CaseRef, m.ID, map[string]any{"of": of, "message_id": m.MessageID})
}

// Classification is what the log keeps of a decision: no text, no NIF in clear.
type Classification struct {
	Category   string   `json:"category"`
	Confidence float64  `json:"confidence"`
	Action     string   `json:"action"`
	Reasons    []string `json:"reasons"`
	NIFHash    string   `json:"nif_hash,omitempty"`
	Identified bool     `json:"identified"`
	Disclaimer bool     `json:"disclaimer"`
	// To is where the case was routed (To and CC).
	To     []string           `json:"to,omitempty"`
	Rules  []string           `json:"rules,omitempty"`
	Scores map[string]float64 `json:"scores,omitempty"`
	// Method is "rules", "model+rules" or "model+rules+llm"; Threshold what routing needed.
	Method        string             `json:"method,omitempty"`
	Threshold     float64            `json:"threshold,omitempty"`
	Probabilities map[string]float64 `json:"probabilities,omitempty"`
	// Features are the model's strongest evidence, "name weight" (not for sensitive cases).
	Features []string `json:"features,omitempty"`
	// LLM is the language model's part: model, prompt hash, answer, effect. Never its raw text.
	LLM map[string]any `json:"llm,omitempty"`
}

// Classified logs a decision with its explanation.
func (t *Tx) Classified(m *Message, c Classification) error {
	return t.logEvent(EvClassified, m.CaseRef, m.ID, c.fields())
}

// fields is c as its JSON tags name it, omitempty included: the event's data.
func (c Classification) fields() map[string]any {
	data := map[string]any{"category": c.Category, "confidence": c.Confidence, "action": c.Action,
		"reasons": c.Reasons, "identified": c.Identified, "disclaimer": c.Disclaimer}
	put := func(key string, v any, empty bool) {
		if !empty {
			data[key] = v
		}
	}
	put("nif_hash", c.NIFHash, c.NIFHash == "")
	put("to", c.To, len(c.To) == 0)
	put("rules", c.Rules, len(c.Rules) == 0)
	put("scores", c.Scores, len(c.Scores) == 0)
	put("method", c.Method, c.Method == "")
	put("threshold", c.Threshold, c.Threshold == 0)
	put("probabilities", c.Probabilities, len(c.Probabilities) == 0)
	put("features", c.Features, len(c.Features) == 0)
	put("llm", c.LLM, len(c.LLM) == 0)
	return data
}

// Queued logs an outgoing message written to the outbox.
func (t *Tx) Queued(o *OutMessage, category, templateHash string) error {
	data := map[string]any{"kind": o.Kind, "message_id": o.MessageID, "to": o.Rcpts, "category": category, "blob": o.Blob, "state": o.State}
	if templateHash != "" {
		data["template"] = templateHash
	}
	return t.logEvent(EvQueued, o.CaseRef, o.Message, data)
}

// Sent logs the server's acceptance of an outgoing message.
func (t *Tx) Sent(o *OutMessage, reply string) error {
	return t.logEvent(EvSent, o.CaseRef, o.Message, map[string]any{"kind": o.Kind, "message_id": o.MessageID, "to": o.Rcpts, "reply": reply})
}

// Retry logs a temporary failure.
func (t *Tx) Retry(o *OutMessage, reply string, next time.Time) error {
	return t.logEvent(EvRetry, o.CaseRef, o.Message, map[string]any{"kind": o.Kind, "message_id": o.MessageID, "reply": reply, "next_attempt": next.UTC().Format(time.RFC3339)})
}

// Failed logs a parked outgoing message.
func (t *Tx) Failed(o *OutMessage, reply string) error {
	return t.logEvent(EvFailed, o.CaseRef, o.Message, map[string]any{"kind": o.Kind, "message_id": o.MessageID, "to": o.Rcpts, "reply": reply})
}

// Moved logs where the original went.
func (t *Tx) Moved(caseRef string, message int64, folder, how string) error {
	return t.logEvent(EvMoved, caseRef, message, map[string]any{"folder": folder, "how": how})
}

// Alert logs something an operator must look at.
func (t *Tx) Alert(kind, detail string) error {
	return t.logEvent(EvAlert, "", 0, map[string]any{"kind": kind, "detail": detail})
}

// Filter selects events for the log command and the auditors' page. Case filters
// (category, action, address, agent, NIF) select the cases, and then all their events.
type Filter struct {
	Since, Until time.Time
	Type         string
	CaseRef      string
	Category     string
	// Action is what was decided: forward, review, ignore, quarantine, duplicate, or
	// "failed" for cases with a parked outgoing message.
	Action string
	// Address is any address the case involved: a destination, a recipient, the sender.
	Address string
	Agent   string
	NIFHash string
	Limit   int
	// Before pages back: only events with a smaller seq.
	Before int64
}

// hasCaseFilter reports whether f selects cases (not only events).
func (f Filter) hasCaseFilter() bool {
	return f.Category != "" || f.Action != "" || f.NIFHash != "" || f.Address != "" || f.Agent != ""
}

// cases is the query for the newest `limit` cases that match f, by arrival time.
func (f Filter) cases(limit int) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	if f.Category != "" {
		add("f.category = ?", f.Category)
	}
	switch f.Action {
	case "":
	case "failed":
		add("f.failed = 1")
	default:
		add("f.action = ?", f.Action)
	}
	if f.NIFHash != "" {
		add("f.nif_hash = ?", f.NIFHash)
	}
	// An address or an agent is the narrowest start: walk its cases newest first.
	from, order := "case_facts f", "f.first_at"
	switch {
	case f.Address != "":
		from, order = "case_addresses x JOIN case_facts f ON f.case_ref = x.case_ref", "x.first_at"
		add("x.address = ?", strings.ToLower(f.Address))
		if f.Agent != "" {
			add("f.case_ref IN (SELECT case_ref FROM case_agents WHERE agent = ?)", strings.ToLower(f.Agent))
		}
	case f.Agent != "":
		from, order = "case_agents x JOIN case_facts f ON f.case_ref = x.case_ref", "x.first_at"
		add("x.agent = ?", strings.ToLower(f.Agent))
	}
	if !f.Since.IsZero() {
		add(order+" >= ?", f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		add(order+" < ?", f.Until.UnixMilli())
	}
	if len(where) == 0 {
		where = append(where, "1 = 1")
	}
	return "SELECT f.case_ref FROM " + from + " WHERE " + strings.Join(where, " AND ") + " ORDER BY " + order + " DESC LIMIT ?", append(args, limit)
}

func (f Filter) where(limit int) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	if f.hasCaseFilter() {
		// Case filters pick the newest matching cases (by arrival, in the time range), and
		// then their events: "refund cases of March, and everything that happened to them".
		q, a := f.cases(limit)
		add("case_ref IN ("+q+")", a...)
	} else {
		if !f.Since.IsZero() {
			add("at >= ?", f.Since.UnixMilli())
		}
		if !f.Until.IsZero() {
			add("at < ?", f.Until.UnixMilli())
		}
	}
	if f.Type != "" {
		add("type = ?", f.Type)
	}
	if f.CaseRef != "" {
		add("case_ref = ?", strings.ToUpper(f.CaseRef))
	}
	if f.Before > 0 {
		add("seq < ?", f.Before)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// Events returns the newest events that match f (at most f.Limit, 100 by default), oldest
// first. With a case filter (category, action, address, agent, NIF) the time range
// applies to when cases arrived, and the events are those of the newest such cases.
func (s *Store) Events(ctx context.Context, f Filter) ([]Event, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := f.where(limit)
	q := `SELECT * FROM (SELECT seq, at, type, case_ref, message, data, prev_hash, hash FROM events` + where + ` ORDER BY seq DESC LIMIT ?) ORDER BY seq`
	rows, err := s.db.QueryContext(ctx, q, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("query events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.Seq, &e.At, &e.Type, &e.CaseRef, &e.Message, &e.Data, &e.PrevHash, &e.Hash); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Drafted logs a new draft and the agents it went to.
func (t *Tx) Drafted(d *Draft, agents []string) error {
	return t.logEvent(EvDrafted, d.CaseRef, d.Message, map[string]any{"draft": d.ID, "kind": d.Kind, "category": d.Category,
		"template": d.Template, "template_hash": d.TemplateHash, "text_sha256": d.TextSHA256, "agents": agents,
		"expires_at": time.UnixMilli(d.ExpiresAt).UTC().Format(time.RFC3339), "disclaimer": d.Disclaimer})
}

// Resolved logs an agent's decision on a draft: typ is EvApproved, EvEdited or EvRejected.
func (t *Tx) Resolved(typ string, d *Draft, reply int64, by, textSHA, diffBlob, answerID string) error {
	data := map[string]any{"draft": d.ID, "kind": d.Kind, "by": by, "reply_message": reply}
	if textSHA != "" {
		data["text_sha256"] = textSHA
	}
	if diffBlob != "" {
		data["diff_blob"] = diffBlob
	}
	if answerID != "" {
		data["answer_message_id"] = answerID
	}
	return t.logEvent(typ, d.CaseRef, d.Message, data)
}

// Refused logs a reply to a draft that was not obeyed.
// caseRef is the draft's case when the reply names a real draft, else the reply's own.
func (t *Tx) Refused(caseRef string, message int64, from string, draft int64, reason string) error {
	data := map[string]any{"from": from, "reason": reason, "reply_message": message}
	if draft > 0 {
		data["draft"] = draft
	}
	return t.logEvent(EvRefused, caseRef, message, data)
}

// Replayed logs a reply whose token was already used.
func (t *Tx) Replayed(caseRef string, message int64, from string, draft int64) error {
	return t.logEvent(EvReplay, caseRef, message, map[string]any{"from": from, "draft": draft, "reply_message": message})
}

// DepartmentAnswered logs a department's reply matched to a case.
func (t *Tx) DepartmentAnswered(caseRef string, m *Message, from, how string) error {
	return t.logEvent(EvDeptAnswer, caseRef, m.ID, map[string]any{"from": from, "matched_by": how, "reply_message": m.ID})
}

// EachEvent calls fn with every event in chain order, streaming.
func (s *Store) EachEvent(ctx context.Context, fn func(Event) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, at, type, case_ref, message, data, prev_hash, hash FROM events ORDER BY seq`)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var e Event
		if err := rows.Scan(&e.Seq, &e.At, &e.Type, &e.CaseRef, &e.Message, &e.Data, &e.PrevHash, &e.Hash); err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Head is the last event of the chain (zero when there is none).
func (s *Store) Head(ctx context.Context) (Event, error) {
	var e Event
	err := s.db.QueryRowContext(ctx, `SELECT seq, at, type, case_ref, message, data, prev_hash, hash FROM events ORDER BY seq DESC LIMIT 1`).
		Scan(&e.Seq, &e.At, &e.Type, &e.CaseRef, &e.Message, &e.Data, &e.PrevHash, &e.Hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Event{}, nil
	}
	return e, err
}

// Audit logs an operator's action on the log itself (a purge, a checkpoint).
func (t *Tx) Audit(action string, data map[string]any) error {
	if data == nil {
		data = map[string]any{}
	}
	data["action"] = action
	return t.logEvent(EvAudit, "", 0, data)
}
