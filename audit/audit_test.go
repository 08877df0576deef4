package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/triagem/triagem/store"
	"github.com/triagem/triagem/store/storetest"
)

// chain makes a database with n events and returns it open.
func chain(t *testing.T, n int) *store.Store {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "triagem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for i := 0; i < n; i++ {
		if err := st.Tx(context.Background(), func(tx *store.Tx) error { return tx.Alert("test", fmt.Sprintf("event %d", i)) }); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// tamper runs raw SQL as someone with the file would: the triggers are dropped first.
func tamper(t *testing.T, st *store.Store, q ...string) {
	t.Helper()
	for _, s := range append([]string{"DROP TRIGGER IF EXISTS events_no_update", "DROP TRIGGER IF EXISTS events_no_delete"}, q...) {
		if _, err := st.DB().Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

func verify(t *testing.T, st *store.Store, cp *Checkpoint) Result {
	t.Helper()
	r, err := Verify(context.Background(), st, cp)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAnIntactChainVerifies(t *testing.T) {
	st := chain(t, 20)
	if r := verify(t, st, nil); !r.OK() || r.Events != 20 || r.Head != 20 {
		t.Fatalf("result %+v", r)
	}
	// The triggers refuse changes made through SQL without dropping them.
	if _, err := st.DB().Exec(`UPDATE events SET data = '{}' WHERE seq = 3`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Errorf("UPDATE: %v", err)
	}
	if _, err := st.DB().Exec(`DELETE FROM events WHERE seq = 3`); err == nil {
		t.Error("DELETE was allowed")
	}
}

func TestTamperingIsNamed(t *testing.T) {
	cases := []struct {
		name string
		sql  []string
		seq  int64
	}{
		{"a changed row", []string{`UPDATE events SET data = '{"detail":"nothing happened"}' WHERE seq = 7`}, 7},
		{"a changed time", []string{`UPDATE events SET at = at + 1 WHERE seq = 12`}, 12},
		{"a deleted row", []string{`DELETE FROM events WHERE seq = 9`}, 10},
		{"a deleted row, renumbered", []string{`DELETE FROM events WHERE seq = 9`, `UPDATE events SET seq = seq - 1 WHERE seq > 9`}, 9},
		{"reordered rows", []string{
			`UPDATE events SET seq = -1 WHERE seq = 5`, `UPDATE events SET seq = 5 WHERE seq = 6`, `UPDATE events SET seq = 6 WHERE seq = -1`}, 5},
		{"a re-hashed row", []string{`UPDATE events SET data = '{}', hash = 'x' WHERE seq = 15`}, 15},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := chain(t, 20)
			tamper(t, st, c.sql...)
			r := verify(t, st, nil)
			if r.OK() || r.Problem.Seq != c.seq {
				t.Errorf("problem %+v, want row %d", r.Problem, c.seq)
			}
		})
	}
}

func TestATruncatedTailIsCaughtByTheCheckpoint(t *testing.T) {
	st := chain(t, 20)
	_, key, _ := ed25519.GenerateKey(nil)
	cp := Sign(key, verify(t, st, nil), time.Now())
	path := filepath.Join(t.TempDir(), "cp.json")
	writeJSON(t, path, cp)
	got, err := ReadCheckpoint(path, key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if r := verify(t, st, got); !r.OK() || r.Checkpoint == "" {
		t.Fatalf("against its own checkpoint: %+v", r)
	}
	tamper(t, st, `DELETE FROM events WHERE seq > 17`)
	if r := verify(t, st, nil); !r.OK() {
		t.Fatalf("without a checkpoint a clean cut is invisible, and that is what checkpoints are for: %+v", r)
	}
	r := verify(t, st, got)
	if r.OK() || r.Problem.Seq != 18 || !strings.Contains(r.Problem.Reason, "truncated") {
		t.Errorf("truncated tail: %+v", r.Problem)
	}

	// A checkpoint signed by another key, or altered, is refused.
	_, other, _ := ed25519.GenerateKey(nil)
	if _, err := ReadCheckpoint(path, other.Public().(ed25519.PublicKey)); err == nil {
		t.Error("a checkpoint of another key was accepted")
	}
	cp.Seq = 3
	writeJSON(t, path, cp)
	if _, err := ReadCheckpoint(path, key.Public().(ed25519.PublicKey)); err == nil {
		t.Error("an altered checkpoint was accepted")
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadKey("", "", filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	k2, err := LoadKey("", "", filepath.Join(dir, "audit.key"))
	if err != nil || !k1.Equal(k2) {
		t.Fatalf("the created key is not reused: %v", err)
	}
	if _, err := LoadKey("", filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("a configured key file that is missing was accepted")
	}
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// The auditors' target: `audit verify` over a million events in under 10 s. Run with
//
//	go test -run XXX -bench Million -benchtime 1x ./audit
func BenchmarkMillionVerify(b *testing.B) {
	st, err := store.Open(storetest.MillionDB(b))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	for b.Loop() {
		r, err := Verify(context.Background(), st, nil)
		if err != nil || !r.OK() {
			b.Fatalf("%+v %v", r, err)
		}
		b.ReportMetric(float64(r.Events), "events")
	}
}
