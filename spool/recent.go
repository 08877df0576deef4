package spool

import "sync"

// RecentMax bounds the memory copies of just-written small blobs.
const RecentMax = 16 << 20

// recent holds a memory copy of the small blobs that Batch.Sync has just made durable, for
// the reader that comes next: the decider reads the mail intake has just stored, a sender
// the forward the decider has just composed. Reading a blob back from small.db costs
// several page reads and a copy; in a backlog that was a tenth of triagem's CPU.
//
// A copy serves one read and is dropped, since each pipeline stage reads a blob once. When
// the budget is full the newest blob is not copied, rather than the oldest dropped:
// readers run behind the writer in the order of writing, so dropping the oldest would
// make every read miss, while refusing the newest makes the first RecentMax bytes hit.
type recent struct {
	mu    sync.Mutex
	size  int
	blobs map[string][]byte
	// served remembers the sums whose copy was taken, the last servedMax of them: they are
	// durable still (Forget drops them here too). A forward is framed around the mail the
	// decider has just taken, and asking small.db whether that mail is there was 1.7 % of
	// triagem's CPU on the real stack.
	served     map[string]bool
	servedRing []string
	servedNext int
}

// servedMax bounds served: a batch of decisions is 100 mails.
const servedMax = 1024

func (r *recent) add(sum string, b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.blobs[sum]; ok || r.size+len(b) > RecentMax {
		return
	}
	if r.blobs == nil {
		r.blobs = map[string][]byte{}
	}
	r.blobs[sum] = append([]byte(nil), b...) // the writer may reuse its buffer
	r.size += len(b)
}

// take returns the copy of sum and drops it; ok is false when there is none.
func (r *recent) take(sum string) (b []byte, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if b, ok = r.removeCopy(sum); ok {
		r.serve(sum)
	}
	return b, ok
}

// removeCopy drops the copy of sum and returns it, if there was one. r.mu is held.
func (r *recent) removeCopy(sum string) (b []byte, ok bool) {
	if b, ok = r.blobs[sum]; ok {
		delete(r.blobs, sum)
		r.size -= len(b)
	}
	return b, ok
}

// serve remembers that sum was durable when its copy was taken, forgetting the oldest
// such sum once there are servedMax.
func (r *recent) serve(sum string) {
	if r.served == nil {
		r.served, r.servedRing = map[string]bool{}, make([]string, servedMax)
	}
	if r.served[sum] {
		return
	}
	if old := r.servedRing[r.servedNext]; old != "" {
		delete(r.served, old)
	}
	r.servedRing[r.servedNext] = sum
	r.servedNext = (r.servedNext + 1) % servedMax
	r.served[sum] = true
}

// drop forgets sum: its copy, if any, and that it was served.
func (r *recent) drop(sum string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removeCopy(sum)
	delete(r.served, sum) // its ring slot stays, and is reused in its turn
}

// has reports whether sum is known durable from memory: a copy is waiting, or one was
// taken and sum has not been forgotten since.
func (r *recent) has(sum string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.blobs[sum]
	return ok || r.served[sum]
}
