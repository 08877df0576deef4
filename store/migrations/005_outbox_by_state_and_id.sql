-- Due pages the pending outbox by id. With only outbox_due (state, next_attempt_at) SQLite
-- read every pending row and sorted them for each page: a backlog of 9,000 messages read
-- 9,000 rows 140 times. With (state, id) a page reads its own rows and stops.
CREATE INDEX outbox_state_id ON outbox (state, id);
