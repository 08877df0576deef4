// Package storetest generates large, realistic event logs for benchmarks.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/triagem/triagem/store"
)

var (
	once sync.Once
	path string
	err  error
)

// MillionDB returns the path of a database with about a million events. It is generated
// once (a minute or two) into the temp directory and reused by later runs, so benchmarks
// neither wait nor leave copies behind. Remove the folder to regenerate it.
func MillionDB(tb testing.TB) string {
	once.Do(func() {
		dir := filepath.Join(os.TempDir(), "triagem-million-v1")
		path = filepath.Join(dir, "triagem.db")
		done := filepath.Join(dir, "complete")
		if _, e := os.Stat(done); e == nil {
			return
		}
		os.RemoveAll(dir)
		if err = os.MkdirAll(dir, 0o700); err != nil {
			return
		}
		if err = GenerateEvents(path, 1_000_000); err == nil {
			err = os.WriteFile(done, nil, 0o600)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return path
}

// NIFHash is the NIF hash of generated person i.
func NIFHash(i int) string { return fmt.Sprintf("%032x", i) }

// CaseRef is the reference of generated case c.
func CaseRef(c int64) string { return fmt.Sprintf("TRG-%08X", c*2654435761%0xFFFFFFFF) }

var benchCategories = []string{"documents", "insurance", "tech", "refund", "invoice", "clinical", "other"}
var benchDest = map[string]string{"documents": "telemedicina@smpsaude.pt", "insurance": "medico.online@medis.pt", "tech": "medico.online@medis.pt",
	"refund": "medico.online@medis.pt", "invoice": "rute.joao.externo@ageas.pt", "clinical": "areaclinica@saude360.medis.pt"}

// GenerateEvents writes a chained log of about n events over a year to a new database.
func GenerateEvents(path string, n int) error {
	st, err := store.Open(path)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	var prev string
	seq := int64(0)
	tx, err := st.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO events (seq, at, type, case_ref, message, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	emit := func(at int64, typ, ref string, msg int64, data map[string]any) error {
		b, _ := json.Marshal(data)
		seq++
		h := store.ChainHash(prev, seq, at, typ, ref, msg, string(b))
		if _, err := ins.ExecContext(ctx, seq, at, typ, ref, msg, string(b), prev, h); err != nil {
			return err
		}
		prev = h
		return nil
	}
	for c := int64(1); seq < int64(n); c++ {
		at := start + c*200_000 + r.Int64N(100_000) // about 150,000 cases over a year
		ref := CaseRef(c)
		cat := benchCategories[r.IntN(len(benchCategories))]
		cust := fmt.Sprintf("cliente%d@example.pt", r.IntN(40_000))
		nif := NIFHash(r.IntN(40_000))
		if err := emit(at, store.EvReceived, ref, c, map[string]any{"inbox": "suporte", "uid": c, "size": 4000 + r.IntN(40_000), "from": cust, "message_id": ref + "@mail.example"}); err != nil {
			return err
		}
		if r.IntN(12) == 0 {
			if err := emit(at+5, store.EvIgnored, ref, c, map[string]any{"reason": "Auto-Submitted: auto-replied"}); err != nil {
				return err
			}
			continue
		}
		action, to := "forward", []string{benchDest[cat]}
		if cat == "other" || r.IntN(10) == 0 {
			action, to = "review", nil
		}
		if err := emit(at+10, store.EvClassified, ref, c, map[string]any{"category": cat, "action": action, "confidence": 0.97, "to": to,
			"nif_hash": nif, "reasons": []string{"procedure: …"}, "method": "model+rules"}); err != nil {
			return err
		}
		if action == "forward" {
			for i, kind := range []string{"forward", "draft"} {
				rc := to
				if kind == "draft" {
					rc = []string{"agentes@medicoonline.pt"}
				}
				if err := emit(at+20+int64(i), store.EvQueued, ref, c, map[string]any{"kind": kind, "to": rc, "message_id": kind + "." + ref}); err != nil {
					return err
				}
			}
			if err := emit(at+25, store.EvDrafted, ref, c, map[string]any{"draft": c, "kind": "ack", "template_hash": "9eba80686ac1acae"}); err != nil {
				return err
			}
			for _, kind := range []string{"forward", "draft"} {
				typ := store.EvSent
				if r.IntN(200) == 0 {
					typ = store.EvFailed
				}
				if err := emit(at+300, typ, ref, c, map[string]any{"kind": kind, "to": to, "reply": "250 2.0.0 Ok: queued"}); err != nil {
					return err
				}
			}
			if r.IntN(3) > 0 {
				if err := emit(at+3_600_000, store.EvApproved, ref, c, map[string]any{"draft": c, "by": fmt.Sprintf("agente%d@medicoonline.pt", r.IntN(8))}); err != nil {
					return err
				}
			}
		}
		if err := emit(at+400, store.EvMoved, ref, c, map[string]any{"folder": "Triagem/Processados", "how": "move"}); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	// The events went in as rows, past the store's methods that index each case.
	if err := st.RebuildCaseIndex(ctx); err != nil {
		return err
	}
	_, err = st.DB().ExecContext(ctx, `ANALYZE`)
	return err
}
