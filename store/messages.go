package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Message states.
const (
	StateReceived = "received" // recorded, not yet decided
	StateDecided  = "decided"  // decision and outbox rows committed; waiting for delivery and the move
	StateDone     = "done"     // the original was moved (or nothing more can be done with it)
)

// Message is one received mail.
type Message struct {
	ID          int64
	Inbox       string
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	Blob        string
	Size        int64
	MessageID   string
	CaseKey     string
	CaseRef     string
	ReceivedAt  int64
	State       string
	Outcome     string
	Folder      string
	Reason      string
}

// Checkpoint returns the last UID recorded for a mailbox under its UIDVALIDITY.
func (s *Store) Checkpoint(ctx context.Context, inbox, mailbox string) (uidValidity, lastUID uint32, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT uidvalidity, last_uid FROM checkpoints WHERE inbox = ? AND mailbox = ?`, inbox, mailbox).Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("read checkpoint: %w", err)
	}
	return uidValidity, lastUID, true, nil
}

// SetCheckpoint moves a mailbox's checkpoint forward (or resets it on a new UIDVALIDITY).
func (t *Tx) SetCheckpoint(inbox, mailbox string, uidValidity, lastUID uint32) error {
	_, err := t.exec(`INSERT INTO checkpoints (inbox, mailbox, uidvalidity, last_uid, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (inbox, mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity,
			last_uid = CASE WHEN checkpoints.uidvalidity = excluded.uidvalidity THEN max(checkpoints.last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			updated_at = excluded.updated_at`,
		inbox, mailbox, uidValidity, lastUID, t.Now.UnixMilli())
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return nil
}

// InsertMessage records a received message. A message already recorded under the same
// (inbox, mailbox, UIDVALIDITY, UID) is not inserted again; inserted says which happened.
func (t *Tx) InsertMessage(m *Message) (inserted bool, err error) {
	res, err := t.exec(`INSERT INTO messages (inbox, mailbox, uidvalidity, uid, blob, size, message_id, case_key, case_ref, received_at, state, reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		m.Inbox, m.Mailbox, m.UIDValidity, m.UID, m.Blob, m.Size, m.MessageID, m.CaseKey, m.CaseRef, t.Now.UnixMilli(), StateReceived, m.Reason)
	if err != nil {
		return false, fmt.Errorf("record message: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		return false, nil
	}
	m.ID, err = res.LastInsertId()
	m.ReceivedAt = t.Now.UnixMilli()
	m.State = StateReceived
	return true, err
}

const messageColumns = `id, inbox, mailbox, uidvalidity, uid, blob, size, message_id, case_key, case_ref, received_at, state, outcome, folder, reason`

func scanMessage(sc interface{ Scan(...any) error }) (Message, error) {
	var m Message
	err := sc.Scan(&m.ID, &m.Inbox, &m.Mailbox, &m.UIDValidity, &m.UID, &m.Blob, &m.Size, &m.MessageID, &m.CaseKey, &m.CaseRef, &m.ReceivedAt, &m.State, &m.Outcome, &m.Folder, &m.Reason)
	return m, err
}

// messages reads whole rows; where is one of a few constant conditions, so each is
// compiled once.
func (s *Store) messages(ctx context.Context, where string, args ...any) ([]Message, error) {
	rows, err := s.query(ctx, `SELECT `+messageColumns+` FROM messages WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query messages: %w", err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// Undecided returns recorded messages that have no decision yet, oldest first.
func (s *Store) Undecided(ctx context.Context, limit int) ([]Message, error) {
	return s.messages(ctx, `state = ? ORDER BY id LIMIT ?`, StateReceived, limit)
}

// Message returns one message by id.
func (s *Store) Message(ctx context.Context, id int64) (Message, error) {
	ms, err := s.messages(ctx, `id = ?`, id)
	if err != nil {
		return Message{}, err
	}
	if len(ms) == 0 {
		return Message{}, fmt.Errorf("message %d: %w", id, sql.ErrNoRows)
	}
	return ms[0], nil
}

// DecidedCases returns, for each of keys that an already decided message has, the case
// reference of the first such message: a mail with that key is a duplicate of that case.
// One query for a batch of mails instead of one a mail (EarlierCase), which on the real
// stack cost 5 % of triagem's CPU: each read from the pool, after a commit on the writer's
// connection, loaded its index pages again.
func (s *Store) DecidedCases(ctx context.Context, keys []string) (map[string]string, error) {
	list, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	st, err := s.stmt(ctx, `SELECT case_key, case_ref FROM messages WHERE case_key IN (SELECT value FROM json_each(?)) AND state <> ? ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("look up decided cases: %w", err)
	}
	rows, err := st.QueryContext(ctx, string(list), StateReceived)
	if err != nil {
		return nil, fmt.Errorf("look up decided cases: %w", err)
	}
	defer rows.Close()
	refs := map[string]string{}
	for rows.Next() {
		var key, ref string
		if err := rows.Scan(&key, &ref); err != nil {
			return nil, fmt.Errorf("look up decided cases: %w", err)
		}
		if _, ok := refs[key]; !ok {
			refs[key] = ref
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("look up decided cases: %w", err)
	}
	return refs, nil
}

// EarlierCase returns the case reference of another, already decided message with the same
// case key, if there is one: that message is the case, this one is a duplicate.
func (s *Store) EarlierCase(ctx context.Context, caseKey string, id int64) (string, bool, error) {
	var ref string
	st, err := s.stmt(ctx, `SELECT case_ref FROM messages WHERE case_key = ? AND id <> ? AND state <> ? ORDER BY id LIMIT 1`)
	if err == nil { // asked once a mail: compiled once
		err = st.QueryRowContext(ctx, caseKey, id, StateReceived).Scan(&ref)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("look up earlier case: %w", err)
	}
	return ref, true, nil
}

// Decide marks a message decided, with where its original goes once its mail is delivered.
// The conditional UPDATE makes deciding twice impossible.
func (t *Tx) Decide(id int64, outcome, folder, reason string) error {
	res, err := t.exec(`UPDATE messages SET state = ?, outcome = ?, folder = ?, reason = ? WHERE id = ? AND state = ?`,
		StateDecided, outcome, folder, reason, id, StateReceived)
	if err != nil {
		return fmt.Errorf("mark message decided: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("message %d was already decided", id)
	}
	return nil
}

// Decision is the classification kept for a message.
type Decision struct {
	Message    int64
	Category   string
	Confidence float64
	Action     string
	Customer   string
	NIFHash    string
	Identified bool
	Disclaimer bool
	Trace      string
}

// SaveDecision stores the decision row of a message.
func (t *Tx) SaveDecision(d Decision) error {
	_, err := t.exec(`INSERT INTO decisions (message, category, confidence, action, customer, nif_hash, identified, disclaimer, trace, decided_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		d.Message, d.Category, d.Confidence, d.Action, d.Customer, d.NIFHash, d.Identified, d.Disclaimer, d.Trace, t.Now.UnixMilli())
	if err != nil {
		return fmt.Errorf("save decision: %w", err)
	}
	return nil
}

// MoveItem is a decided message whose original can now be moved.
type MoveItem struct {
	ID          int64
	CaseRef     string
	UIDValidity uint32
	UID         uint32
	Folder      string
}

// movableWhere is a decided message with no outgoing mail pending, read from the partial
// index messages_movable: its literals must match the index's WHERE.
const movableWhere = `m.inbox = ? AND m.mailbox = ? AND m.state = '` + StateDecided + `' AND m.pending_out = 0`

// ReadyToMove lists the decided messages of one mailbox with no mail still pending delivery.
// A message with a parked (permanently failed) send goes to the review folder instead.
func (s *Store) ReadyToMove(ctx context.Context, inbox, mailbox, reviewFolder string) ([]MoveItem, error) {
	rows, err := s.query(ctx, `SELECT m.id, m.case_ref, m.uidvalidity, m.uid,
			CASE WHEN EXISTS (SELECT 1 FROM outbox o WHERE o.message = m.id AND o.state = 'parked') THEN ? ELSE m.folder END
		FROM messages m WHERE `+movableWhere+` ORDER BY m.id`, reviewFolder, inbox, mailbox)
	if err != nil {
		return nil, fmt.Errorf("query messages to move: %w", err)
	}
	defer rows.Close()
	var out []MoveItem
	for rows.Next() {
		var it MoveItem
		if err := rows.Scan(&it.ID, &it.CaseRef, &it.UIDValidity, &it.UID, &it.Folder); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Finish marks messages done after their originals were moved (or could not be, with
// reason): one statement for a group, the ids passed as one JSON array.
func (t *Tx) Finish(ids []int64) error {
	list, err := json.Marshal(ids)
	if err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE messages SET state = ? WHERE id IN (SELECT value FROM json_each(?)) AND state = ?`, StateDone, string(list), StateDecided); err != nil {
		return fmt.Errorf("mark messages done: %w", err)
	}
	return nil
}

// Counts returns how many messages are in each state, for the operator and for --once.
func (s *Store) Counts(ctx context.Context) (map[string]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT state, count(*) FROM messages GROUP BY state UNION ALL SELECT 'outbox_' || state, count(*) FROM outbox GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return nil, err
		}
		out[k] = n
	}
	return out, rows.Err()
}

// ReceivedSince returns the messages recorded since t that have a raw copy, oldest first.
func (s *Store) ReceivedSince(ctx context.Context, t time.Time) ([]Message, error) {
	return s.messages(ctx, `received_at >= ? AND blob != '' ORDER BY id`, t.UnixMilli())
}
