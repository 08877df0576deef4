package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func open(t *testing.T) *Store {
	t.Helper()
	st, err := Open(filepath.Join(t.TempDir(), "triagem.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// aCase writes the events of one routed case at time at.
func aCase(t *testing.T, st *Store, ref, category, action string, to []string, at time.Time, agent string) {
	t.Helper()
	st.Now = func() time.Time { return at }
	err := st.Tx(context.Background(), func(tx *Tx) error {
		m := &Message{ID: at.UnixMilli(), CaseRef: ref}
		if err := tx.Received(m, "cliente-"+ref+"@example.pt"); err != nil {
			return err
		}
		if err := tx.Classified(m, Classification{Category: category, Action: action, To: to, NIFHash: "nif-" + ref}); err != nil {
			return err
		}
		if action == "forward" { // its draft mail to the agents: an address only the outbox names
			o := &OutMessage{Message: m.ID, CaseRef: ref, Kind: "draft", MessageID: "draft." + ref, Rcpts: []string{"Agentes-" + ref + "@team.pt"}}
			if err := tx.Queued(o, category, ""); err != nil {
				return err
			}
			if err := tx.Sent(o, "250 2.0.0 Ok"); err != nil {
				return err
			}
		}
		if agent != "" {
			if err := tx.Resolved(EvApproved, &Draft{ID: 1, CaseRef: ref, Message: m.ID}, 0, agent, "", "", ""); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func refs(evs []Event) map[string]int {
	out := map[string]int{}
	for _, e := range evs {
		out[e.CaseRef]++
	}
	return out
}

func TestCaseFilters(t *testing.T) {
	st := open(t)
	march := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
	aCase(t, st, "TRG-A", "refund", "forward", []string{"medico.online@medis.pt"}, march, "ana@team.pt")
	aCase(t, st, "TRG-B", "refund", "review", nil, march.AddDate(0, 1, 0), "")
	aCase(t, st, "TRG-C", "clinical", "forward", []string{"areaclinica@saude360.medis.pt"}, march.Add(time.Hour), "rui@team.pt")
	aCase(t, st, "TRG-D", "invoice", "forward", []string{"rute@ageas.pt", "clinicadigital@saude360.medis.pt"}, march.Add(2*time.Hour), "ana@team.pt")
	ctx := context.Background()
	check := func(name string, f Filter, want ...string) {
		t.Helper()
		evs, err := st.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		got := refs(evs)
		if len(got) != len(want) {
			t.Errorf("%s: cases %v, want %v", name, got, want)
		}
		for _, w := range want {
			if got[w] == 0 {
				t.Errorf("%s: case %s missing from %v", name, w, got)
			}
		}
	}
	check("category", Filter{Category: "refund"}, "TRG-A", "TRG-B")
	check("category in March", Filter{Category: "refund", Since: march.AddDate(0, 0, -9), Until: march.AddDate(0, 0, 21)}, "TRG-A")
	check("action", Filter{Action: "forward"}, "TRG-A", "TRG-C", "TRG-D")
	check("destination (a CC too)", Filter{Address: "ClinicaDigital@saude360.medis.pt"}, "TRG-D")
	check("customer address", Filter{Address: "cliente-TRG-B@example.pt"}, "TRG-B")
	check("a draft mail's recipient", Filter{Address: "agentes-trg-c@team.pt"}, "TRG-C")
	check("agent", Filter{Agent: "ana@team.pt"}, "TRG-A", "TRG-D")
	check("agent and category", Filter{Agent: "ana@team.pt", Category: "invoice"}, "TRG-D")
	check("NIF", Filter{NIFHash: "nif-TRG-C"}, "TRG-C")
	check("nothing", Filter{Category: "tech"})
	if evs, _ := st.Events(ctx, Filter{Category: "refund", Type: EvClassified}); len(evs) != 2 {
		t.Errorf("type within a category: %d events", len(evs))
	}
	if evs, _ := st.Events(ctx, Filter{Limit: 2}); len(evs) != 2 || evs[0].Seq > evs[1].Seq {
		t.Errorf("limit 2: %+v", evs)
	}

	s, err := st.Stats(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Cases != 4 || s.ByCategory["refund"] != 2 || s.ByDestination["clinicadigital@saude360.medis.pt"] != 1 || s.ReviewRate != 0.25 {
		t.Errorf("stats %+v", s)
	}
}

func TestPurgeKeepsWhatIsStillNeeded(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	old := time.Now().Add(-60 * 24 * time.Hour)
	st.Now = func() time.Time { return old }
	var done, pending Message
	err := st.Tx(ctx, func(tx *Tx) error {
		done = Message{Inbox: "in", Mailbox: "INBOX", UIDValidity: 1, UID: 1, Blob: "aa", CaseKey: "k1", CaseRef: "TRG-1", ReceivedAt: old.UnixMilli(), State: StateDone}
		pending = Message{Inbox: "in", Mailbox: "INBOX", UIDValidity: 1, UID: 2, Blob: "bb", CaseKey: "k2", CaseRef: "TRG-2", ReceivedAt: old.UnixMilli(), State: StateDecided}
		for _, m := range []*Message{&done, &pending} {
			if _, err := tx.InsertMessage(m); err != nil {
				return err
			}
		}
		_, err := tx.exec(`UPDATE messages SET state = 'done' WHERE id = ?`, done.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	st.Now = time.Now
	r, err := st.Purge(ctx, time.Now().Add(-30*24*time.Hour), false)
	if err != nil {
		t.Fatal(err)
	}
	if r.Messages != 1 || len(r.Blobs) != 1 || r.Blobs[0] != "aa" {
		t.Errorf("purge %+v: only the finished mail's blob goes", r)
	}
	evs, _ := st.Events(ctx, Filter{Type: EvAudit})
	if len(evs) != 1 || evs[0].Fields()["action"] != "purge" {
		t.Errorf("purge events %+v", evs)
	}
}

// Due reads one page of the pending outbox, not every pending row sorted again for each
// page: in a backlog of 9,000 messages that was 140 full scans.
func TestDuePagesByIndex(t *testing.T) {
	p := plan(t, open(t), `SELECT id FROM outbox WHERE `+dueWhere, OutPending, 0, 0, 64)
	if !strings.Contains(p, "outbox_state_id") || strings.Contains(p, "TEMP B-TREE") {
		t.Fatalf("Due's plan: %s", p)
	}
}

// A message moves once none of its mail is pending: to its folder, or to review when a send
// was parked. The movable ones come from their own index, not from a scan of every decided
// message with a look into the outbox for each.
func TestReadyToMoveFollowsTheOutbox(t *testing.T) {
	st := open(t)
	ctx := context.Background()
	if p := plan(t, st, `SELECT m.id FROM messages m WHERE `+movableWhere+` ORDER BY m.id`, "in", "INBOX"); !strings.Contains(p, "messages_movable") || strings.Contains(p, "TEMP B-TREE") {
		t.Fatalf("ReadyToMove's plan: %s", p)
	}
	var two, none Message
	var outs []*OutMessage
	err := st.Tx(ctx, func(tx *Tx) error {
		for i, m := range []*Message{&two, &none} {
			*m = Message{Inbox: "in", Mailbox: "INBOX", UIDValidity: 1, UID: uint32(i + 1), Blob: "b", CaseKey: fmt.Sprint("k", i), CaseRef: fmt.Sprint("TRG-", i), State: StateReceived}
			if _, err := tx.InsertMessage(m); err != nil {
				return err
			}
			if err := tx.Decide(m.ID, "forward", "Triagem/Processados", ""); err != nil {
				return err
			}
		}
		for _, kind := range []string{"forward", "draft"} {
			o := &OutMessage{Message: two.ID, CaseRef: two.CaseRef, Kind: kind, MessageID: kind + "@x", Rcpts: []string{"a@b.c"}, State: OutPending}
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
	ready := func(step string, want ...string) {
		t.Helper()
		items, err := st.ReadyToMove(ctx, "in", "INBOX", "Triagem/Rever")
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, it := range items {
			got = append(got, it.CaseRef+" to "+it.Folder)
		}
		if strings.Join(got, ", ") != strings.Join(want, ", ") {
			t.Errorf("%s: ready %v, want %v", step, got, want)
		}
	}
	ready("two pending", "TRG-1 to Triagem/Processados")
	if err := st.Tx(ctx, func(tx *Tx) error { return tx.MarkSent(outs[0].ID, "250 ok") }); err != nil {
		t.Fatal(err)
	}
	ready("one still pending", "TRG-1 to Triagem/Processados")
	if err := st.Tx(ctx, func(tx *Tx) error { return tx.MarkParked(outs[1].ID, "550 no") }); err != nil {
		t.Fatal(err)
	}
	ready("none pending", "TRG-0 to Triagem/Rever", "TRG-1 to Triagem/Processados")
}

// plan is SQLite's query plan for query, its steps joined.
func plan(t *testing.T, st *Store, query string, args ...any) string {
	t.Helper()
	rows, err := st.DB().Query(`EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var steps []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		steps = append(steps, detail)
	}
	return strings.Join(steps, "; ")
}
