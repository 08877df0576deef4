package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// caseIndexRows is the whole case index, sorted.
func caseIndexRows(t *testing.T, st *Store) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for table, q := range map[string]string{
		"case_facts":     `SELECT case_ref, category, action, nif_hash, failed, first_at FROM case_facts ORDER BY 1`,
		"case_addresses": `SELECT address, case_ref, first_at, '', '', '' FROM case_addresses ORDER BY 1, 2`,
		"case_agents":    `SELECT agent, case_ref, first_at, '', '', '' FROM case_agents ORDER BY 1, 2`,
	} {
		rows, err := st.DB().Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b, c, d, e, f any
			if err := rows.Scan(&a, &b, &c, &d, &e, &f); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprint(a, "|", b, "|", c, "|", d, "|", e, "|", f))
		}
		rows.Close()
	}
	return out
}

// The index written with each event is the one the events give when it is rebuilt from
// them alone: every kind of event, mixed-case addresses, cases decided twice, screened
// after a classification, failures, refusals, and a savepoint that rolls some back.
func TestCaseIndexIsWhatTheEventsSay(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "triagem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(8, 9))
	addr := func() string {
		return []string{"Ana@Example.PT", "ana@example.pt", "medico.online@medis.pt", "Telemedicina@SMPSaude.pt", "ÁLVARO@exemplo.pt", ""}[r.IntN(6)]
	}
	refs := []string{"TRG-AAAA1111", "TRG-BBBB2222", "TRG-CCCC3333", "TRG-DDDD4444", ""}
	event := func(tx *Tx, n int) error {
		ref := refs[r.IntN(len(refs))]
		m := &Message{ID: int64(n), CaseRef: ref, MessageID: fmt.Sprint(n, "@x")}
		o := &OutMessage{ID: int64(n), Message: m.ID, CaseRef: ref, Kind: "forward", MessageID: fmt.Sprint("f", n), Rcpts: []string{addr(), addr()}}
		d := &Draft{ID: int64(n), Message: m.ID, CaseRef: ref, Kind: "ack"}
		switch r.IntN(14) {
		case 0:
			return tx.Received(m, addr())
		case 1:
			c := Classification{Category: []string{"refund", "tech", "other"}[r.IntN(3)], Action: []string{"forward", "review"}[r.IntN(2)], NIFHash: []string{"", "h1", "h2"}[r.IntN(3)]}
			if r.IntN(2) == 0 {
				c.To = []string{addr()}
			}
			return tx.Classified(m, c)
		case 2:
			return tx.Ignored(m, "auto-reply")
		case 3:
			return tx.Quarantined(m, "too many parts")
		case 4:
			return tx.Duplicate(m, "TRG-AAAA1111")
		case 5:
			return tx.Queued(o, "refund", "")
		case 6:
			return tx.Sent(o, "250 ok")
		case 7:
			return tx.Failed(o, "550 no")
		case 8:
			return tx.Resolved([]string{EvApproved, EvEdited, EvRejected}[r.IntN(3)], d, m.ID, addr(), "", "", "")
		case 9:
			return tx.Refused(ref, m.ID, addr(), 0, "not an agent")
		case 10:
			return tx.Replayed(ref, m.ID, addr(), 1)
		case 11:
			return tx.Moved(ref, m.ID, "Triagem/Processados", "MOVE")
		case 12:
			return tx.Drafted(d, []string{addr()})
		}
		return tx.Alert("test", "x")
	}
	n := 0
	for range 40 {
		err := st.Tx(ctx, func(tx *Tx) error {
			for range 1 + r.IntN(10) {
				n++
				tx.Now = time.UnixMilli(int64(1_700_000_000_000 + n*1000 - r.IntN(3000))) // a clock that may step back
				if err := event(tx, n); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A group in which one result fails: its events, and their index rows, roll back.
	boom := errors.New("boom")
	var fns []func(*Tx) error
	for i := range 6 {
		fns = append(fns, func(tx *Tx) error {
			n++
			if err := event(tx, n); err != nil {
				return err
			}
			if i >= 2 { // the failing one is the first to name this address for this case
				o := &OutMessage{ID: int64(n), Message: int64(n), CaseRef: "TRG-EEEE5555", Kind: "forward", MessageID: fmt.Sprint("g", n), Rcpts: []string{"rolled@back.pt"}}
				if err := tx.Queued(o, "tech", ""); err != nil {
					return err
				}
			}
			if i == 2 {
				return boom
			}
			return nil
		})
	}
	st.TxEach(ctx, fns)

	live := caseIndexRows(t, st)
	if old := indexByOldTriggers(t, st); !reflect.DeepEqual(live, old) {
		for table := range live {
			if !reflect.DeepEqual(live[table], old[table]) {
				t.Errorf("%s kept with the events:\n%v\nas the triggers before migration 008 kept it:\n%v", table, live[table], old[table])
			}
		}
	}
	if len(live["case_facts"]) < 4 || len(live["case_addresses"]) < 4 || len(live["case_agents"]) < 2 {
		t.Fatalf("the scenario left a thin index, which would prove little: %v", live)
	}
	if err := st.RebuildCaseIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if rebuilt := caseIndexRows(t, st); !reflect.DeepEqual(live, rebuilt) {
		for table := range live {
			if !reflect.DeepEqual(live[table], rebuilt[table]) {
				t.Errorf("%s kept with the events:\n%v\nrebuilt from them:\n%v", table, live[table], rebuilt[table])
			}
		}
	}
}

func TestASCIILowerIsSQLites(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "triagem.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, s := range []string{"", "ana@x.pt", "Ana@Example.PT", "ÁLVARO@Exemplo.PT", "ÇÃO", "İ"} {
		var want string
		if err := st.DB().QueryRow(`SELECT lower(?)`, s).Scan(&want); err != nil {
			t.Fatal(err)
		}
		if got := asciiLower(s); got != want {
			t.Errorf("asciiLower(%q) = %q, SQLite's lower() %q", s, got, want)
		}
	}
}

// indexByOldTriggers copies st's events into a new store that has the triggers which kept
// the case index until migration 008, and returns the index they make.
func indexByOldTriggers(t *testing.T, st *Store) map[string][]string {
	t.Helper()
	old, err := Open(filepath.Join(t.TempDir(), "old.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	var triggers []string
	for _, name := range []string{"migrations/003_case_index.sql", "migrations/007_addresses_from_queued.sql"} {
		b, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range regexp.MustCompile(`(?s)CREATE TRIGGER (\w+).*?\nEND;`).FindAllStringSubmatch(string(b), -1) {
			if m[1] != "case_addresses_sent" { // replaced by case_addresses_queued in 007
				triggers = append(triggers, m[0])
			}
		}
	}
	if len(triggers) != 8 {
		t.Fatalf("found %d of the 8 old triggers in the migrations", len(triggers))
	}
	if _, err := old.DB().Exec(strings.Join(triggers, "\n")); err != nil {
		t.Fatal(err)
	}
	var evs []Event
	if err := st.EachEvent(context.Background(), func(e Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if _, err := old.DB().Exec(`INSERT INTO events (seq, at, type, case_ref, message, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			e.Seq, e.At, e.Type, e.CaseRef, e.Message, e.Data, e.PrevHash, e.Hash); err != nil {
			t.Fatal(err)
		}
	}
	return caseIndexRows(t, old)
}
