-- Customer-facing texts waiting for an agent, and the single-use tokens that approve them.
CREATE TABLE drafts (
    id           INTEGER PRIMARY KEY,
    message      INTEGER NOT NULL REFERENCES messages (id),  -- the mail that made the draft
    case_ref     TEXT NOT NULL,
    kind         TEXT NOT NULL,      -- ack | identify | answer
    category     TEXT NOT NULL,
    customer     TEXT NOT NULL,      -- the only address the answer may go to
    subject      TEXT NOT NULL,      -- "Re: " + the customer's subject
    in_reply_to  TEXT NOT NULL,      -- the customer's Message-ID ('' when it had none)
    refs         TEXT NOT NULL,      -- References for the answer, space-separated
    language     TEXT NOT NULL,
    template     TEXT NOT NULL,
    template_hash TEXT NOT NULL,
    disclaimer   INTEGER NOT NULL,   -- the text must carry team.disclaimer
    text_blob    TEXT NOT NULL,      -- SHA-256 of the proposed text in the spool
    text_sha256  TEXT NOT NULL,
    state        TEXT NOT NULL,      -- pending | approved | edited | rejected | auto
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT NOT NULL DEFAULT '',
    final_blob   TEXT NOT NULL DEFAULT '',   -- the text sent (the draft, or the agent's edit)
    diff_blob    TEXT NOT NULL DEFAULT '',   -- draft → edit, for the audit
    answer_outbox INTEGER REFERENCES outbox (id),
    UNIQUE (message, kind)
);
CREATE INDEX drafts_case ON drafts (case_ref);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,     -- SHA-256 of the token: the token itself is never stored
    draft      INTEGER NOT NULL REFERENCES drafts (id),
    agent      TEXT NOT NULL,
    key_id     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    INTEGER               -- the messages row of the reply that used it
);
CREATE INDEX tokens_draft ON tokens (draft);

-- When an agent was last told that a reply was refused: notices are rate-limited.
CREATE TABLE notices (
    agent   TEXT PRIMARY KEY,
    last_at INTEGER NOT NULL
);
