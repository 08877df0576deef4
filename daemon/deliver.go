package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/send"
	"github.com/triagem/triagem/store"
)

// senderPool is the SMTP sessions that send in parallel, smtp.connections of them. Each
// session is used by one worker at a time; the pool's owner (the send loop, or RunOnce)
// closes it.
type senderPool struct {
	sessions []*send.Sender
}

func (a *App) newSenderPool() (*senderPool, error) {
	p := &senderPool{}
	for range a.Cfg.SMTP.Connections {
		s, err := send.New(a.Cfg.SMTP, a.Cfg.Daemon.MessageIDDomain)
		if err != nil {
			return nil, err
		}
		p.sessions = append(p.sessions, s)
	}
	return p, nil
}

// Close ends every session politely.
func (p *senderPool) Close() error {
	var errs []error
	for _, s := range p.sessions {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}

// SendDue delivers the outbox rows that are due now, each once per call, on the pool's
// sessions in parallel. Each result is recorded durably, in commits shared by the
// workers, while the worker sends its next messages; with unrecorded results waiting, it
// waits for the oldest before it sends on.
func (a *App) SendDue(ctx context.Context, p *senderPool) (sent, failed int, err error) {
	sent, failed, _, err = a.sendAfter(ctx, p, a.Store.Now(), 0)
	return sent, failed, err
}

// sendAfter delivers the rows due at now whose id is above after, and returns the highest
// id it handed out: where the next pass starts so that no row is tried twice.
func (a *App) sendAfter(ctx context.Context, p *senderPool, now time.Time, after int64) (sent, failed int, last int64, err error) {
	last = after
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan store.OutMessage)
	results := make(chan outcome)
	rec := a.startRecorder(len(p.sessions))
	var workers sync.WaitGroup
	for _, s := range p.sessions {
		workers.Add(1)
		go func() {
			defer workers.Done()
			defer rec.leave()
			// A worker goes on sending while its last results are recorded, up to
			// unrecorded of them: at most unrecorded+1 250s per session that a crash can
			// send again (under the same Message-ID).
			var recording []<-chan outcome
			for o := range work {
				res, err := a.transmit(wctx, s, o)
				if len(recording) == unrecorded {
					results <- <-recording[0]
					recording = recording[1:]
				}
				if err != nil {
					results <- outcome{err: err}
					continue
				}
				recording = append(recording, rec.record(res))
			}
			for _, r := range recording {
				results <- <-r
			}
		}()
	}
	// The dispatcher pages through the queue by id: a row in flight is still pending, and
	// a row retried in this call comes after the cursor only once.
	var dispatchErr error
	go func() {
		defer close(work)
		for {
			due, err := a.Store.Due(wctx, now, last, 64)
			if err != nil {
				dispatchErr = err
				return
			}
			if len(due) == 0 {
				return
			}
			for _, o := range due {
				select {
				case work <- o:
					last = o.ID
				case <-wctx.Done():
					return
				}
			}
		}
	}()
	go func() {
		workers.Wait() // the workers stop once the dispatcher closes work
		rec.close()
		close(results)
	}()
	var errs []error
	for r := range results {
		switch {
		case r.err != nil:
			errs = append(errs, r.err)
			cancel() // the database or a shutdown: stop handing out rows
		case r.ok:
			sent++
		default:
			failed++
		}
		if (sent+failed)%32 == 0 {
			kick(a.wakeMover)
		}
	}
	kick(a.wakeMover)
	a.forgetSent()
	if dispatchErr != nil && !errors.Is(dispatchErr, context.Canceled) {
		errs = append(errs, dispatchErr)
	}
	if len(errs) == 0 && ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	return sent, failed, last, errors.Join(errs...)
}

// transmit sends one row and returns its result to record (sent, retry later, or parked),
// so that a worker can send its next row while this one's record commits.
func (a *App) transmit(ctx context.Context, s *send.Sender, o store.OutMessage) (*result, error) {
	answerOK := false
	if o.Kind == route.KindAnswer {
		d, ok, err := a.Store.DraftOfOutbox(ctx, o.ID)
		if err != nil {
			return nil, err
		}
		answerOK = ok && a.answerAllowed(d, o)
	}
	for _, r := range o.Rcpts {
		if !a.allowed[r] && !answerOK {
			reply := fmt.Sprintf("refused: %s is not named in the configuration", r)
			return parked(o, reply, "recipient-refused", o.CaseRef+": "+reply), nil
		}
	}
	body, err := a.Spool.Open(o.Blob)
	if err != nil {
		return nil, err
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
		res := &result{ok: true, write: func(tx *store.Tx) error {
			if err := tx.MarkSent(o.ID, reply); err != nil {
				return err
			}
			return tx.Sent(&o, reply)
		}}
		if o.Kind == route.KindDraft {
			// A draft mail carries its agent's token in the Reply-To; once the server has
			// it, no copy is kept: the database holds only the token's hash.
			res.after = func() { a.forgetLater(o.Blob) }
		}
		return res, nil
	}
	if ctx.Err() != nil {
		return nil, ctx.Err() // shutting down: the row stays pending, untouched
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
		return parked(o, line, "delivery-parked", fmt.Sprintf("%s %s to %v: %s (%s)", o.CaseRef, o.Kind, o.Rcpts, line, why)), nil
	}
	next := a.Store.Now().Add(a.backoff(attempts))
	a.Log.Warn("delivery failed: will retry", "case", o.CaseRef, "kind", o.Kind, "reply", line, "attempt", attempts, "next", next.Format(time.RFC3339))
	return &result{write: func(tx *store.Tx) error {
		if err := tx.MarkRetry(o.ID, line, next); err != nil {
			return err
		}
		return tx.Retry(&o, line, next)
	}}, nil
}

// parked is the result of a row given up on: the reason, and an operator's alert.
func parked(o store.OutMessage, reason, alert, detail string) *result {
	return &result{write: func(tx *store.Tx) error {
		if err := tx.MarkParked(o.ID, reason); err != nil {
			return err
		}
		if err := tx.Failed(&o, reason); err != nil {
			return err
		}
		return tx.Alert(alert, detail)
	}}
}

// forgetEvery is how many sent draft mails may wait before they are removed from the
// spool together; the end of every sending pass removes the rest.
const forgetEvery = 64

// forgetLater queues a sent draft mail for removal from the spool.
func (a *App) forgetLater(blob string) {
	a.sentDrafts.Lock()
	a.sentDrafts.blobs = append(a.sentDrafts.blobs, blob)
	n := len(a.sentDrafts.blobs)
	a.sentDrafts.Unlock()
	if n >= forgetEvery {
		a.forgetSent()
	}
}

// forgetSent removes the queued sent draft mails from the spool, tokens and all.
func (a *App) forgetSent() {
	a.sentDrafts.Lock()
	blobs := a.sentDrafts.blobs
	a.sentDrafts.blobs = nil
	a.sentDrafts.Unlock()
	if len(blobs) == 0 {
		return
	}
	if err := a.Spool.Forget(blobs); err != nil {
		a.Log.Warn("could not remove sent draft mails from the spool; they go with the next purge", "drafts", len(blobs), "error", err)
	}
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
