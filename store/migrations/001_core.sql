-- Core tables: intake checkpoints, received messages, decisions, the outbox and the event log.

CREATE TABLE checkpoints (
    inbox       TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    last_uid    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (inbox, mailbox)
);

-- One row per message seen in a watched mailbox. state: received -> decided -> done.
CREATE TABLE messages (
    id          INTEGER PRIMARY KEY,
    inbox       TEXT NOT NULL,
    mailbox     TEXT NOT NULL,
    uidvalidity INTEGER NOT NULL,
    uid         INTEGER NOT NULL,
    blob        TEXT NOT NULL,          -- SHA-256 of the raw bytes in the spool ('' when not fetched)
    size        INTEGER NOT NULL,
    message_id  TEXT NOT NULL,          -- header Message-ID without <>, '' when absent
    case_key    TEXT NOT NULL,          -- what makes two copies the same case
    case_ref    TEXT NOT NULL,          -- the reference shown to people: TRG-XXXXXXXX
    received_at INTEGER NOT NULL,       -- unix milliseconds
    state       TEXT NOT NULL,
    outcome     TEXT NOT NULL DEFAULT '',  -- forward | review | ignore | quarantine | duplicate
    folder      TEXT NOT NULL DEFAULT '',  -- where the original is to be moved
    reason      TEXT NOT NULL DEFAULT '',
    UNIQUE (inbox, mailbox, uidvalidity, uid)
);
CREATE INDEX messages_state ON messages (state);
CREATE INDEX messages_case_key ON messages (case_key);
CREATE INDEX messages_case_ref ON messages (case_ref);

-- The decision taken on a message; exactly one per message.
CREATE TABLE decisions (
    message     INTEGER PRIMARY KEY REFERENCES messages (id),
    category    TEXT NOT NULL,
    confidence  REAL NOT NULL,
    action      TEXT NOT NULL,
    customer    TEXT NOT NULL,          -- the customer's address (replies go only there)
    nif_hash    TEXT NOT NULL,          -- keyed hash, '' when no valid NIF
    identified  INTEGER NOT NULL,
    disclaimer  INTEGER NOT NULL,
    trace       TEXT NOT NULL,          -- JSON: what fired, with what score
    decided_at  INTEGER NOT NULL
);
CREATE INDEX decisions_category ON decisions (category);
CREATE INDEX decisions_nif ON decisions (nif_hash);

-- Every outgoing message, written in the same transaction as the decision that made it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message         INTEGER NOT NULL REFERENCES messages (id),
    case_ref        TEXT NOT NULL,
    kind            TEXT NOT NULL,       -- forward | draft | escalation
    message_id      TEXT NOT NULL UNIQUE,
    env_from        TEXT NOT NULL,
    rcpts           TEXT NOT NULL,       -- JSON array of envelope recipients
    blob            TEXT NOT NULL,       -- SHA-256 of the serialized message in the spool
    state           TEXT NOT NULL,       -- pending | sent | parked
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_reply      TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_message ON outbox (message);

-- The event log: append-only and hash-chained (hash = SHA-256(prev_hash || canonical row)).
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    type       TEXT NOT NULL,
    case_ref   TEXT NOT NULL,
    message    INTEGER NOT NULL,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX events_case ON events (case_ref);
CREATE INDEX events_type_at ON events (type, at);

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
