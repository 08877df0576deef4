package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TxEach shares one commit among its functions, yet each one's failure undoes only its own
// writes, and the hash chain stays whole.
func TestTxEachKeepsEachFunctionApart(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	const n = 40
	var fns []func(*Tx) error
	for i := range n {
		fns = append(fns, func(tx *Tx) error {
			if err := tx.Alert("group-test", fmt.Sprint(i)); err != nil {
				return err
			}
			if i%3 == 0 {
				return fmt.Errorf("caller %d fails", i)
			}
			return tx.Alert("group-test", fmt.Sprint(i, "b"))
		})
	}
	errs := st.TxEach(ctx, fns)
	want := map[string]bool{}
	for i, err := range errs {
		switch {
		case i%3 == 0 && (err == nil || err.Error() != fmt.Sprintf("caller %d fails", i)):
			t.Errorf("caller %d: error %v, want its own failure", i, err)
		case i%3 != 0 && err != nil:
			t.Errorf("caller %d: %v", i, err)
		case i%3 != 0:
			want[fmt.Sprint(i)], want[fmt.Sprint(i, "b")] = true, true
		}
	}
	evs, err := st.Events(ctx, Filter{Type: EvAlert, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, e := range evs {
		got[fmt.Sprint(e.Fields()["detail"])] = true
	}
	if len(got) != len(want) {
		t.Errorf("%d alerts kept, want %d (the failed callers' writes rolled back, the others' kept)", len(got), len(want))
	}
	for d := range want {
		if !got[d] {
			t.Errorf("alert %q of a successful caller is missing", d)
		}
	}
	prev, seq := "", int64(0)
	err = st.EachEvent(ctx, func(e Event) error {
		seq++
		if e.Seq != seq || e.PrevHash != prev || e.Hash != ChainHash(prev, e.Seq, e.At, e.Type, e.CaseRef, e.Message, e.Data) {
			return fmt.Errorf("event %d breaks the chain", e.Seq)
		}
		prev = e.Hash
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}

// A transaction that fails fails every function in it: none is told its writes are durable.
func TestTxEachFailureReachesEveryone(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	st.Close() // every statement now fails
	alert := func(tx *Tx) error { return tx.Alert("x", "y") }
	for i, err := range st.TxEach(ctx, []func(*Tx) error{alert, alert, alert}) {
		if err == nil || errors.Is(err, context.Canceled) {
			t.Errorf("function %d on a closed database: %v, want an error", i, err)
		}
	}
}

// A function alone in its transaction (no savepoint then) gets its own error once, and its
// writes are undone.
func TestTxEachAloneRollsBackItsWrites(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	err := st.TxEach(ctx, []func(*Tx) error{func(tx *Tx) error {
		if err := tx.Alert("group-test", "lonely"); err != nil {
			return err
		}
		return errors.New("the lone caller fails")
	}})[0]
	if err == nil || err.Error() != "the lone caller fails" {
		t.Fatalf("error %v, want the caller's own, once", err)
	}
	if err := st.TxEach(ctx, []func(*Tx) error{func(tx *Tx) error { return tx.Alert("group-test", "kept") }})[0]; err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(ctx, Filter{Type: EvAlert, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Fields()["detail"] != "kept" {
		t.Fatalf("alerts after a failed and a good lone caller: %d, want only the good one", len(evs))
	}
}

// A transaction's events are inserted together when it commits, in statements of a few
// fixed sizes: every count must come out whole, in order, and chained, whatever sizes it
// is split into.
func TestEventsOfOneTransactionAreAllWritten(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	total := 0
	for _, n := range []int{1, 3, 4, 17, 64, 87, 150} {
		err := st.Tx(ctx, func(tx *Tx) error {
			for i := range n {
				if err := tx.Alert("batch-test", fmt.Sprint(n, "/", i)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total += n
	}
	prev, seq := "", int64(0)
	var details []string
	err := st.EachEvent(ctx, func(e Event) error {
		seq++
		if e.Seq != seq || e.PrevHash != prev || e.Hash != ChainHash(prev, e.Seq, e.At, e.Type, e.CaseRef, e.Message, e.Data) {
			return fmt.Errorf("event %d breaks the chain", e.Seq)
		}
		prev = e.Hash
		details = append(details, fmt.Sprint(e.Fields()["detail"]))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(details) != total {
		t.Fatalf("%d events written, want %d", len(details), total)
	}
	i := 0
	for _, n := range []int{1, 3, 4, 17, 64, 87, 150} {
		for j := range n {
			if want := fmt.Sprint(n, "/", j); details[i] != want {
				t.Fatalf("event %d is %q, want %q: out of order", i+1, details[i], want)
			}
			i++
		}
	}
}

// MarkSent is written at commit, the marks of a transaction together: each row gets its
// own reply, a row no longer pending is left as it is, and a failed grouped function's
// marks are undone with the rest of its writes.
func TestMarksSentAreWrittenTogether(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	var m Message
	var outs []*OutMessage
	err := st.Tx(ctx, func(tx *Tx) error {
		m = Message{Inbox: "in", Mailbox: "INBOX", UIDValidity: 1, UID: 1, Blob: "b", CaseKey: "k", CaseRef: "TRG-1", State: StateReceived}
		if _, err := tx.InsertMessage(&m); err != nil {
			return err
		}
		for i := range 17 {
			o := &OutMessage{Message: m.ID, CaseRef: m.CaseRef, Kind: "forward", MessageID: fmt.Sprint(i, "@x"), Rcpts: []string{"a@b.c"}, State: OutPending}
			if _, err := tx.Enqueue(o); err != nil {
				return err
			}
			outs = append(outs, o)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Tx(ctx, func(tx *Tx) error { return tx.MarkParked(outs[3].ID, "550 no") }); err != nil {
		t.Fatal(err)
	}
	// 15 marks in one transaction (8 + 4 + 2 + 1 rows), one on the parked row; then a
	// group in which the second function fails after marking its row.
	err = st.Tx(ctx, func(tx *Tx) error {
		for _, o := range outs[:15] {
			if err := tx.MarkSent(o.ID, "250 queued as "+o.MessageID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	errs := st.TxEach(ctx, []func(*Tx) error{
		func(tx *Tx) error { return tx.MarkSent(outs[15].ID, "250 queued as "+outs[15].MessageID) },
		func(tx *Tx) error {
			if err := tx.MarkSent(outs[16].ID, "250 never"); err != nil {
				return err
			}
			return errors.New("this one fails")
		},
	})
	if errs[0] != nil || errs[1] == nil {
		t.Fatalf("grouped marks: %v", errs)
	}
	got, err := st.OutboxOf(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range got {
		var i int
		fmt.Sscan(strings.TrimSuffix(o.MessageID, "@x"), &i)
		want, reply := OutSent, "250 queued as "+o.MessageID
		switch {
		case i == 3:
			want, reply = OutParked, "550 no"
		case i == 16:
			want, reply = OutPending, ""
		}
		if o.State != want || o.LastReply != reply {
			t.Errorf("row %d: %s, %q; want %s, %q", i, o.State, o.LastReply, want, reply)
		}
	}
	if len(got) != 17 {
		t.Errorf("%d rows, want 17", len(got))
	}
}
