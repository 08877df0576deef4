package daemon

import (
	"context"
	"time"

	"github.com/triagem/triagem/store"
)

// recordWindow is the longest a sender's result waits for others to share its commit.
const recordWindow = 10 * time.Millisecond

// unrecorded is how many results a session may have waiting while it sends on. A commit
// costs about 0.2 ms of CPU here: of the sent results' records, one to a commit cost
// 300 µs of CPU each, four 115 µs, eight 80 µs (docs/PERFORMANCE.md, lesson 19). Two
// waiting per session let a commit gather eight, and a crash send at most three of a
// session's messages again.
const unrecorded = 2

// recorder writes the senders' results (sent, retry later, parked) durably, in commits
// shared by the sessions: a commit starts as soon as every session still sending has
// unrecorded results waiting, or recordWindow after the first one came. Left to chance,
// the results of four sessions shared a commit by one and a half.
//
// A session has at most unrecorded results waiting (it waits for the oldest before it
// sends on), so "every session has that many" is the most a commit can gather without
// stalling one. The recorder is owned by one sending pass, which closes it once its
// workers stop.
type recorder struct {
	store   *store.Store
	in      chan *result
	left    chan struct{} // a session stopped sending
	working int           // sessions still sending; the recorder's goroutine only
	stopped chan struct{}
}

// result is one message's outcome, to be recorded.
type result struct {
	write func(*store.Tx) error
	ok    bool   // a 250: the message is sent
	after func() // once the write is durable
	done  chan outcome
}

type outcome struct {
	ok  bool
	err error
}

func (a *App) startRecorder(sessions int) *recorder {
	r := &recorder{store: a.Store, in: make(chan *result, sessions*unrecorded), left: make(chan struct{}, sessions),
		working: sessions, stopped: make(chan struct{})}
	go r.run()
	return r
}

// record queues res and returns where its outcome will arrive, once durable.
func (r *recorder) record(res *result) <-chan outcome {
	res.done = make(chan outcome, 1)
	r.in <- res
	return res.done
}

// leave tells the recorder that a session sends no more.
func (r *recorder) leave() { r.left <- struct{}{} }

// close records what is still waiting and stops; every record and leave call must have
// returned before it.
func (r *recorder) close() {
	close(r.in)
	<-r.stopped
}

func (r *recorder) run() {
	defer close(r.stopped)
	var pending []*result
	var expired <-chan time.Time // the window of the first result waiting, if any
	flush := func() {
		expired = nil
		if len(pending) == 0 {
			return
		}
		fns := make([]func(*store.Tx) error, len(pending))
		for i, p := range pending {
			fns[i] = p.write
		}
		// Not cancelled by a shutdown: these messages have been sent, which must be known.
		errs := r.store.TxEach(context.Background(), fns)
		for i, p := range pending {
			p.done <- outcome{ok: p.ok, err: errs[i]}
		}
		for i, p := range pending { // after the sessions are free to go on
			if errs[i] == nil && p.after != nil {
				p.after()
			}
		}
		pending = pending[:0]
	}
	for {
		select {
		case res, open := <-r.in:
			if !open {
				flush()
				return
			}
			pending = append(pending, res)
			if expired == nil {
				expired = time.After(recordWindow)
			}
		case <-r.left:
			r.working--
		case <-expired:
			flush()
		}
		if len(pending) > 0 && len(pending) >= r.working*unrecorded {
			flush()
		}
	}
}
