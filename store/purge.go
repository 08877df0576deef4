package store

import (
	"context"
	"fmt"
	"time"
)

// PurgeResult is what a purge removed.
type PurgeResult struct {
	Cutoff                     time.Time
	Messages, Outgoing, Drafts int
	// Blobs are the spool entries no kept row refers to any more: the caller deletes them
	// after the commit (a crash in between leaves files, never a dangling reference).
	Blobs []string
}

// Purge forgets the raw mail of everything finished before cutoff: the received mail of
// done cases, sent or parked outgoing messages, and decided drafts' texts. Rows and
// events stay; only their spool references are cleared, and an audit event records the
// purge, so the chain still verifies. dryRun computes without changing anything.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, dryRun bool) (PurgeResult, error) {
	r := PurgeResult{Cutoff: cutoff}
	c := cutoff.UnixMilli()
	err := s.Tx(ctx, func(tx *Tx) error {
		candidates := map[string]bool{}
		collect := func(q string) (int, error) {
			rows, err := tx.tx.QueryContext(ctx, q, c)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var b string
				if err := rows.Scan(&b); err != nil {
					return 0, err
				}
				if b != "" {
					candidates[b] = true
				}
				n++
			}
			return n, rows.Err()
		}
		const oldMessages = `FROM messages WHERE received_at < ? AND blob != '' AND state = 'done'
			AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message = messages.id AND o.state = 'pending')`
		const oldOutbox = `FROM outbox WHERE created_at < ? AND blob != '' AND state IN ('sent', 'parked', 'dry-run')`
		const oldDrafts = `FROM drafts WHERE created_at < ? AND state != 'pending'`
		var err error
		if r.Messages, err = collect(`SELECT blob ` + oldMessages); err != nil {
			return err
		}
		if r.Outgoing, err = collect(`SELECT blob ` + oldOutbox); err != nil {
			return err
		}
		if r.Drafts, err = collect(`SELECT text_blob ` + oldDrafts); err != nil {
			return err
		}
		for _, col := range []string{"final_blob", "diff_blob"} {
			if _, err := collect(`SELECT ` + col + ` ` + oldDrafts); err != nil {
				return err
			}
		}
		if dryRun {
			for b := range candidates {
				r.Blobs = append(r.Blobs, b)
			}
			return errDryRun
		}
		for _, q := range []string{
			`UPDATE messages SET blob = '' WHERE id IN (SELECT id ` + oldMessages + `)`,
			`UPDATE outbox SET blob = '' WHERE id IN (SELECT id ` + oldOutbox + `)`,
			`UPDATE drafts SET text_blob = '', final_blob = '', diff_blob = '' WHERE id IN (SELECT id ` + oldDrafts + `)`,
		} {
			if _, err := tx.tx.ExecContext(ctx, q, c); err != nil {
				return fmt.Errorf("purge: %w", err)
			}
		}
		// A blob still referenced by a kept row (the same bytes received twice) stays.
		for b := range candidates {
			var n int
			if err := tx.tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM messages WHERE blob = ?) + (SELECT count(*) FROM outbox WHERE blob = ?)
				+ (SELECT count(*) FROM drafts WHERE ? IN (text_blob, final_blob, diff_blob))`, b, b, b).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				r.Blobs = append(r.Blobs, b)
			}
		}
		return tx.Audit("purge", map[string]any{"cutoff": cutoff.UTC().Format(time.RFC3339), "messages": r.Messages,
			"outgoing": r.Outgoing, "drafts": r.Drafts, "blobs": len(r.Blobs)})
	})
	if err == errDryRun {
		err = nil
	}
	return r, err
}

var errDryRun = fmt.Errorf("dry run")
