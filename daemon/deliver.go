package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/send"
	"github.com/triagem/triagem/store"
)

// SendDue delivers the outbox rows that are due (all pending rows when ignoreSchedule, as
// `run --once` does). Each result is recorded before the next message is sent.
func (a *App) SendDue(ctx context.Context, s *send.Sender, ignoreSchedule bool) (sent, failed int, err error) {
	now := a.Store.Now()
	if ignoreSchedule {
		now = now.Add(100 * 365 * 24 * time.Hour)
	}
	seen := map[int64]bool{}
	for {
		due, err := a.Store.Due(ctx, now, 50)
		if err != nil {
			return sent, failed, err
		}
		var todo []store.OutMessage
		for _, o := range due {
			if !seen[o.ID] { // under ignoreSchedule, a retried row comes back: once per call
				todo = append(todo, o)
			}
		}
		if len(todo) == 0 {
			return sent, failed, nil
		}
		for _, o := range todo {
			seen[o.ID] = true
			ok, err := a.deliver(ctx, s, o)
			if err != nil {
				return sent, failed, err
			}
			if ok {
				sent++
			} else {
				failed++
			}
		}
		kick(a.wakeMover)
	}
}

// deliver sends one row and records the outcome: sent, retry later, or parked.
func (a *App) deliver(ctx context.Context, s *send.Sender, o store.OutMessage) (bool, error) {
	answerOK := false
	if o.Kind == route.KindAnswer {
		d, ok, err := a.Store.DraftOfOutbox(ctx, o.ID)
		if err != nil {
			return false, err
		}
		answerOK = ok && a.answerAllowed(d, o)
	}
	for _, r := range o.Rcpts {
		if !a.allowed[r] && !answerOK {
			reply := fmt.Sprintf("refused: %s is not named in the configuration", r)
			return false, a.Store.Tx(ctx, func(tx *store.Tx) error {
				if err := tx.MarkParked(o.ID, reply); err != nil {
					return err
				}
				if err := tx.Failed(&o, reply); err != nil {
					return err
				}
				return tx.Alert("recipient-refused", o.CaseRef+": "+reply)
			})
		}
	}
	body, err := a.Spool.Open(o.Blob)
	if err != nil {
		return false, err
	}
	reply, sendErr := s.Send(ctx, o.EnvFrom, o.Rcpts, body)
	body.Close()
	if perm := (*send.Error)(nil); sendErr == nil || (errors.As(sendErr, &perm) && perm.Permanent) {
		a.markSMTP(nil) // the server answered
	} else if ctx.Err() == nil {
		a.markSMTP(sendErr)
	}
	if sendErr == nil {
		a.Log.Info("sent", "case", o.CaseRef, "kind", o.Kind, "to", o.Rcpts, "message_id", o.MessageID, "reply", reply)
		err := a.Store.Tx(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			if err := tx.MarkSent(o.ID, reply); err != nil {
				return err
			}
			return tx.Sent(&o, reply)
		})
		if err == nil && o.Kind == route.KindDraft {
			// A draft mail carries its agent's token in the Reply-To; once the server has it,
			// no copy is kept: the database holds only the token's hash.
			if rerr := a.Spool.Remove(o.Blob); rerr != nil {
				a.Log.Warn("could not remove a sent draft mail from the spool", "case", o.CaseRef, "error", rerr)
			}
		}
		return true, err
	}
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the row stays pending, untouched
	}
	var se *send.Error
	permanent := errors.As(sendErr, &se) && se.Permanent
	line := sendErr.Error()
	attempts := o.Attempts + 1
	if permanent || attempts >= a.Cfg.SMTP.MaxAttempts {
		why := "permanent failure"
		if !permanent {
			why = fmt.Sprintf("gave up after %d attempts", attempts)
		}
		a.Log.Error("delivery failed: parked for an operator", "case", o.CaseRef, "kind", o.Kind, "to", o.Rcpts, "reply", line, "why", why)
		return false, a.Store.Tx(ctx, func(tx *store.Tx) error {
			if err := tx.MarkParked(o.ID, line); err != nil {
				return err
			}
			if err := tx.Failed(&o, line); err != nil {
				return err
			}
			return tx.Alert("delivery-parked", fmt.Sprintf("%s %s to %v: %s (%s)", o.CaseRef, o.Kind, o.Rcpts, line, why))
		})
	}
	next := a.Store.Now().Add(a.backoff(attempts))
	a.Log.Warn("delivery failed: will retry", "case", o.CaseRef, "kind", o.Kind, "reply", line, "attempt", attempts, "next", next.Format(time.RFC3339))
	return false, a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.MarkRetry(o.ID, line, next); err != nil {
			return err
		}
		return tx.Retry(&o, line, next)
	})
}

// backoff doubles from retry_base up to retry_max, with ±20 % jitter so a queue of
// failures does not retry in lockstep.
func (a *App) backoff(attempts int) time.Duration {
	d := a.Cfg.SMTP.RetryBase.Duration
	for i := 1; i < attempts && d < a.Cfg.SMTP.RetryMax.Duration; i++ {
		d *= 2
	}
	d = min(d, a.Cfg.SMTP.RetryMax.Duration)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
