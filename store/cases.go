package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// CaseRow is one received message with its decision and what was sent for it.
type CaseRow struct {
	Message
	Category   string
	Action     string
	Confidence float64
	Identified bool
	Outbox     []OutMessage
}

// Cases lists received messages, oldest first, with their decisions and outgoing mail.
func (s *Store) Cases(ctx context.Context, limit int) ([]CaseRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed("m.", messageColumns)+`,
			coalesce(d.category, ''), coalesce(d.action, ''), coalesce(d.confidence, 0), coalesce(d.identified, 0)
		FROM messages m LEFT JOIN decisions d ON d.message = m.id ORDER BY m.id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("query cases: %w", err)
	}
	defer rows.Close()
	var out []CaseRow
	for rows.Next() {
		var c CaseRow
		m := &c.Message
		if err := rows.Scan(&m.ID, &m.Inbox, &m.Mailbox, &m.UIDValidity, &m.UID, &m.Blob, &m.Size, &m.MessageID, &m.CaseKey, &m.CaseRef,
			&m.ReceivedAt, &m.State, &m.Outcome, &m.Folder, &m.Reason, &c.Category, &c.Action, &c.Confidence, &c.Identified); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		ob, err := s.OutboxOf(ctx, out[i].ID)
		if err != nil {
			return nil, err
		}
		out[i].Outbox = ob
	}
	return out, nil
}

// AllOutbox lists every outgoing message, for tests and the operator.
func (s *Store) AllOutbox(ctx context.Context) ([]OutMessage, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, message, case_ref, kind, message_id, rcpts, state, attempts, last_reply FROM outbox ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutMessage
	for rows.Next() {
		var m OutMessage
		var rcpts string
		if err := rows.Scan(&m.ID, &m.Message, &m.CaseRef, &m.Kind, &m.MessageID, &rcpts, &m.State, &m.Attempts, &m.LastReply); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(rcpts), &m.Rcpts); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func prefixed(p, cols string) string {
	var out []byte
	for i, c := range splitCols(cols) {
		if i > 0 {
			out = append(out, ", "...)
		}
		out = append(out, p+c...)
	}
	return string(out)
}

func splitCols(cols string) []string {
	var out []string
	cur := ""
	for _, r := range cols {
		switch r {
		case ',':
			out = append(out, cur)
			cur = ""
		case ' ':
		default:
			cur += string(r)
		}
	}
	return append(out, cur)
}
