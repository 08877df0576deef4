package daemon

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/mailbox"
)

// Summary is what one `run --once` did.
type Summary struct {
	Fetched, Decided, Sent, Failed, Moved int
	// Pending is outgoing mail still waiting for a retry; its originals stay in the inbox.
	Pending int
	// When each stage finished, from the start of the run. The stages overlap (a group of
	// mails is decided while the next is fetched, sent while the next is decided), so these
	// are ends, not durations: where a slow run spends its time.
	FetchedBy, DecidedBy, SentBy, MovedBy time.Duration
}

// RunOnce drains every inbox and the outbox once, then returns: fetch everything new,
// decide it, deliver every pending message once, and move what is done. The four stages
// run as a pipeline, each working on what the one before has committed.
func (a *App) RunOnce(ctx context.Context) (Summary, error) {
	var sum Summary
	start := time.Now()
	conns := make([]*mailbox.Conn, len(a.Cfg.Inboxes))
	defer func() {
		for _, cn := range conns {
			if cn != nil {
				cn.Close()
			}
		}
	}()
	for i, in := range a.Cfg.Inboxes {
		cn, err := a.dial(ctx, in)
		if err != nil {
			return sum, err
		}
		conns[i] = cn
	}
	var pool *senderPool
	if !a.Cfg.Daemon.DryRun {
		var err error
		if pool, err = a.newSenderPool(); err != nil {
			return sum, err
		}
	}
	// Each stage runs until the stage before has finished and a last pass found nothing:
	// fetching feeds deciding, deciding feeds sending, sending feeds moving.
	fetched, decided := make(chan struct{}), make(chan struct{})
	wakeDecider := make(chan struct{}, 1)
	var fetchErr, sendErr error
	go func() {
		defer close(fetched)
		for i, in := range a.Cfg.Inboxes {
			n, err := a.intake(ctx, conns[i], in, wakeDecider)
			sum.Fetched += n
			a.markInbox(in.Name, err)
			if err != nil {
				fetchErr = fmt.Errorf("inbox %s: %w", in.Name, err)
				return
			}
		}
		sum.FetchedBy = time.Since(start)
	}()
	sending := make(chan struct{})
	if pool == nil {
		close(sending)
	} else {
		go func() {
			defer close(sending)
			defer func() {
				if cerr := pool.Close(); cerr != nil {
					a.Log.Warn("closing the SMTP sessions", "error", cerr)
				}
			}()
			// Every pending row once, whatever its schedule: each pass starts after the
			// last row the previous passes handed out.
			forever := a.Store.Now().Add(100 * 365 * 24 * time.Hour)
			var cursor int64
			err := untilDone(ctx, decided, a.wakeSender, func() error {
				n, f, next, err := a.sendAfter(ctx, pool, forever, cursor)
				cursor = next
				sum.Sent, sum.Failed = sum.Sent+n, sum.Failed+f
				return err
			})
			sendErr = err
			sum.SentBy = time.Since(start)
		}()
	}
	err := untilDone(ctx, fetched, wakeDecider, func() error {
		n, err := a.ProcessPending(ctx)
		sum.Decided += n
		return err
	})
	sum.DecidedBy = time.Since(start)
	close(decided)
	<-fetched
	if err == nil {
		err = fetchErr
	}
	if err == nil {
		// The IMAP sessions are free once fetching is done: move originals as their
		// mail is sent.
		err = untilDone(ctx, sending, a.wakeMover, func() error {
			for i, in := range a.Cfg.Inboxes {
				n, err := a.moveReady(ctx, conns[i], in)
				sum.Moved += n
				if err != nil {
					return fmt.Errorf("inbox %s: %w", in.Name, err)
				}
			}
			return nil
		})
	}
	<-sending
	sum.MovedBy = time.Since(start)
	if err == nil {
		err = sendErr
	}
	if err != nil {
		return sum, err
	}
	counts, err := a.Store.Counts(ctx)
	if err != nil {
		return sum, err
	}
	sum.Pending = counts["outbox_"+"pending"]
	return sum, nil
}

// untilDone runs pass each time wake fires, until upstream is closed; then one last pass,
// which sees everything upstream produced. The first error ends it.
func untilDone(ctx context.Context, upstream <-chan struct{}, wake <-chan struct{}, pass func() error) error {
	for {
		last := false
		select {
		case <-upstream:
			last = true
		default:
		}
		if err := pass(); err != nil {
			return err
		}
		if last {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		case <-upstream:
		}
	}
}

func (a *App) dial(ctx context.Context, in config.Inbox) (*mailbox.Conn, error) {
	cn, err := mailbox.Dial(ctx, in, a.Cfg.Daemon.IMAPTimeout.Duration)
	if err != nil {
		return nil, err
	}
	f := a.Cfg.Folders
	if err := cn.EnsureFolders(ctx, f.Processed, f.Review, f.Quarantine); err != nil {
		cn.Close()
		return nil, fmt.Errorf("inbox %s: %w", in.Name, err)
	}
	return cn, nil
}

// Run is the daemon: one watcher per inbox, one decider and one sender, until ctx ends.
// Shutdown is two-phase: ctx stops new work; each loop finishes the step it is in, and
// whatever was in flight is still durable and is picked up on the next start.
func (a *App) Run(ctx context.Context) error {
	wakeDecider := make(chan struct{}, 1)
	movers := make([]chan struct{}, len(a.Cfg.Inboxes))
	var wg sync.WaitGroup
	for i, in := range a.Cfg.Inboxes {
		movers[i] = make(chan struct{}, 1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.watch(ctx, in, wakeDecider, movers[i])
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		a.decideLoop(ctx, wakeDecider)
	}()
	go func() {
		defer wg.Done()
		a.sendLoop(ctx)
	}()
	// Fan the sender's "something was delivered" out to every inbox's mover.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-a.wakeMover:
				for _, m := range movers {
					kick(m)
				}
			}
		}
	}()
	a.Log.Info("triagem running", "inboxes", len(a.Cfg.Inboxes), "dry_run", a.Cfg.Daemon.DryRun, "state_dir", a.Cfg.Daemon.StateDir)
	<-ctx.Done()
	wg.Wait()
	a.Log.Info("triagem stopped")
	return nil
}

// watch keeps one inbox connected: fetch what is new, hand it to the decider, move what is
// done, then wait (IDLE or poll) and repeat. A failure reconnects with jittered backoff,
// and every reconnect starts with a reconciling fetch.
func (a *App) watch(ctx context.Context, in config.Inbox, wakeDecider, wakeMove chan struct{}) {
	failures := 0
	for ctx.Err() == nil {
		err := a.session(ctx, in, wakeDecider, wakeMove, &failures)
		if ctx.Err() != nil {
			return
		}
		failures++
		a.markInbox(in.Name, err)
		wait := reconnectDelay(failures)
		a.Log.Warn("inbox connection lost: reconnecting", "inbox", in.Name, "error", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *App) session(ctx context.Context, in config.Inbox, wakeDecider, wakeMove chan struct{}, failures *int) error {
	cn, err := a.dial(ctx, in)
	if err != nil {
		return err
	}
	defer cn.Close()
	for {
		if _, err := a.intake(ctx, cn, in, wakeDecider); err != nil {
			return err
		}
		a.markInbox(in.Name, nil)
		*failures = 0
		if _, err := a.moveReady(ctx, cn, in); err != nil {
			return err
		}
		if err := cn.Wait(ctx, wakeMove, a.Cfg.Daemon.PollInterval.Duration); err != nil {
			return err
		}
	}
}

func reconnectDelay(failures int) time.Duration {
	d := time.Second << min(failures-1, 7) // 1s … 128s
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

func (a *App) decideLoop(ctx context.Context, wake chan struct{}) {
	tick := time.NewTicker(a.Cfg.Daemon.PollInterval.Duration)
	defer tick.Stop()
	for {
		if _, err := a.ProcessPending(ctx); err != nil && !errors.Is(err, context.Canceled) {
			a.Log.Error("deciding failed: will retry", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-tick.C:
		}
	}
}

func (a *App) sendLoop(ctx context.Context) {
	if a.Cfg.Daemon.DryRun {
		<-ctx.Done()
		return
	}
	pool, err := a.newSenderPool()
	if err != nil {
		a.Log.Error("cannot send: fix the [smtp] settings and restart", "error", err)
		<-ctx.Done()
		return
	}
	defer pool.Close()
	for {
		if _, _, err := a.SendDue(ctx, pool); err != nil && !errors.Is(err, context.Canceled) {
			a.Log.Error("sending failed: will retry", "error", err)
		}
		wait := a.Cfg.Daemon.PollInterval.Duration
		if next, ok, err := a.Store.NextDue(ctx); err == nil && ok {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		// An idle connection is closed by most servers after a few minutes; drop it first.
		if wait > 30*time.Second {
			_ = pool.Close()
		}
		select {
		case <-ctx.Done():
			return
		case <-a.wakeSender:
		case <-time.After(wait):
		}
	}
}
