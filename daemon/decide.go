package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/spool"
	"github.com/triagem/triagem/store"
)

// ProcessPending decides every recorded message that has no decision yet.
func (a *App) ProcessPending(ctx context.Context) (int, error) {
	done := 0
	// The first groups are small, so that the senders, and the mail server behind them,
	// start on a backlog a few mails in rather than a full group in.
	size := firstGroup
	for {
		batch, err := a.Store.Undecided(ctx, 100)
		if err != nil {
			return done, err
		}
		if len(batch) == 0 {
			return done, nil
		}
		seen, err := a.seenCases(ctx, batch)
		if err != nil {
			return done, err
		}
		// Decisions are prepared one by one (parsing, classifying, composing: no writes)
		// and committed in groups: one fsync for up to groupCommit mails. Nothing is sent
		// before its group commits, so a crash loses only undecided work, which is redone
		// with the same Message-IDs.
		var group []*prepared
		blobs := a.Spool.Batch()
		flush := func() error {
			if len(group) == 0 {
				return nil
			}
			if err := a.commit(ctx, group, blobs); err != nil {
				blobs.Discard()
				return err
			}
			done += len(group)
			for _, p := range group {
				seen.touched[p.m.CaseKey] = true
			}
			group = group[:0]
			size = min(2*size, groupCommit)
			kick(a.wakeSender)
			return nil
		}
		for _, m := range batch {
			if err := ctx.Err(); err != nil {
				return done, err
			}
			// A second copy of a case in the same group is only seen as one once the first
			// is committed: commit first.
			for _, g := range group {
				if g.m.CaseKey == m.CaseKey {
					if err := flush(); err != nil {
						return done, err
					}
					break
				}
			}
			p, err := a.prepare(ctx, m, blobs, seen)
			if err != nil {
				blobs.Discard()
				return done, fmt.Errorf("decide %s: %w", m.CaseRef, err)
			}
			if p == nil { // a reply, handled in its own transaction
				seen.touched[m.CaseKey] = true
				done++
				continue
			}
			group = append(group, p)
			if len(group) >= size {
				if err := flush(); err != nil {
					return done, err
				}
			}
		}
		if err := flush(); err != nil {
			return done, err
		}
		// A case with nothing to send (review, ignore) is ready to move at once.
		kick(a.wakeMover)
	}
}

// Evaluate parses, screens, classifies and routes raw.
func (a *Evaluator) Evaluate(ctx context.Context, raw []byte) (route.Decision, *parse.Mail) {
	if int64(len(raw)) > a.Cfg.Limits.MaxMessageBytes {
		return a.Router.Quarantined(fmt.Sprintf("message of %d bytes is larger than limits.max_message_bytes (%d)", len(raw), a.Cfg.Limits.MaxMessageBytes)), nil
	}
	pm, err := parse.Parse(raw, a.limits)
	if err != nil {
		var le *parse.LimitError
		if errors.As(err, &le) {
			return a.Router.Quarantined("over a limit: " + le.Reason), pm
		}
		return a.Router.Quarantined("unreadable: " + err.Error()), pm
	}
	v := screen.Check(pm, a.screenEnv)
	return a.Router.Decide(ctx, pm, v), pm
}

// groupCommit is how many decisions share one transaction, and firstGroup how many the
// first of a run does; the groups between double.
const (
	groupCommit = 32
	firstGroup  = 4
)

// seenCases is what a batch knows of the cases its mails may repeat: the decided case of
// each key when the batch began, and the keys whose mail the batch has decided since.
type seenCases struct {
	decided map[string]string // case key → the case reference of its first decided mail
	touched map[string]bool
}

func (a *App) seenCases(ctx context.Context, batch []store.Message) (seenCases, error) {
	keys := make([]string, len(batch))
	for i, m := range batch {
		keys[i] = m.CaseKey
	}
	decided, err := a.Store.DecidedCases(ctx, keys)
	return seenCases{decided: decided, touched: map[string]bool{}}, err
}

// earlier is the case that m repeats, or "". Only a key the batch has decided since it
// began needs the database again: the batch's first look is otherwise still true, since
// there is one decider.
func (s seenCases) earlier(ctx context.Context, st *store.Store, m store.Message) (string, error) {
	if ref, ok := s.decided[m.CaseKey]; ok {
		return ref, nil
	}
	if !s.touched[m.CaseKey] {
		return "", nil
	}
	ref, _, err := st.EarlierCase(ctx, m.CaseKey, m.ID)
	return ref, err
}

// prepared is a decision ready to be written: everything computed, nothing stored yet but
// the spool blobs (content-addressed, so a redo writes the same files).
type prepared struct {
	m     store.Message
	d     route.Decision
	outs  []route.Outgoing
	blobs []string
	draft *pendingDraft
}

// prepare computes the decision on m. A reply to a draft or a forward is acted on at once
// (its own transaction) and gives nil.
func (a *App) prepare(ctx context.Context, m store.Message, w *spool.Batch, seen seenCases) (*prepared, error) {
	var d route.Decision
	var pm *parse.Mail
	var raw []byte
	switch {
	case m.Blob == "":
		d = a.Router.Quarantined(m.Reason)
	default:
		var err error
		raw, err = a.Spool.Get(m.Blob)
		if err != nil {
			return nil, err
		}
		d, pm = a.Evaluate(ctx, raw)
	}
	// Replies to our drafts and forwards are not customer mail: they act on a case.
	if pm != nil {
		if handled, err := a.handleReply(ctx, m, pm, d); handled || err != nil {
			return nil, err
		}
	}

	var outs []route.Outgoing
	var draft *pendingDraft
	if d.Action == route.Forward || d.Action == route.Review {
		// A second copy of a case (the same Message-ID again, or in another inbox) is
		// recorded and moved, never forwarded again.
		// Reading outside a transaction is enough: there is one decider, and a copy in the
		// same group was committed before this one was prepared.
		dupOf, err := seen.earlier(ctx, a.Store, m)
		if err != nil {
			return nil, err
		}
		if dupOf != "" {
			d = route.Decision{Action: route.Duplicate, Category: d.Category, Folder: a.Cfg.Folders.Processed,
				Customer: d.Customer, Reasons: []reason.Reason{reason.New("duplicate", dupOf)}}
		} else {
			var err error
			cs := route.Case{Ref: m.CaseRef, Key: m.CaseKey, Received: time.UnixMilli(m.ReceivedAt), Raw: raw, Mail: pm}
			outs, err = a.Composer.Compose(d, cs)
			if err != nil {
				return nil, fmt.Errorf("compose: %w", err)
			}
			if d.Action == route.Forward {
				if draft, err = a.customerDraft(m, d, cs); err != nil {
					return nil, fmt.Errorf("draft: %w", err)
				}
			}
		}
	}
	for _, o := range outs {
		for _, r := range o.Rcpts {
			if !a.allowed[r] {
				return nil, fmt.Errorf("refusing to queue %s to %s: the configuration does not name that address", o.Kind, r)
			}
		}
	}
	blobs := make([]string, len(outs))
	for i, o := range outs {
		// A forward carries the customer's mail unchanged: the spool keeps only what is
		// around it, not the mail a second time.
		sum, err := w.PutAround(o.Raw, m.Blob, raw)
		if err != nil {
			return nil, err
		}
		blobs[i] = sum
	}
	return &prepared{m: m, d: d, outs: outs, blobs: blobs, draft: draft}, nil
}

// commit writes prepared decisions in one transaction: the decision rows, their events,
// their outgoing mail and drafts, and the messages' new state.
// The group's spool files become durable together, inside the transaction, just before
// it commits: a row never names a blob that is not on disk.
func (a *App) commit(ctx context.Context, group []*prepared, batch *spool.Batch) error {

	state := a.outState()
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		for _, p := range group {
			if err := a.write(tx, batch, p, state); err != nil {
				return err
			}
		}
		return batch.Sync()
	})
	if err != nil {
		return err
	}
	for _, p := range group {
		d := p.d
		a.Log.Info("decided", "case", p.m.CaseRef, "action", d.Action, "category", d.Category,
			"confidence", d.Confidence, "to", d.To, "cc", d.Cc, "reason", firstReason(d))
	}
	return nil
}

// write is one prepared decision's part of a commit.
func (a *App) write(tx *store.Tx, w spool.Writer, p *prepared, state string) error {
	m, d, outs, blobs, draft := p.m, p.d, p.outs, p.blobs, p.draft
	stored := a.storedTrace(d)
	trace, err := json.Marshal(stored)
	if err != nil {
		return err
	}
	if err := tx.SaveDecision(store.Decision{Message: m.ID, Category: d.Category, Confidence: d.Confidence,
		Action: d.Action, Customer: d.Customer, NIFHash: a.HashNIF(d.ValidNIF()), Identified: d.Identified,
		Disclaimer: d.Disclaimer, Trace: string(trace)}); err != nil {
		return err
	}
	if err := a.logDecision(tx, &m, d, stored); err != nil {
		return err
	}
	for i, o := range outs {
		om := &store.OutMessage{Message: m.ID, CaseRef: m.CaseRef, Kind: o.Kind, MessageID: o.MessageID,
			EnvFrom: o.EnvFrom, Rcpts: o.Rcpts, Blob: blobs[i], State: state}
		inserted, err := tx.Enqueue(om)
		if err != nil {
			return err
		}
		if inserted {
			if err := tx.Queued(om, d.Category, o.TemplateHash); err != nil {
				return err
			}
		}
	}
	if draft != nil {
		if _, err := a.queueDraft(tx, w, *draft, state); err != nil {
			return err
		}
	}
	return tx.Decide(m.ID, d.Action, d.Folder, firstReason(d))
}

// sensitive reports whether a decision is, or might be, about a sensitive category: its
// words (matched phrases, model features, the LLM's raw answer) stay out of the database.
func (a *App) sensitive(d route.Decision) bool {
	if d.Trace == nil {
		return false
	}
	for _, cat := range a.Cfg.Categories {
		if cat.Sensitive && (cat.Name == d.Category || d.Trace.Probabilities[cat.Name] >= a.Cfg.Classify.SensitiveFloor ||
			(d.Trace.Probabilities == nil && d.Trace.Scores[cat.Name] > 0)) {
			return true
		}
	}
	return false
}

// storedTrace is the trace kept in the decisions table: whole, except that a sensitive
// case keeps no words of the mail.
func (a *App) storedTrace(d route.Decision) *classify.Result {
	if d.Trace == nil || !a.sensitive(d) {
		return d.Trace
	}
	t := *d.Trace
	t.Hits = append([]classify.Hit(nil), t.Hits...)
	for i := range t.Hits {
		t.Hits[i].Phrase = ""
	}
	t.Features = nil
	if t.LLM != nil {
		op := *t.LLM
		op.Raw = ""
		t.LLM = &op
	}
	return &t
}

// customerDraft prepares the customer's first answer (an acknowledgement, or a request
// for NOME and NIF) as a draft for the agents.
func (a *App) customerDraft(m store.Message, d route.Decision, cs route.Case) (*pendingDraft, error) {
	reply, err := a.Composer.CustomerReply(d, cs)
	if err != nil {
		return nil, err
	}
	name := ""
	if d.Name != nil {
		name = d.Name.Value
	}
	refs := threadRefs(cs.Mail)
	return &pendingDraft{
		row: store.Draft{Message: m.ID, CaseRef: m.CaseRef, Kind: route.DraftKind(d), Category: d.Category, Customer: d.Customer,
			Subject: replySubject(cs.Mail.Subject), InReplyTo: cs.Mail.MessageID, Refs: refs, Language: d.Language,
			Template: reply.Template, TemplateHash: reply.Hash, Disclaimer: d.Disclaimer},
		text: reply.Text,
		spec: route.DraftSpec{CaseRef: m.CaseRef, Name: name, Customer: d.Customer, Category: d.Category,
			Forwarded: append(append([]string{}, d.To...), d.Cc...), Subject: cs.Mail.Subject, Original: route.QuoteForAgent(cs.Mail),
			Disclaimer: d.Disclaimer},
	}, nil
}

// logDecision writes the typed event of the decision from t, the trace as stored: text
// never goes into the log, and for a sensitive case not even the matched phrases do.
func (a *App) logDecision(tx *store.Tx, m *store.Message, d route.Decision, t *classify.Result) error {
	switch d.Action {
	case route.Ignore:
		return tx.Ignored(m, firstReason(d))
	case route.Quarantine:
		return tx.Quarantined(m, firstReason(d))
	case route.Duplicate:
		return tx.Duplicate(m, firstReason(d))
	}
	c := store.Classification{Category: d.Category, Confidence: d.Confidence, Action: d.Action,
		Reasons: reason.Strings(d.Reasons), NIFHash: a.HashNIF(d.ValidNIF()), Identified: d.Identified, Disclaimer: d.Disclaimer,
		To: append(append([]string{}, d.To...), d.Cc...)}
	if t != nil { // the stored trace: a sensitive case's words are already gone from it
		for _, h := range t.Hits {
			c.Rules = append(c.Rules, fmt.Sprintf("%s/%s %s %.2f %s", h.Category, h.Rule, h.Where, h.Score, h.Phrase))
		}
		c.Scores = t.Scores
		c.Method, c.Threshold, c.Probabilities = t.Method, t.Threshold, t.Probabilities
		for _, f := range t.Features {
			c.Features = append(c.Features, fmt.Sprintf("%s %.3f", f.Name, f.Weight))
		}
		if op := t.LLM; op != nil {
			c.LLM = map[string]any{"model": op.Model, "prompt_sha256": op.PromptHash, "effect": op.Effect}
			if op.Category != "" {
				c.LLM["category"], c.LLM["confidence"] = op.Category, op.Confidence
			}
			if op.Error != "" {
				c.LLM["error"] = op.Error
			}
		}
	}
	return tx.Classified(m, c)
}

func firstReason(d route.Decision) string {
	if len(d.Reasons) == 0 {
		return ""
	}
	return d.Reasons[len(d.Reasons)-1].String()
}
