package daemon

import (
	"context"
	"fmt"
	"strings"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/mailbox"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/store"
)

// fetchBatch is how many bodies one UID FETCH asks for and one transaction records.
const fetchBatch = 50

// intake fetches everything new in the inbox's folder and records it. Each batch of bodies
// is in the spool (durable) before the one transaction that records the messages and moves
// the checkpoint: a crash re-fetches, never skips. Each recorded batch kicks recorded.
func (a *App) intake(ctx context.Context, cn *mailbox.Conn, in config.Inbox, recorded chan struct{}) (int, error) {
	uidv := cn.UIDValidity()
	oldV, last, ok, err := a.Store.Checkpoint(ctx, in.Name, in.Folder)
	if err != nil {
		return 0, err
	}
	if ok && oldV != uidv {
		// The folder was recreated: UIDs mean nothing any more. Start over; the case keys
		// (Message-IDs) keep old mail from being forwarded again.
		a.Log.Warn("UIDVALIDITY changed: re-reading the folder; earlier cases are recognised by Message-ID",
			"inbox", in.Name, "folder", in.Folder, "old", oldV, "new", uidv)
		if err := a.Store.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.Alert("uidvalidity-changed", fmt.Sprintf("inbox %s folder %s: UIDVALIDITY %d -> %d", in.Name, in.Folder, oldV, uidv)); err != nil {
				return err
			}
			return tx.SetCheckpoint(in.Name, in.Folder, uidv, 0)
		}); err != nil {
			return 0, err
		}
		last = 0
	}
	total := 0
	// Each batch's bodies become durable together (spool.Batch) before the transaction
	// that records them.
	blobs := a.Spool.Batch()
	defer blobs.Discard() // what a failed fetch left unrecorded
	err = cn.FetchSince(ctx, last, a.Cfg.Limits.MaxMessageBytes, fetchBatch, blobs, func(batch []mailbox.Fetched) error {
		if err := blobs.Sync(); err != nil {
			return err
		}
		if err := a.record(ctx, in, uidv, batch); err != nil {
			return err
		}
		total += len(batch)
		kick(recorded) // the decider can start on this batch while the next is fetched
		return nil
	})
	return total, err
}

func (a *App) record(ctx context.Context, in config.Inbox, uidv uint32, batch []mailbox.Fetched) error {
	var highest uint32
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		for _, f := range batch {
			m := &store.Message{Inbox: in.Name, Mailbox: in.Folder, UIDValidity: uidv, UID: f.UID,
				Blob: f.Blob, Size: f.Size, MessageID: strings.ToLower(strings.Trim(f.MessageID, "<> "))}
			if f.Oversized {
				m.Reason = fmt.Sprintf("message of %d bytes is larger than limits.max_message_bytes (%d); left unread", f.Size, a.Cfg.Limits.MaxMessageBytes)
			}
			m.CaseKey = caseKey(m.MessageID, f.Blob, in.Name, f.UID, uidv)
			m.CaseRef = route.CaseRef(m.CaseKey)
			inserted, err := tx.InsertMessage(m)
			if err != nil {
				return err
			}
			if inserted {
				if err := tx.Received(m, ""); err != nil {
					return err
				}
			}
			highest = max(highest, f.UID)
		}
		return tx.SetCheckpoint(in.Name, in.Folder, uidv, highest)
	})
	if err == nil {
		a.Log.Debug("recorded", "inbox", in.Name, "messages", len(batch), "last_uid", highest)
	}
	return err
}

// caseKey says which messages are the same case: the same Message-ID, or else the same
// bytes. An oversized mail without Message-ID is keyed by its place.
func caseKey(messageID, blob, inbox string, uid, uidv uint32) string {
	switch {
	case messageID != "":
		return "mid:" + messageID
	case blob != "":
		return "sha:" + blob
	default:
		return fmt.Sprintf("uid:%s:%d:%d", inbox, uidv, uid)
	}
}
