package store

import (
	"context"
	"sort"
	"time"
)

// Stats are the auditors' figures over cases that arrived in a time range.
type Stats struct {
	Cases         int
	ByCategory    map[string]int
	ByAction      map[string]int
	ByDestination map[string]int            // cases routed to each address (To and CC)
	ByDay         map[string]map[string]int // day (YYYY-MM-DD) → category → cases
	// Median times, and how many cases they are over.
	ArrivalToForward, DraftToDecision time.Duration
	Forwarded, Decided                int
	// ReviewRate is the share of customer mail (forwarded or reviewed) sent to a human.
	ReviewRate float64
}

// Stats computes the figures for cases that arrived in [since, until) (zero: unbounded).
// A case is a mail that was decided; agents' and departments' replies are part of the
// case they answer, not cases of their own.
func (s *Store) Stats(ctx context.Context, since, until time.Time) (Stats, error) {
	lo, hi := int64(0), int64(1)<<62
	if !since.IsZero() {
		lo = since.UnixMilli()
	}
	if !until.IsZero() {
		hi = until.UnixMilli()
	}
	st := Stats{ByCategory: map[string]int{}, ByAction: map[string]int{}, ByDestination: map[string]int{}, ByDay: map[string]map[string]int{}}
	rows, err := s.db.QueryContext(ctx, `SELECT category, action, date(first_at / 1000, 'unixepoch'), count(*) FROM case_facts
		WHERE first_at >= ? AND first_at < ? AND action != '' GROUP BY 1, 2, 3`, lo, hi)
	if err != nil {
		return st, err
	}
	for rows.Next() {
		var cat, action, day string
		var n int
		if err := rows.Scan(&cat, &action, &day, &n); err != nil {
			rows.Close()
			return st, err
		}
		if cat == "" {
			cat = "(not classified)" // ignored, quarantined
		}
		st.Cases += n
		st.ByCategory[cat] += n
		st.ByAction[action] += n
		if st.ByDay[day] == nil {
			st.ByDay[day] = map[string]int{}
		}
		st.ByDay[day][cat] += n
	}
	rows.Close()
	if err := s.countInto(ctx, st.ByDestination, `SELECT lower(j.value), count(DISTINCT e.case_ref) FROM events e, json_each(e.data, '$.to') j
		WHERE e.type = 'classified' AND json_extract(e.data, '$.action') = 'forward' AND e.at >= ? AND e.at < ? GROUP BY 1`, lo, hi); err != nil {
		return st, err
	}
	if f, r := st.ByAction["forward"], st.ByAction["review"]; f+r > 0 {
		st.ReviewRate = float64(r) / float64(f+r)
	}
	var err2 error
	st.ArrivalToForward, st.Forwarded, err2 = s.median(ctx, `SELECT min(x.at) - r.at FROM events r JOIN events x ON x.case_ref = r.case_ref
		AND x.type = 'sent' AND json_extract(x.data, '$.kind') = 'forward' WHERE r.type = 'received' AND r.at >= ? AND r.at < ? GROUP BY r.case_ref`, lo, hi)
	if err2 != nil {
		return st, err2
	}
	st.DraftToDecision, st.Decided, err2 = s.median(ctx, `SELECT min(x.at) - d.at FROM events d JOIN events x ON x.case_ref = d.case_ref
		AND x.type IN ('approved', 'edited', 'rejected') AND json_extract(x.data, '$.draft') = json_extract(d.data, '$.draft')
		WHERE d.type = 'drafted' AND d.at >= ? AND d.at < ? GROUP BY d.seq`, lo, hi)
	return st, err2
}

func (s *Store) countInto(ctx context.Context, m map[string]int, q string, args ...any) error {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			return err
		}
		m[k] = n
	}
	return rows.Err()
}

func (s *Store) median(ctx context.Context, q string, args ...any) (time.Duration, int, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	var v []int64
	for rows.Next() {
		var ms int64
		if err := rows.Scan(&ms); err != nil {
			return 0, 0, err
		}
		v = append(v, ms)
	}
	if len(v) == 0 {
		return 0, 0, rows.Err()
	}
	sort.Slice(v, func(i, j int) bool { return v[i] < v[j] })
	return time.Duration(v[len(v)/2]) * time.Millisecond, len(v), rows.Err()
}

// Counts are the totals /metrics reports.
type Counts struct {
	Events                map[string]int // per event type
	Classified, Forwarded map[string]int // per category
	Review, DraftsPending int
	OutboxPending         int
	OutboxOldest          int64 // created_at of the oldest pending row, unix ms (0: none)
}

// MetricCounts reads the totals for /metrics.
func (s *Store) MetricCounts(ctx context.Context) (Counts, error) {
	c := Counts{Events: map[string]int{}, Classified: map[string]int{}, Forwarded: map[string]int{}}
	if err := s.countInto(ctx, c.Events, `SELECT type, count(*) FROM events GROUP BY type`); err != nil {
		return c, err
	}
	if err := s.countInto(ctx, c.Classified, `SELECT category, count(*) FROM case_facts WHERE action IN ('forward', 'review') GROUP BY category`); err != nil {
		return c, err
	}
	if err := s.countInto(ctx, c.Forwarded, `SELECT category, count(*) FROM case_facts WHERE action = 'forward' GROUP BY category`); err != nil {
		return c, err
	}
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM case_facts WHERE action = 'review'),
		(SELECT count(*) FROM drafts WHERE state = 'pending'),
		(SELECT count(*) FROM outbox WHERE state = 'pending'),
		coalesce((SELECT min(created_at) FROM outbox WHERE state = 'pending'), 0)`).Scan(&c.Review, &c.DraftsPending, &c.OutboxPending, &c.OutboxOldest)
	return c, err
}
