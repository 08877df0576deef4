package spool

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestBatchIsDurableOnlyAtSync(t *testing.T) {
	s := openSpool(t)
	large := bytes.Repeat([]byte("scan "), SmallMax/4) // over SmallMax: a file
	for _, data := range [][]byte{[]byte("hello"), large} {
		b := s.Batch()
		sum, err := b.Put(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(sum); err == nil {
			t.Fatalf("a batched blob of %d bytes is readable under its sum before Sync", len(data))
		}
		if again, _ := b.Put(data); again != sum || len(b.pending)+len(b.small) != 1 {
			t.Errorf("the same bytes twice: %s, %d pending", again, len(b.pending)+len(b.small))
		}
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Get(sum); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("after Sync: %d bytes, %v", len(got), err)
		}
		_, isFile := os.Stat(filepath.Join(s.dir, sum[:2], sum))
		if (isFile == nil) != (len(data) > SmallMax) {
			t.Errorf("a blob of %d bytes: file %v, want a file only above SmallMax", len(data), isFile == nil)
		}
		// A discarded batch leaves nothing behind.
		b2 := s.Batch()
		sum2, _ := b2.Put(append([]byte("never committed "), data...))
		b2.Discard()
		if _, err := s.Get(sum2); err == nil {
			t.Error("a discarded blob exists")
		}
		tmps, _ := filepath.Glob(filepath.Join(s.dir, ".tmp-*"))
		if len(tmps) != 0 {
			t.Errorf("temporary files left: %v", tmps)
		}
		// Removed means gone, from small.db or the directory.
		if err := s.Remove(sum); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(sum); err == nil {
			t.Errorf("a removed blob of %d bytes is still readable", len(data))
		}
	}
	// Put of bytes already in the spool as a file needs no new file.
	sum, _ := s.Put(large)
	b3 := s.Batch()
	if again, err := b3.Put(large); err != nil || again != sum || len(b3.pending) != 0 {
		t.Errorf("a blob already durable was written again (%d pending)", len(b3.pending))
	}
}

// PutReader keeps small mail in small.db and streams large mail to a file; both read back
// the same, whole or streamed.
func TestPutReaderSmallAndLarge(t *testing.T) {
	s := openSpool(t)
	for _, n := range []int{0, 1, SmallMax, SmallMax + 1, 3 * SmallMax} {
		data := bytes.Repeat([]byte{'x'}, n)
		sum, size, err := s.PutReader(bytes.NewReader(data))
		if err != nil || size != int64(n) || sum != Sum(data) {
			t.Fatalf("%d bytes: sum %s size %d err %v", n, sum, size, err)
		}
		r, err := s.Open(sum)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d", n, len(got))
		}
		_, isFile := os.Stat(filepath.Join(s.dir, sum[:2], sum))
		if (isFile == nil) != (n > SmallMax) {
			t.Errorf("%d bytes: file %v, want a file only above SmallMax", n, isFile == nil)
		}
	}
}

// Forgotten blobs leave no bytes behind in small.db or its journal.
func TestForgetLeavesNoBytes(t *testing.T) {
	s := openSpool(t)
	secret := []byte("Reply-To: <suporte+tok-9f8e7d6c5b4a@example.test>")
	kept := []byte("a draft text that stays")
	b := s.Batch()
	sum, _ := b.Put(secret)
	keptSum, _ := b.Put(kept)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget([]string{sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(sum); err == nil {
		t.Error("a forgotten blob is still readable")
	}
	if got, err := s.Get(keptSum); err != nil || !bytes.Equal(got, kept) {
		t.Errorf("the other blob: %q %v", got, err)
	}
	files, _ := filepath.Glob(filepath.Join(s.dir, "small.db*"))
	for _, f := range files {
		if raw, _ := os.ReadFile(f); bytes.Contains(raw, []byte("tok-9f8e7d6c5b4a")) {
			t.Errorf("%s still holds the forgotten bytes", filepath.Base(f))
		}
	}
}

// A large blob's file goes with a small blob's row in the same Forget: only small.db's
// blobs are spared the attempt on a file.
func TestForgetRemovesLargeBlobFiles(t *testing.T) {
	s := openSpool(t)
	large := bytes.Repeat([]byte("scan "), SmallMax/5+1)
	b := s.Batch()
	largeSum, _ := b.Put(large)
	smallSum, _ := b.Put([]byte("a sent draft mail"))
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	p, _ := s.path(largeSum)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("the large blob has no file of its own: %v", err)
	}
	if err := s.Forget([]string{smallSum, largeSum}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the large blob's file is still there: %v", err)
	}
	for _, sum := range []string{smallSum, largeSum} {
		if _, err := s.Get(sum); err == nil {
			t.Errorf("%s is still readable", sum)
		}
	}
}

// A just-written small blob is read once from memory, then from small.db; the memory copy
// is the writer's bytes at Sync, even if the writer reuses its buffer afterwards.
func TestRecentCopyServesOneRead(t *testing.T) {
	s := openSpool(t)
	buf := []byte("Olá, a minha receita não chegou.")
	want := append([]byte(nil), buf...)
	b := s.Batch()
	sum, err := b.Put(buf)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	copy(buf, "XXXXXXXX")
	if _, ok := s.recent.blobs[sum]; !ok {
		t.Fatal("a blob just synced has no memory copy")
	}
	for i := range 2 {
		got, err := s.Get(sum)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %d: %q, %v", i+1, got, err)
		}
		if _, ok := s.recent.blobs[sum]; ok {
			t.Fatalf("read %d left the memory copy in place", i+1)
		}
	}
}

// Past RecentMax the newest blobs get no memory copy (the oldest are the next to be read);
// every blob still reads back whole.
func TestRecentKeepsTheOldestWithinItsBudget(t *testing.T) {
	s := openSpool(t)
	b := s.Batch()
	var sums []string
	for i := range RecentMax/SmallMax + 4 {
		data := bytes.Repeat([]byte{byte('a' + i%26)}, SmallMax-i)
		sum, err := b.Put(data)
		if err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if s.recent.size > RecentMax {
		t.Fatalf("%d bytes in memory, budget %d", s.recent.size, RecentMax)
	}
	kept := 0
	for _, sum := range sums {
		if _, ok := s.recent.blobs[sum]; ok {
			kept++
		}
	}
	if kept == 0 || kept == len(sums) {
		t.Fatalf("%d of %d blobs have a memory copy, want some but not all", kept, len(sums))
	}
	for i, sum := range sums {
		got, err := s.Get(sum)
		if err != nil || len(got) != SmallMax-i {
			t.Fatalf("blob %d: %d bytes, %v", i, len(got), err)
		}
	}
	if s.recent.size != 0 {
		t.Errorf("%d bytes still in memory after every blob was read", s.recent.size)
	}
}

// Forget removes the memory copy too: a sent draft's token is gone from the process.
func TestForgetDropsTheMemoryCopy(t *testing.T) {
	s := openSpool(t)
	sum, err := s.Put([]byte("token=abc123"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Forget([]string{sum}); err != nil {
		t.Fatal(err)
	}
	if len(s.recent.blobs) != 0 {
		t.Fatal("Forget left a memory copy")
	}
	if _, err := s.Get(sum); err == nil {
		t.Fatal("a forgotten blob is still readable")
	}
}

// BenchmarkBatchSync stores groups of 32 mails of 26 KB, as intake and the decider do, and
// reports the CPU per blob (fsync included, its wait not):
//
//	go test -run XXX -bench BatchSync ./spool
func BenchmarkBatchSync(b *testing.B) {
	s := openSpool(b)
	n := 0
	cpu0 := cpuNow()
	for b.Loop() {
		bt := s.Batch()
		for range 32 {
			n++
			if _, err := bt.Put(benchMail(n)); err != nil {
				b.Fatal(err)
			}
		}
		if err := bt.Sync(); err != nil {
			b.Fatal(err)
		}
		s.recent = recent{} // every blob is read from small.db in a backlog's worst case
	}
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(n), "cpu-ns/blob")
}

// openSpool is a fresh spool, closed at the end of the test.
func openSpool(tb testing.TB) *Spool {
	s, err := Open(tb.TempDir())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

var benchBody = bytes.Repeat([]byte("Bom dia, envio em anexo a fatura que pedi. "), 26<<10/44)

// benchMail is the n-th distinct mail of 26 KB.
func benchMail(n int) []byte {
	return append([]byte(fmt.Sprintf("Message-ID: <%d@bench>\r\n", n)), benchBody...)
}

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// A spool from before small.db left its write-ahead log opens in the rollback-journal mode,
// its blobs intact.
func TestOpenLeavesAnOldWriteAheadLog(t *testing.T) {
	dir := t.TempDir()
	old, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "small.db")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("mail kept by an older triagem")
	sum := Sum(data)
	if _, err := old.Exec(`CREATE TABLE blobs (sum TEXT PRIMARY KEY, data BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`INSERT INTO blobs VALUES (?, ?)`, sum, data); err != nil {
		t.Fatal(err)
	}
	old.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got, err := s.Get(sum); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the old blob: %q, %v", got, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "small.db-wal")); err == nil {
		t.Error("small.db-wal is still there")
	}
}

// BenchmarkGetSmall reads 26 KB blobs back from small.db (no memory copy), as a sender does
// when the decider ran far ahead of it:
//
//	go test -run XXX -bench GetSmall ./spool
func BenchmarkGetSmall(b *testing.B) {
	s := openSpool(b)
	var sums []string
	bt := s.Batch()
	for i := range 2000 {
		sum, err := bt.Put(benchMail(i))
		if err != nil {
			b.Fatal(err)
		}
		sums = append(sums, sum)
	}
	if err := bt.Sync(); err != nil {
		b.Fatal(err)
	}
	s.recent = recent{}
	n := 0
	cpu0 := cpuNow()
	for b.Loop() {
		if _, err := s.Get(sums[n%len(sums)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(n), "cpu-ns/blob")
}

// sizedReader is a stream that says how long it is, as an IMAP literal does.
type sizedReader struct {
	io.Reader
	size int64
}

func (r sizedReader) Size() int64 { return r.size }

// A stream that knows its size is read whole, small or large; one that ends before its
// size is an error, never a shorter mail.
func TestPutReaderSized(t *testing.T) {
	s := openSpool(t)
	for _, n := range []int{10 << 10, SmallMax + 100} {
		data := bytes.Repeat([]byte("x"), n)
		b := s.Batch()
		sum, size, err := b.PutReader(sizedReader{bytes.NewReader(data), int64(n)})
		if err == nil {
			err = b.Sync()
		}
		if err != nil || size != int64(n) || sum != Sum(data) {
			t.Fatalf("%d bytes: sum %s size %d, %v", n, sum, size, err)
		}
		if got, err := s.Get(sum); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%d bytes: read back %d bytes, %v", n, len(got), err)
		}
	}
	b := s.Batch()
	if _, _, err := b.PutReader(sizedReader{strings.NewReader("cut short"), 100}); err == nil {
		t.Error("a literal cut short was stored")
	}
}
