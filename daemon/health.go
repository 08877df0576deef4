package daemon

import (
	"context"
	"sync"
	"time"

	"github.com/triagem/triagem/metrics"
	"github.com/triagem/triagem/store"
)

// probe is what the daemon last saw of one server.
type probe struct {
	LastOK  time.Time `json:"last_ok,omitzero"`
	LastErr string    `json:"last_error,omitempty"`
	ErrAt   time.Time `json:"error_at,omitzero"`
}

// health is the running daemon's view of its servers, for /healthz and /metrics.
type health struct {
	mu     sync.Mutex
	inbox  map[string]*probe
	smtp   probe
	smtpNG int // SMTP errors since start
}

func (a *App) markInbox(name string, err error) {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	if a.health.inbox == nil {
		a.health.inbox = map[string]*probe{}
	}
	p := a.health.inbox[name]
	if p == nil {
		p = &probe{}
		a.health.inbox[name] = p
	}
	mark(p, err)
}

func (a *App) markSMTP(err error) {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	mark(&a.health.smtp, err)
	if err != nil {
		a.health.smtpNG++
	}
}

func mark(p *probe, err error) {
	if err == nil {
		p.LastOK = time.Now()
		return
	}
	p.LastErr, p.ErrAt = err.Error(), time.Now()
}

// ProbeStatus is one server's health.
type ProbeStatus struct {
	OK bool `json:"ok"`
	probe
}

// Health says whether each inbox was polled successfully within three poll intervals
// (plus the IMAP timeout), and whether the SMTP server answered its last attempt.
type Health struct {
	OK      bool                   `json:"ok"`
	Inboxes map[string]ProbeStatus `json:"inboxes"`
	SMTP    ProbeStatus            `json:"smtp"`
}

// Health reports the daemon's view of its servers now.
func (a *App) Health(now time.Time) Health {
	a.health.mu.Lock()
	defer a.health.mu.Unlock()
	h := Health{OK: true, Inboxes: map[string]ProbeStatus{}}
	fresh := 3*a.Cfg.Daemon.PollInterval.Duration + a.Cfg.Daemon.IMAPTimeout.Duration
	for _, in := range a.Cfg.Inboxes {
		var p probe
		if q := a.health.inbox[in.Name]; q != nil {
			p = *q
		}
		ok := !p.LastOK.IsZero() && now.Sub(p.LastOK) <= fresh
		h.Inboxes[in.Name] = ProbeStatus{ok, p}
		h.OK = h.OK && ok
	}
	s := a.health.smtp
	// Nothing to send yet is not a failure; a failure is healthy again after a success.
	ok := s.LastErr == "" || s.LastOK.After(s.ErrAt)
	h.SMTP = ProbeStatus{ok, s}
	h.OK = h.OK && ok
	return h
}

// Metrics are the daemon's numbers for /metrics. Business counts come from the database,
// so they survive restarts and agree with the log.
func (a *App) Metrics(ctx context.Context) ([]metrics.Family, error) {
	c, err := a.Store.MetricCounts(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	fams := []metrics.Family{
		metrics.Single("triagem_mail_received_total", "Mail recorded from the inboxes.", "counter", float64(c.Events[store.EvReceived])),
		metrics.Single("triagem_mail_ignored_total", "Mail not answered: automated, our own, loops.", "counter", float64(c.Events[store.EvIgnored])),
		metrics.Single("triagem_mail_quarantined_total", "Mail that could not be read safely.", "counter", float64(c.Events[store.EvQuarantined])),
		metrics.Counted("triagem_mail_classified_total", "Customer mail decided, per category.", "counter", "category", c.Classified),
		metrics.Counted("triagem_mail_forwarded_total", "Customer mail forwarded to a department, per category.", "counter", "category", c.Forwarded),
		metrics.Single("triagem_review_queue", "Cases sent to human review, and drafts waiting for an agent.", "gauge", float64(c.Review+c.DraftsPending)),
		metrics.Single("triagem_drafts_pending", "Drafts waiting for an agent's reply.", "gauge", float64(c.DraftsPending)),
		metrics.Single("triagem_send_failed_total", "Outgoing messages parked after a permanent failure or too many attempts.", "counter", float64(c.Events[store.EvFailed])),
		metrics.Single("triagem_outbox_depth", "Outgoing messages waiting to be sent.", "gauge", float64(c.OutboxPending)),
	}
	age := 0.0
	if c.OutboxOldest > 0 {
		age = now.Sub(time.UnixMilli(c.OutboxOldest)).Seconds()
	}
	fams = append(fams, metrics.Single("triagem_outbox_oldest_age_seconds", "Age of the oldest message waiting to be sent.", "gauge", age))

	a.health.mu.Lock()
	polls := metrics.Family{Name: "triagem_imap_last_success_timestamp_seconds", Help: "When each inbox was last polled successfully.", Type: "gauge"}
	for _, in := range a.Cfg.Inboxes {
		v := 0.0
		if p := a.health.inbox[in.Name]; p != nil && !p.LastOK.IsZero() {
			v = float64(p.LastOK.Unix())
		}
		polls.Samples = append(polls.Samples, metrics.Sample{Labels: []metrics.Label{{Name: "inbox", Value: in.Name}}, Value: v})
	}
	smtpErrs := a.health.smtpNG
	a.health.mu.Unlock()
	fams = append(fams, polls,
		metrics.Counted("triagem_smtp_errors_total", "SMTP failures: temporary (retried) and permanent (parked).", "counter", "kind",
			map[string]int{"temporary": c.Events[store.EvRetry], "permanent": c.Events[store.EvFailed]}),
		metrics.Single("triagem_smtp_connection_errors", "SMTP errors seen by this process since it started.", "counter", float64(smtpErrs)))
	if a.llm != nil {
		fams = append(fams, a.llm.Latency().Family("triagem_llm_latency_seconds", "Time the language model took to answer (or fail)."))
	}
	return fams, nil
}
