-- What auditors filter cases by, kept by triggers in the same transaction as the event that
-- tells it, so it can never disagree with the log. It is derived data: rebuilding it from
-- the events gives the same rows.
CREATE TABLE case_facts (
    case_ref  TEXT PRIMARY KEY,
    category  TEXT NOT NULL DEFAULT '',
    action    TEXT NOT NULL DEFAULT '',   -- forward | review | ignore | quarantine | duplicate
    nif_hash  TEXT NOT NULL DEFAULT '',
    failed    INTEGER NOT NULL DEFAULT 0, -- an outgoing message was parked
    first_at  INTEGER NOT NULL
);
CREATE INDEX case_facts_category ON case_facts (category, first_at);
CREATE INDEX case_facts_action ON case_facts (action, first_at);
CREATE INDEX case_facts_nif ON case_facts (nif_hash);
CREATE INDEX case_facts_failed ON case_facts (failed) WHERE failed = 1;

-- Every address a case involved: where it was routed and sent, and who wrote.
CREATE TABLE case_addresses (
    address  TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    first_at INTEGER NOT NULL,          -- when the case first involved the address
    PRIMARY KEY (address, case_ref)
) WITHOUT ROWID;
CREATE INDEX case_addresses_time ON case_addresses (address, first_at);

-- Agents who acted on a case (approved, edited, rejected, or were refused).
CREATE TABLE case_agents (
    agent    TEXT NOT NULL,
    case_ref TEXT NOT NULL,
    first_at INTEGER NOT NULL,
    PRIMARY KEY (agent, case_ref)
) WITHOUT ROWID;
CREATE INDEX case_agents_time ON case_agents (agent, first_at);

CREATE INDEX events_case_seq ON events (case_ref, seq);
CREATE INDEX events_at ON events (at);

CREATE TRIGGER case_facts_received AFTER INSERT ON events WHEN NEW.type = 'received' AND NEW.case_ref != ''
BEGIN
    INSERT OR IGNORE INTO case_facts (case_ref, first_at) VALUES (NEW.case_ref, NEW.at);
END;

CREATE TRIGGER case_facts_classified AFTER INSERT ON events WHEN NEW.type = 'classified'
BEGIN
    INSERT OR IGNORE INTO case_facts (case_ref, first_at) VALUES (NEW.case_ref, NEW.at);
    UPDATE case_facts SET category = coalesce(json_extract(NEW.data, '$.category'), ''),
        action = coalesce(json_extract(NEW.data, '$.action'), ''),
        nif_hash = coalesce(json_extract(NEW.data, '$.nif_hash'), '')
        WHERE case_ref = NEW.case_ref;
    INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at)
        SELECT lower(value), NEW.case_ref, NEW.at FROM json_each(NEW.data, '$.to');
END;

CREATE TRIGGER case_facts_screened AFTER INSERT ON events WHEN NEW.type IN ('ignored', 'quarantined', 'duplicate')
BEGIN
    INSERT OR IGNORE INTO case_facts (case_ref, first_at) VALUES (NEW.case_ref, NEW.at);
    UPDATE case_facts SET action = CASE NEW.type WHEN 'ignored' THEN 'ignore' WHEN 'quarantined' THEN 'quarantine' ELSE 'duplicate' END
        WHERE case_ref = NEW.case_ref;
END;

CREATE TRIGGER case_facts_failed AFTER INSERT ON events WHEN NEW.type = 'failed'
BEGIN
    UPDATE case_facts SET failed = 1 WHERE case_ref = NEW.case_ref;
END;

CREATE TRIGGER case_addresses_sent AFTER INSERT ON events WHEN NEW.type IN ('queued', 'sent')
BEGIN
    INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at)
        SELECT lower(value), NEW.case_ref, NEW.at FROM json_each(NEW.data, '$.to');
END;

CREATE TRIGGER case_addresses_from AFTER INSERT ON events WHEN NEW.type = 'received' AND json_extract(NEW.data, '$.from') != ''
BEGIN
    INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at) VALUES (lower(json_extract(NEW.data, '$.from')), NEW.case_ref, NEW.at);
END;

CREATE TRIGGER case_agents_acted AFTER INSERT ON events WHEN NEW.type IN ('approved', 'edited', 'rejected')
BEGIN
    INSERT OR IGNORE INTO case_agents (agent, case_ref, first_at) VALUES (lower(json_extract(NEW.data, '$.by')), NEW.case_ref, NEW.at);
END;

CREATE TRIGGER case_agents_refused AFTER INSERT ON events WHEN NEW.type IN ('refused', 'replay')
BEGIN
    INSERT OR IGNORE INTO case_agents (agent, case_ref, first_at) VALUES (lower(json_extract(NEW.data, '$.from')), NEW.case_ref, NEW.at);
END;

-- Backfill from the events already written.
INSERT OR IGNORE INTO case_facts (case_ref, first_at) SELECT case_ref, min(at) FROM events WHERE case_ref != '' AND type IN ('received', 'classified', 'ignored', 'quarantined', 'duplicate') GROUP BY case_ref;
UPDATE case_facts SET
    category = coalesce((SELECT json_extract(data, '$.category') FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'classified' ORDER BY seq DESC LIMIT 1), ''),
    nif_hash = coalesce((SELECT json_extract(data, '$.nif_hash') FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'classified' ORDER BY seq DESC LIMIT 1), ''),
    action = coalesce((SELECT CASE e.type WHEN 'classified' THEN json_extract(data, '$.action') WHEN 'ignored' THEN 'ignore' WHEN 'quarantined' THEN 'quarantine' ELSE 'duplicate' END
        FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type IN ('classified', 'ignored', 'quarantined', 'duplicate') ORDER BY seq DESC LIMIT 1), ''),
    failed = EXISTS (SELECT 1 FROM events e WHERE e.case_ref = case_facts.case_ref AND e.type = 'failed');
INSERT OR IGNORE INTO case_addresses (address, case_ref, first_at)
    SELECT lower(j.value), e.case_ref, min(e.at) FROM events e, json_each(e.data, '$.to') j WHERE e.type IN ('classified', 'queued', 'sent') GROUP BY 1, 2;
INSERT OR IGNORE INTO case_agents (agent, case_ref, first_at)
    SELECT lower(json_extract(data, '$.by')), case_ref, min(at) FROM events WHERE type IN ('approved', 'edited', 'rejected') GROUP BY 1, 2;
