package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

// BenchmarkCaseEvents is the event log's share of one forwarded case: received,
// classified, two queued, sent twice, moved, written as the daemon groups them (32 cases
// a transaction, the sends four to a commit, as four SMTP sessions give them). Run with
//
//	go test -run XXX -bench CaseEvents -benchmem ./store
func BenchmarkCaseEvents(b *testing.B) {
	st, err := Open(filepath.Join(b.TempDir(), "triagem.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	to := []string{"medico.online@medis.pt"}
	n := 0
	cpu0 := cpuNow()
	for b.Loop() {
		var outs []*OutMessage
		err := st.Tx(ctx, func(tx *Tx) error {
			for range 32 {
				n++
				m := &Message{ID: int64(n), CaseRef: fmt.Sprintf("TRG-%08d", n)}
				if err := tx.Received(m, "cliente@example.pt"); err != nil {
					return err
				}
				c := Classification{Category: "refund", Confidence: 0.93, Action: "forward", To: to, NIFHash: "h",
					Rules: []string{"refund/refund body 2.50 reembolso"}, Scores: map[string]float64{"refund": 2.5},
					Probabilities: map[string]float64{"refund": 0.93, "other": 0.04}, Method: "model+rules", Threshold: 0.6,
					Features: []string{"w:reembolso 1.234", "w:cobrado 0.871"}}
				if err := tx.Classified(m, c); err != nil {
					return err
				}
				for _, kind := range []string{"forward", "draft"} {
					o := &OutMessage{ID: int64(n), Message: m.ID, CaseRef: m.CaseRef, Kind: kind, MessageID: kind + m.CaseRef, Rcpts: to}
					if err := tx.Queued(o, "refund", "tmpl"); err != nil {
						return err
					}
					outs = append(outs, o)
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		for four := range slices.Chunk(outs, 4) {
			var fns []func(*Tx) error
			for _, o := range four {
				fns = append(fns, func(tx *Tx) error { return tx.Sent(o, "250 2.0.0 Ok: queued") })
			}
			if err := errors.Join(st.TxEach(ctx, fns)...); err != nil {
				b.Fatal(err)
			}
		}
		err = st.Tx(ctx, func(tx *Tx) error {
			for i, o := range outs {
				if i%2 == 1 {
					continue
				}
				if err := tx.Moved(o.CaseRef, o.Message, "Triagem/Processados", "MOVE"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/case")
	b.ReportMetric(float64(cpuNow()-cpu0)/float64(n), "cpu-ns/case")
}

// cpuNow is this process's CPU time so far, user and system, in nanoseconds: the cost of
// the writes without the waits for fsync.
func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}
