package spool

import (
	"path/filepath"
	"testing"
)

func TestBatchIsDurableOnlyAtSync(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := s.Batch()
	sum, err := b.Put([]byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(sum); err == nil {
		t.Fatal("a batched blob is readable under its sum before Sync")
	}
	if again, _ := b.Put([]byte("hello")); again != sum || len(b.pending) != 1 {
		t.Errorf("the same bytes twice: %s, %d pending", again, len(b.pending))
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(sum); err != nil || string(got) != "hello" {
		t.Fatalf("after Sync: %q %v", got, err)
	}
	// A discarded batch leaves nothing behind.
	b2 := s.Batch()
	sum2, _ := b2.Put([]byte("never committed"))
	b2.Discard()
	if _, err := s.Get(sum2); err == nil {
		t.Error("a discarded blob exists")
	}
	tmps, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-*"))
	if len(tmps) != 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	// Put of bytes already in the spool needs no new file.
	b3 := s.Batch()
	if _, err := b3.Put([]byte("hello")); err != nil || len(b3.pending) != 0 {
		t.Errorf("a blob already durable was written again (%d pending)", len(b3.pending))
	}
}
