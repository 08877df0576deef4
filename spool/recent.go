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
}

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
	if b, ok = r.blobs[sum]; ok {
		delete(r.blobs, sum)
		r.size -= len(b)
	}
	return b, ok
}

// drop forgets the copy of sum, if any.
func (r *recent) drop(sum string) { r.take(sum) }

// has reports whether there is a copy of sum, leaving it in place.
func (r *recent) has(sum string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.blobs[sum]
	return ok
}
