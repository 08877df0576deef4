-- events_case (case_ref) duplicated events_case_seq (case_ref, seq), which serves every
-- lookup by case as well and also their order. Each event paid for both.
DROP INDEX IF EXISTS events_case;
