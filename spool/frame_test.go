package spool

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
)

// forwardOf is a forward around mail, as the composer writes one: headers and a note
// before it, a closing boundary after.
func forwardOf(mail []byte) []byte {
	head := "From: triagem@example.test\r\nSubject: [MO-1] Fatura\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nCaso MO-1.\r\n--b\r\nContent-Type: message/rfc822\r\n\r\n"
	return append(append([]byte(head), mail...), "\r\n--b--\r\n"...)
}

// count is how many rows of table name sum.
func count(t *testing.T, s *Spool, table, sum string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM `+table+` WHERE sum = ?`, sum).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// readBoth is a blob by Get and by Open, from small.db (no memory copy).
func readBoth(t *testing.T, s *Spool, sum string) (got, streamed []byte) {
	t.Helper()
	s.recent = recent{}
	got, err := s.Get(sum)
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if streamed, err = io.ReadAll(r); err != nil {
		t.Fatal(err)
	}
	return got, streamed
}

// A forward is kept as the bytes around the mail it carries, under the sum of its whole
// bytes, and reads back whole.
func TestPutAroundKeepsOnlyTheFrame(t *testing.T) {
	s := openSpool(t)
	mail := benchMail(1)
	inner, err := s.Put(mail)
	if err != nil {
		t.Fatal(err)
	}
	fwd := forwardOf(mail)
	b := s.Batch()
	sum, err := b.PutAround(fwd, inner, mail)
	if err != nil || sum != Sum(fwd) {
		t.Fatalf("sum %s, %v; want %s", sum, err, Sum(fwd))
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if count(t, s, "frames", sum) != 1 || count(t, s, "blobs", sum) != 0 {
		t.Fatal("the forward was not kept as a frame")
	}
	var stored int
	s.db.QueryRow(`SELECT length(data) FROM frames WHERE sum = ?`, sum).Scan(&stored)
	if stored != len(fwd)-len(mail) {
		t.Errorf("the frame holds %d bytes, want %d: the mail is in it again", stored, len(fwd)-len(mail))
	}
	got, streamed := readBoth(t, s, sum)
	if !bytes.Equal(got, fwd) || !bytes.Equal(streamed, fwd) {
		t.Error("the forward does not read back as written")
	}
}

// When the mail is not inside, or is not the blob named, or is not in the spool, the
// whole bytes are kept.
func TestPutAroundFallsBackToWhole(t *testing.T) {
	s := openSpool(t)
	mail := benchMail(2)
	inner, err := s.Put(mail)
	if err != nil {
		t.Fatal(err)
	}
	other := benchMail(3)
	cases := map[string]struct {
		whole, innerBytes []byte
		inner             string
	}{
		"not inside":      {forwardOf(other), mail, inner},
		"not that blob":   {forwardOf(other), other, inner},
		"not in spool":    {forwardOf(other), other, Sum(other)},
		"too small a bit": {forwardOf([]byte("hi")), []byte("hi"), Sum([]byte("hi"))},
	}
	for name, c := range cases {
		b := s.Batch()
		sum, err := b.PutAround(c.whole, c.inner, c.innerBytes)
		if err == nil {
			err = b.Sync()
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if count(t, s, "frames", sum) != 0 || count(t, s, "blobs", sum) != 1 {
			t.Errorf("%s: not kept whole", name)
		}
		if got, _ := readBoth(t, s, sum); !bytes.Equal(got, c.whole) {
			t.Errorf("%s: reads back changed", name)
		}
	}
}

// Forgetting the mail (a purge) makes its forwards whole first: they still read back,
// and the mail's bytes stay only inside them.
func TestForgetTheInnerBlobKeepsItsFrames(t *testing.T) {
	for _, size := range []int{26 << 10, SmallMax + 10<<10} { // in small.db, and a file
		s := openSpool(t)
		mail := append(benchMail(4), strings.Repeat("x", size-len(benchMail(4)))...)
		inner, err := s.Put(mail)
		if err != nil {
			t.Fatal(err)
		}
		fwd := forwardOf(mail)
		b := s.Batch()
		sum, _ := b.PutAround(fwd, inner, mail)
		if err := b.Sync(); err != nil {
			t.Fatal(err)
		}
		if count(t, s, "frames", sum) != 1 {
			t.Fatalf("%d bytes: not framed", size)
		}
		if err := s.Forget([]string{inner}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(inner); err == nil {
			t.Errorf("%d bytes: the forgotten mail is still readable", size)
		}
		if count(t, s, "frames", sum) != 0 {
			t.Errorf("%d bytes: the frame outlived its mail", size)
		}
		got, streamed := readBoth(t, s, sum)
		if !bytes.Equal(got, fwd) || !bytes.Equal(streamed, fwd) {
			t.Errorf("%d bytes: the forward does not read back after its mail went", size)
		}
	}
}

// Forgetting a frame removes it, and leaves the mail inside.
func TestForgetAFrame(t *testing.T) {
	s := openSpool(t)
	mail := benchMail(5)
	inner, _ := s.Put(mail)
	b := s.Batch()
	sum, _ := b.PutAround(forwardOf(mail), inner, mail)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget([]string{sum}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(sum); err == nil {
		t.Error("a forgotten frame is still readable")
	}
	if got, err := s.Get(inner); err != nil || !bytes.Equal(got, mail) {
		t.Errorf("the mail inside: %v", err)
	}
}

func TestIndexOf(t *testing.T) {
	needle := bytes.Repeat([]byte("ab"), 100)
	for _, c := range []struct {
		hay  string
		want int
	}{
		{"xx" + string(needle) + "yy", 2},
		{string(needle[:150]) + "c" + string(needle), 151}, // a false start on the first 64 bytes
		{string(needle[:150]), -1},
		{"", -1},
	} {
		if got := indexOf([]byte(c.hay), needle); got != c.want {
			t.Errorf("indexOf in %d bytes: %d, want %d", len(c.hay), got, c.want)
		}
	}
}

// A purge that forgets the mail and its forward together leaves neither.
func TestForgetInnerAndFrameTogether(t *testing.T) {
	s := openSpool(t)
	mail := benchMail(6)
	inner, _ := s.Put(mail)
	b := s.Batch()
	sum, _ := b.PutAround(forwardOf(mail), inner, mail)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Forget([]string{inner, sum}); err != nil {
		t.Fatal(err)
	}
	for _, x := range []string{inner, sum} {
		if count(t, s, "blobs", x)+count(t, s, "frames", x) != 0 {
			t.Errorf("%s is still stored", x[:8])
		}
	}
}

// The decider takes the mail's memory copy, then frames its forward around it: the spool
// still knows from memory that the mail is there, and no longer once it is forgotten.
func TestTakenBlobIsKnownUntilForgotten(t *testing.T) {
	s := openSpool(t)
	mail := benchMail(2)
	b := s.Batch()
	inner, _ := b.Put(mail)
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(inner); err != nil { // takes the memory copy
		t.Fatal(err)
	}
	if !s.recent.has(inner) {
		t.Fatal("a blob whose copy was taken is not known to be there")
	}
	if err := s.Forget([]string{inner}); err != nil {
		t.Fatal(err)
	}
	if s.recent.has(inner) {
		t.Fatal("a forgotten blob is still known to be there")
	}
	fwd := forwardOf(mail)
	b = s.Batch()
	sum, err := b.PutAround(fwd, inner, mail)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Sync(); err != nil {
		t.Fatal(err)
	}
	if count(t, s, "frames", sum) != 0 {
		t.Error("a forward was framed around a forgotten mail")
	}
	if got, err := s.Get(sum); err != nil || !bytes.Equal(got, fwd) {
		t.Errorf("the forward reads back as %d bytes, %v", len(got), err)
	}
}

// served keeps the last servedMax sums, not more.
func TestServedIsBounded(t *testing.T) {
	var r recent
	for i := range servedMax + 10 {
		r.add(fmt.Sprint(i), []byte("x"))
		r.take(fmt.Sprint(i))
	}
	if len(r.served) != servedMax {
		t.Errorf("%d sums remembered, want %d", len(r.served), servedMax)
	}
	if r.has("0") || !r.has(fmt.Sprint(servedMax+9)) {
		t.Error("the oldest sum is remembered, or the newest is not")
	}
}
