package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/emersion/go-imap/v2"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/mailbox"
	"github.com/triagem/triagem/store"
)

// moveReady moves every decided message of this inbox whose outgoing mail is no longer
// pending (sent, parked or dry-run) to its folder. Nothing moves before a 250 is recorded.
func (a *App) moveReady(ctx context.Context, cn *mailbox.Conn, in config.Inbox) (int, error) {
	items, err := a.Store.ReadyToMove(ctx, in.Name, in.Folder, a.Cfg.Folders.Review)
	if err != nil || len(items) == 0 {
		return 0, err
	}
	groups := map[string][]store.MoveItem{}
	var order []string
	for _, it := range items {
		key := it.Folder
		switch {
		case a.Cfg.Daemon.DryRun:
			key = "\x00dry-run"
		case it.UIDValidity != cn.UIDValidity():
			key = "\x00stale"
		}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], it)
	}
	moved := 0
	for _, key := range order {
		g := groups[key]
		switch key {
		case "\x00dry-run":
			err = a.finish(ctx, g, "", "dry-run: left in place")
		case "\x00stale":
			// The folder was recreated since: these UIDs name other messages now.
			err = a.finish(ctx, g, "", "left in place: UIDVALIDITY changed since it was read")
		default:
			err = a.moveGroup(ctx, cn, key, g)
		}
		if err != nil {
			return moved, err
		}
		moved += len(g)
	}
	return moved, nil
}

func (a *App) moveGroup(ctx context.Context, cn *mailbox.Conn, folder string, g []store.MoveItem) error {
	uids := make([]uint32, len(g))
	for i, it := range g {
		uids[i] = it.UID
	}
	how, err := cn.Move(ctx, uids, folder)
	if err == nil {
		return a.finish(ctx, g, folder, how)
	}
	var ie *imap.Error
	if !errors.As(err, &ie) {
		return fmt.Errorf("move to %s: %w", folder, err) // the connection: retry after reconnecting
	}
	// The server said NO to the batch: try one by one, so one bad message cannot hold up
	// the others, and record the ones it refuses.
	for _, it := range g {
		how, err := cn.Move(ctx, []uint32{it.UID}, folder)
		if err != nil {
			if !errors.As(err, &ie) {
				return fmt.Errorf("move to %s: %w", folder, err)
			}
			a.Log.Error("the server refused to move a message: left in place", "case", it.CaseRef, "folder", folder, "error", err)
			if err := a.Store.Tx(ctx, func(tx *store.Tx) error {
				return tx.Alert("move-refused", fmt.Sprintf("%s: move to %s: %v", it.CaseRef, folder, err))
			}); err != nil {
				return err
			}
			how = "refused: " + err.Error()
		}
		if err := a.finish(ctx, []store.MoveItem{it}, folder, how); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) finish(ctx context.Context, g []store.MoveItem, folder, how string) error {
	ids := make([]int64, len(g))
	for i, it := range g {
		ids[i] = it.ID
	}
	return a.Store.Tx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		if err := tx.Finish(ids); err != nil {
			return err
		}
		for _, it := range g {
			if err := tx.Moved(it.CaseRef, it.ID, folder, how); err != nil {
				return err
			}
		}
		return nil
	})
}
