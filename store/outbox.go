package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Outbox states.
const (
	OutPending = "pending"
	OutSent    = "sent"
	OutParked  = "parked"  // failed permanently or too often; visible in the log, never retried alone
	OutDryRun  = "dry-run" // decided under dry_run: kept for inspection, never sent
)

// OutMessage is one outgoing message.
type OutMessage struct {
	ID            int64
	Message       int64
	CaseRef       string
	Kind          string
	MessageID     string
	EnvFrom       string
	Rcpts         []string
	Blob          string
	State         string
	Attempts      int
	NextAttemptAt int64
	LastReply     string
}

// Enqueue adds an outgoing message in m.State (pending, or dry-run). Its Message-ID is deterministic, so enqueuing the same
// message again (a re-decided duplicate) does nothing; inserted says which happened.
func (t *Tx) Enqueue(m *OutMessage) (inserted bool, err error) {
	rcpts, err := json.Marshal(m.Rcpts)
	if err != nil {
		return false, err
	}
	res, err := t.exec(`INSERT INTO outbox (message, case_ref, kind, message_id, env_from, rcpts, blob, state, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		m.Message, m.CaseRef, m.Kind, m.MessageID, m.EnvFrom, string(rcpts), m.Blob, m.State, t.Now.UnixMilli(), t.Now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("queue outgoing message: %w", err)
	}
	n, _ := res.RowsAffected()
	if n == 1 {
		m.ID, _ = res.LastInsertId()
	}
	return n == 1, nil
}

// Due returns pending outgoing messages whose next attempt is due, oldest first, from
// the row after afterID: a caller pages through the queue while its rows are in flight.
func (s *Store) Due(ctx context.Context, now time.Time, afterID int64, limit int) ([]OutMessage, error) {
	return s.outboxWhere(ctx, dueWhere, OutPending, now.UnixMilli(), afterID, limit)
}

// dueWhere pages the pending outbox by id (index outbox_state_id).
const dueWhere = `state = ? AND next_attempt_at <= ? AND id > ? ORDER BY id LIMIT ?`

// NextDue returns when the earliest pending message is due, if any is pending.
func (s *Store) NextDue(ctx context.Context) (time.Time, bool, error) {
	var at *int64
	if err := s.db.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE state = ?`, OutPending).Scan(&at); err != nil {
		return time.Time{}, false, err
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(*at), true, nil
}

// MarkSent records the server's acceptance. Like the events, it is written when the
// transaction commits (or its savepoint closes), together with the other messages the
// transaction marks sent: the recorder commits eight or so at a time.
func (t *Tx) MarkSent(id int64, reply string) error {
	t.sent = append(t.sent, sentMark{id, reply})
	return nil
}

type sentMark struct {
	id    int64
	reply string
}

// sentRows are the row counts of the multi-row UPDATEs of flushSent, as eventRows are.
var sentRows = []int{8, 4, 2, 1}

// sentUpdate[i] marks sentRows[i] rows sent, each with its own reply.
var sentUpdate = func() []string {
	qs := make([]string, len(sentRows))
	for i, n := range sentRows {
		var q strings.Builder
		q.WriteString(`UPDATE outbox SET state = ?, attempts = attempts + 1, sent_at = ?, last_reply = CASE id`)
		q.WriteString(strings.Repeat(` WHEN ? THEN ?`, n))
		q.WriteString(` END WHERE state = ? AND id IN (?` + strings.Repeat(`, ?`, n-1) + `)`)
		qs[i] = q.String()
	}
	return qs
}()

// flushSent writes the MarkSent calls since the last flush.
func (t *Tx) flushSent() error {
	pending := t.sent
	args := make([]any, 0, 3+3*sentRows[0])
	for i, n := range sentRows {
		for len(pending) >= n {
			args = append(args[:0], OutSent, t.Now.UnixMilli())
			for _, m := range pending[:n] {
				args = append(args, m.id, m.reply)
			}
			args = append(args, OutPending)
			for _, m := range pending[:n] {
				args = append(args, m.id)
			}
			if _, err := t.exec(sentUpdate[i], args...); err != nil {
				t.sent = t.sent[:0]
				return fmt.Errorf("mark messages sent: %w", err)
			}
			pending = pending[n:]
		}
	}
	t.sent = t.sent[:0]
	return nil
}

// MarkRetry records a temporary failure and when to try again.
func (t *Tx) MarkRetry(id int64, reply string, next time.Time) error {
	_, err := t.exec(`UPDATE outbox SET attempts = attempts + 1, last_reply = ?, next_attempt_at = ? WHERE id = ? AND state = ?`,
		reply, next.UnixMilli(), id, OutPending)
	return err
}

// MarkParked records a permanent failure; the row stays visible and is not retried.
func (t *Tx) MarkParked(id int64, reply string) error {
	_, err := t.exec(`UPDATE outbox SET state = ?, attempts = attempts + 1, last_reply = ? WHERE id = ? AND state = ?`,
		OutParked, reply, id, OutPending)
	return err
}
