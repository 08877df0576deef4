package store

import (
	"context"
	"fmt"
)

// The case index (case_facts, case_addresses, case_agents) is what auditors filter cases
// by. It is derived from the log and written with each event, in the event's transaction,
// so it can never disagree with it: RebuildCaseIndex recomputes it from the events alone
// and gives the same rows. Until migration 008 triggers on events kept it; they parsed
// each event's JSON again, and every trigger's condition ran for every event, about a
// third of the log's CPU (docs/PERFORMANCE.md, lesson 27).

// indexCase adds what an event of type typ, just appended, tells the case index.
func (t *Tx) indexCase(typ, caseRef string, at int64, data map[string]any) error {
	var err error
	switch typ {
	case EvReceived:
		if caseRef != "" {
			_, err = t.exec(`INSERT OR IGNORE INTO case_facts (case_ref, first_at) VALUES (?, ?)`, caseRef, at)
		}
		if from, ok := data["from"].(string); ok && from != "" && err == nil {
			err = t.indexAddress(from, caseRef, at)
		}
	case EvClassified:
		_, err = t.exec(`INSERT INTO case_facts (case_ref, first_at, category, action, nif_hash) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (case_ref) DO UPDATE SET category = excluded.category, action = excluded.action, nif_hash = excluded.nif_hash`,
			caseRef, at, textField(data, "category"), textField(data, "action"), textField(data, "nif_hash"))
		if err == nil {
			err = t.indexAddresses(data["to"], caseRef, at)
		}
	case EvIgnored, EvQuarantined, EvDuplicate:
		_, err = t.exec(`INSERT INTO case_facts (case_ref, first_at, action) VALUES (?, ?, ?)
			ON CONFLICT (case_ref) DO UPDATE SET action = excluded.action`, caseRef, at, screenedAction[typ])
	case EvFailed:
		_, err = t.exec(`UPDATE case_facts SET failed = 1 WHERE case_ref = ?`, caseRef)
	case EvQueued:
		err = t.indexAddresses(data["to"], caseRef, at)
	case EvApproved, EvEdited, EvRejected:
		err = t.indexAgent(data["by"], caseRef, at)
	case EvRefused, EvReplay:
		err = t.indexAgent(data["from"], caseRef, at)
	}
	if err != nil {
		return fmt.Errorf("index case %s: %w", caseRef, err)
	}
	return nil
}

// screenedAction is the action a screening event records for its case.
var screenedAction = map[string]string{EvIgnored: "ignore", EvQuarantined: "quarantine", EvDuplicate: "duplicate"}

// textField is a string field of an event's data, or "" when it has none.
func textField(data map[string]any, key string) string {
	s, _ := data[key].(string)
	return s
}

func (t *Tx) indexAddresses(to any, caseRef string, at int64) error {
	var list []string
	switch to := to.(type) {
	case []string:
		list = to
	case []any:
		for _, a := range to {
			if s, ok := a.(string); ok {
				list = append(list, s)
			}
		}
	case string:
		list = []string{to}
	}
	for _, a := range list {
		if err := t.indexAddress(a, caseRef, at); err != nil {
			return err
		}
	}
	return nil
}

// indexAddress records that caseRef involved address. A transaction remembers the pairs
// it has written: a forward's queued event names again the department its classification
// named.
func (t *Tx) indexAddress(address, caseRef string, at int64) error {
	key := [2]string{asciiLower(address), caseRef}
	if t.indexed[key] {
		return nil
	}
	if _, err := t.exec(`INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at) VALUES (?, ?, ?)`, key[0], caseRef, at); err != nil {
		return err
	}
	if t.indexed == nil {
		t.indexed = map[[2]string]bool{}
	}
	t.indexed[key] = true
	return nil
}

func (t *Tx) indexAgent(agent any, caseRef string, at int64) error {
	s, ok := agent.(string)
	if !ok {
		return nil
	}
	_, err := t.exec(`INSERT OR IGNORE INTO case_agents (agent, case_ref, first_at) VALUES (?, ?, ?)`, asciiLower(s), caseRef, at)
	return err
}

// asciiLower lowers ASCII letters only, as SQLite's lower() does: the index's addresses
// are compared with lower() in the auditors' queries.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// caseIndexSQL recomputes the case index from the events alone.
const caseIndexSQL = `
DELETE FROM case_facts;
DELETE FROM case_addresses;
DELETE FROM case_agents;
INSERT INTO case_facts (case_ref, first_at) SELECT case_ref, at FROM (SELECT case_ref, at, min(seq) FROM events
    WHERE (case_ref != '' AND type = 'received') OR type IN ('classified', 'ignored', 'quarantined', 'duplicate') GROUP BY case_ref);
UPDATE case_facts SET
    category = coalesce((SELECT json_extract(data, '$.category') FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'classified' ORDER BY seq DESC LIMIT 1), ''),
    nif_hash = coalesce((SELECT json_extract(data, '$.nif_hash') FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'classified' ORDER BY seq DESC LIMIT 1), ''),
    action = coalesce((SELECT CASE e.type WHEN 'classified' THEN coalesce(json_extract(data, '$.action'), '') WHEN 'ignored' THEN 'ignore' WHEN 'quarantined' THEN 'quarantine' ELSE 'duplicate' END
        FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type IN ('classified', 'ignored', 'quarantined', 'duplicate') ORDER BY seq DESC LIMIT 1), ''),
    failed = EXISTS (SELECT 1 FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'failed'
        AND e.seq > (SELECT min(f.seq) FROM events f WHERE f.case_ref = case_facts.case_ref
            AND ((f.case_ref != '' AND f.type = 'received') OR f.type IN ('classified', 'ignored', 'quarantined', 'duplicate'))));
INSERT INTO case_addresses (address, case_ref, first_at)
    SELECT address, case_ref, at FROM (SELECT address, case_ref, at, min(seq) FROM (
        SELECT lower(j.value) AS address, e.case_ref, e.at, e.seq FROM events e, json_each(e.data, '$.to') j WHERE e.type IN ('classified', 'queued')
        UNION ALL
        SELECT lower(json_extract(data, '$.from')), case_ref, at, seq FROM events WHERE type = 'received' AND json_extract(data, '$.from') != '')
    WHERE address IS NOT NULL GROUP BY 1, 2);
INSERT INTO case_agents (agent, case_ref, first_at)
    SELECT agent, case_ref, at FROM (SELECT agent, case_ref, at, min(seq) FROM (
        SELECT lower(json_extract(data, '$.by')) AS agent, case_ref, at, seq FROM events WHERE type IN ('approved', 'edited', 'rejected')
        UNION ALL
        SELECT lower(json_extract(data, '$.from')), case_ref, at, seq FROM events WHERE type IN ('refused', 'replay'))
    WHERE agent IS NOT NULL GROUP BY 1, 2);
`

// RebuildCaseIndex recomputes the case index from the events, in one transaction: for a
// log written by other means (the benchmarks' generator), and to check that the index
// kept with the events is the one they give.
func (s *Store) RebuildCaseIndex(ctx context.Context) error {
	return s.Tx(ctx, func(tx *Tx) error {
		if _, err := tx.tx.ExecContext(tx.ctx, caseIndexSQL); err != nil {
			return fmt.Errorf("rebuild the case index: %w", err)
		}
		return nil
	})
}
