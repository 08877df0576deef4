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
	// How long each phase took: where a slow run spends its time.
	FetchTime, DecideTime, SendTime, MoveTime time.Duration
}

// RunOnce drains every inbox and the outbox once, then returns: fetch everything new,
// decide it, deliver every pending message once, and move what is done.
func (a *App) RunOnce(ctx context.Context) (Summary, error) {
	var sum Summary
	phase := time.Now()
	lap := func(d *time.Duration) { *d, phase = time.Since(phase), time.Now() }
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
		n, err := a.intake(ctx, cn, in)
		sum.Fetched += n
		a.markInbox(in.Name, err)
		if err != nil {
			return sum, fmt.Errorf("inbox %s: %w", in.Name, err)
		}
	}
	lap(&sum.FetchTime)
	// Deciding and sending overlap: each group of decisions is sent as soon as it commits,
	// while the next group is prepared.
	var sendErr error
	sending := make(chan struct{})
	decided := make(chan struct{})
	if a.Cfg.Daemon.DryRun {
		close(sending)
	} else {
		pool, err := a.newSenderPool()
		if err != nil {
			return sum, err
		}
		go func() {
			defer close(sending)
			defer func() {
				if cerr := pool.Close(); cerr != nil {
					a.Log.Warn("closing the SMTP sessions", "error", cerr)
				}
			}()
			// Every pending row once: each pass starts after the last row the previous
			// passes handed out.
			forever := a.Store.Now().Add(100 * 365 * 24 * time.Hour)
			var cursor int64
			for last := false; !last; {
				select {
				case <-decided:
					last = true // this pass sees every decision
				default:
				}
				n, f, next, err := a.sendAfter(ctx, pool, forever, cursor)
				cursor = next
				sum.Sent, sum.Failed = sum.Sent+n, sum.Failed+f
				if err != nil {
					sendErr = err
					return
				}
				if !last {
					select {
					case <-a.wakeSender:
					case <-decided:
					}
				}
			}
		}()
	}
	n, err := a.ProcessPending(ctx)
	sum.Decided = n
	lap(&sum.DecideTime)
	close(decided)
	<-sending
	if err != nil {
		return sum, err
	}
	if sendErr != nil {
		return sum, sendErr
	}
	lap(&sum.SendTime)
	for i, in := range a.Cfg.Inboxes {
		n, err := a.moveReady(ctx, conns[i], in)
		sum.Moved += n
		if err != nil {
			return sum, fmt.Errorf("inbox %s: %w", in.Name, err)
		}
	}
	lap(&sum.MoveTime)
	counts, err := a.Store.Counts(ctx)
	if err != nil {
		return sum, err
	}
	sum.Pending = counts["outbox_"+"pending"]
	return sum, nil
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
		n, err := a.intake(ctx, cn, in)
		if err != nil {
			return err
		}
		a.markInbox(in.Name, nil)
		*failures = 0
		if n > 0 {
			kick(wakeDecider)
		}
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
		if _, _, err := a.SendDue(ctx, pool, false); err != nil && !errors.Is(err, context.Canceled) {
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
