package spool

import (
	"bytes"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// A frame is a blob kept as the bytes around another blob that it contains byte for byte:
// a forward is the customer's mail, attached unchanged, between headers and a cover note
// and a closing boundary. Kept whole, a forward wrote the mail a second time, about half
// of the spool's writes in a backlog (docs/PERFORMANCE.md, lesson 17). A frame has the
// sum of its whole bytes, so nobody outside the spool can tell.
//
// The inner blob must outlive its frames: Forget turns a frame back into a whole blob
// before it removes the blob inside.
type frame struct {
	inner string // the sum of the blob inside
	split int    // where it goes: data[:split] + inner + data[split:]
	data  []byte
}

// framesSchema is the frames table, beside blobs. Its index finds the frames around a
// blob that is to be removed.
const framesSchema = `CREATE TABLE IF NOT EXISTS frames (sum TEXT PRIMARY KEY, inner TEXT NOT NULL, split INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS frames_inner ON frames (inner)`

// minFramed is the smallest inner blob worth a frame: below it, the second read at send
// time costs more than the bytes saved.
const minFramed = 2 << 10

// PutAround stores whole, which should contain the bytes of the blob inner, already in
// the spool: as a frame when it does, whole otherwise. It returns whole's sum either way.
func (b *Batch) PutAround(whole []byte, inner string, innerBytes []byte) (string, error) {
	at := indexOf(whole, innerBytes)
	if at < 0 || len(innerBytes) < minFramed || Sum(innerBytes) != inner {
		return b.Put(whole)
	}
	if _, pending := b.pending[inner]; pending {
		return b.Put(whole) // a file made durable after the frame could be missing after a crash
	}
	if _, inBatch := b.small[inner]; !inBatch {
		if ok, err := b.s.has(inner); err != nil || !ok {
			return b.Put(whole)
		}
	}
	sum := Sum(whole)
	if _, err := b.s.path(sum); err != nil {
		return "", err
	}
	if _, ok := b.small[sum]; ok {
		return sum, nil
	}
	data := make([]byte, 0, len(whole)-len(innerBytes))
	data = append(append(data, whole[:at]...), whole[at+len(innerBytes):]...)
	b.frames[sum] = frame{inner: inner, split: at, data: data}
	if len(whole) <= SmallMax {
		b.wholes[sum] = whole // a sender reads it next, as it would a small blob
	}
	return sum, nil
}

// indexOf finds needle in haystack. It looks for needle's first 64 bytes and compares the
// rest there, which for a 26 KB mail inside its forward is much quicker than bytes.Index.
func indexOf(haystack, needle []byte) int {
	if len(needle) == 0 {
		return -1
	}
	head := needle[:min(64, len(needle))]
	for off := 0; ; {
		i := bytes.Index(haystack[off:], head)
		if i < 0 {
			return -1
		}
		at := off + i
		if bytes.HasPrefix(haystack[at:], needle) {
			return at
		}
		off = at + 1
	}
}

// has reports whether a blob is durable in the spool.
func (s *Spool) has(sum string) (bool, error) {
	if s.recent.has(sum) {
		return true, nil
	}
	var one int
	s.mu.RLock()
	err := s.hasSmall.QueryRow(sum).Scan(&one)
	s.mu.RUnlock()
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, sql.ErrNoRows):
		return false, fmt.Errorf("spool: look up %s: %w", sum, err)
	}
	p, err := s.path(sum)
	if err != nil {
		return false, err
	}
	_, err = os.Stat(p)
	return err == nil, nil
}

// assemble returns a frame's whole bytes.
func (s *Spool) assemble(f *frame) ([]byte, error) {
	inner, err := s.Get(f.inner)
	if err != nil {
		return nil, fmt.Errorf("spool: the mail inside a stored forward: %w", err)
	}
	whole := make([]byte, 0, len(f.data)+len(inner))
	whole = append(append(append(whole, f.data[:f.split]...), inner...), f.data[f.split:]...)
	return whole, nil
}

// openFrame streams a frame: its head, the inner blob, its tail.
func (s *Spool) openFrame(f *frame) (io.ReadCloser, error) {
	inner, err := s.Open(f.inner)
	if err != nil {
		return nil, fmt.Errorf("spool: the mail inside a stored forward: %w", err)
	}
	r := io.MultiReader(bytes.NewReader(f.data[:f.split]), inner, bytes.NewReader(f.data[f.split:]))
	return struct {
		io.Reader
		io.Closer
	}{r, inner}, nil
}

// unframe makes every frame around the blobs in sums whole again, durably, so that the
// blobs can go: purging a customer's mail must not break the forward that carried it.
// It runs before Forget takes the write lock, and looks for the frames of all of sums in
// one query: most forgotten blobs (sent draft mails) are inside none.
func (s *Spool) unframe(sums []string) error {
	list, err := json.Marshal(sums)
	if err != nil {
		return err
	}
	var found []frame
	var names []string
	s.mu.RLock()
	rows, err := s.framesOf.Query(string(list))
	if err == nil {
		for rows.Next() {
			var f frame
			var sum string
			if err = rows.Scan(&sum, &f.inner, &f.split, &f.data); err != nil {
				break
			}
			found, names = append(found, f), append(names, sum)
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	s.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("spool: frames around the blobs to forget: %w", err)
	}
	going := map[string]bool{}
	for _, sum := range sums {
		going[sum] = true
	}
	b := s.Batch()
	var framed []string
	for i := range found {
		if going[names[i]] {
			continue // forgotten in the same breath: nothing to keep
		}
		whole, err := s.assemble(&found[i])
		if err != nil {
			return err
		}
		if sum, err := b.Put(whole); err != nil || sum != names[i] {
			b.Discard()
			if err == nil {
				err = fmt.Errorf("spool: the frame %s does not reassemble to its sum: restore the spool from backup", names[i])
			}
			return err
		}
		framed = append(framed, names[i])
	}
	if len(framed) == 0 {
		return nil
	}
	if err := b.Sync(); err != nil {
		b.Discard()
		return err
	}
	_, err = s.deleteRows(framed, "frames")
	return err
}
