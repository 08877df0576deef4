-- The case index is now written by the store with each event (store/caseindex.go), with
-- the values it already has, instead of by triggers that parsed the event's JSON again and
-- whose conditions ran for every event (docs/PERFORMANCE.md, lesson 27). The tables and
-- their rows stay as they are.
DROP TRIGGER IF EXISTS case_facts_received;
DROP TRIGGER IF EXISTS case_facts_classified;
DROP TRIGGER IF EXISTS case_facts_screened;
DROP TRIGGER IF EXISTS case_facts_failed;
DROP TRIGGER IF EXISTS case_addresses_sent;
DROP TRIGGER IF EXISTS case_addresses_queued;
DROP TRIGGER IF EXISTS case_addresses_from;
DROP TRIGGER IF EXISTS case_agents_acted;
DROP TRIGGER IF EXISTS case_agents_refused;
