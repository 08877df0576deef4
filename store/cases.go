package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
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
	return s.casesWhere(ctx, `1 = 1 ORDER BY m.id LIMIT ?`, limit)
}

// CasesByRef lists the messages of one case (the customer's mail, then replies to it).
func (s *Store) CasesByRef(ctx context.Context, ref string) ([]CaseRow, error) {
	return s.casesWhere(ctx, `m.case_ref = ? OR m.id IN (SELECT message FROM events WHERE case_ref = ?) ORDER BY m.id`, ref, ref)
}

// CasesOfPerson lists the customer mails whose NIF hash is nifHash or whose sender is
// address: what a GDPR access request asks for.
func (s *Store) CasesOfPerson(ctx context.Context, nifHash, address string) ([]CaseRow, error) {
	return s.casesWhere(ctx, `(? != '' AND d.nif_hash = ?) OR (? != '' AND lower(d.customer) = lower(?)) ORDER BY m.id`, nifHash, nifHash, address, address)
}

func (s *Store) casesWhere(ctx context.Context, where string, args ...any) ([]CaseRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+prefixed("m.", messageColumns)+`,
			coalesce(d.category, ''), coalesce(d.action, ''), coalesce(d.confidence, 0), coalesce(d.identified, 0)
		FROM messages m LEFT JOIN decisions d ON d.message = m.id WHERE `+where, args...)
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
	return s.outboxWhere(ctx, `1 = 1 ORDER BY id`)
}

// OutboxOf lists the outgoing messages of one received message.
func (s *Store) OutboxOf(ctx context.Context, message int64) ([]OutMessage, error) {
	return s.outboxWhere(ctx, `message = ? ORDER BY id`, message)
}

// outboxWhere reads whole outbox rows; where carries the condition and the order, one of
// a few constants.
func (s *Store) outboxWhere(ctx context.Context, where string, args ...any) ([]OutMessage, error) {
	rows, err := s.query(ctx, `SELECT id, message, case_ref, kind, message_id, env_from, rcpts, blob, state, attempts, next_attempt_at, last_reply
		FROM outbox WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("query outbox: %w", err)
	}
	defer rows.Close()
	var out []OutMessage
	for rows.Next() {
		var m OutMessage
		var rcpts string
		if err := rows.Scan(&m.ID, &m.Message, &m.CaseRef, &m.Kind, &m.MessageID, &m.EnvFrom, &rcpts, &m.Blob, &m.State, &m.Attempts, &m.NextAttemptAt, &m.LastReply); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(rcpts), &m.Rcpts); err != nil {
			return nil, fmt.Errorf("outbox row %d: bad recipient list: %w", m.ID, err)
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// prefixed qualifies every column of a comma-separated list with p ("m.").
func prefixed(p, cols string) string {
	parts := strings.Split(cols, ",")
	for i, c := range parts {
		parts[i] = p + strings.TrimSpace(c)
	}
	return strings.Join(parts, ", ")
}
