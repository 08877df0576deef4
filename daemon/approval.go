package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/triagem/triagem/approve"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/screen"
	"github.com/triagem/triagem/store"
)

// Actions on replies, recorded as the outcome of the reply mail.
const (
	actApproval   = "approval"   // an agent's reply that was obeyed
	actRefused    = "refused"    // a reply to a draft that was not
	actReplay     = "replay"     // a reply whose token was already used
	actDepartment = "department" // a department's answer, drafted for the agents
)

var caseRefInSubject = regexp.MustCompile(`\bTRG-[A-HJ-NP-Z2-9]{8}\b`)

// handleReply acts on a mail that answers one of ours: an agent's reply to a draft (or
// anything sent to a draft's reply address), or a department's answer to a forward. It
// reports false for every other mail, which is then decided as usual.
func (a *App) handleReply(ctx context.Context, m store.Message, pm *parse.Mail, d route.Decision) (bool, error) {
	tokens := a.tokensIn(pm)
	from := ""
	if len(pm.From) > 0 {
		from = pm.From[0].Address
	}
	switch {
	case len(tokens) > 0 || d.Screen == screen.Approval:
		return true, a.handleApproval(ctx, m, pm, d, tokens, from)
	case d.Screen == screen.Department || (a.screenEnv.Departments[from] && caseRefInSubject.MatchString(pm.Subject)):
		return a.handleDepartment(ctx, m, pm, from)
	}
	return false, nil
}

// tokensIn are the distinct tokens in the mail's recipient headers.
func (a *App) tokensIn(pm *parse.Mail) []string {
	pattern := a.Cfg.ReplyPattern()
	seen := map[string]bool{}
	var out []string
	add := func(addr string) {
		if t := approve.FromAddress(pattern, addr); t != "" && !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, list := range [][]parse.Address{pm.To, pm.Cc} {
		for _, ad := range list {
			add(ad.Address)
		}
	}
	for _, h := range []string{"Delivered-To", "X-Original-To"} {
		for _, v := range pm.Header.Values(h) {
			add(strings.Trim(strings.TrimSpace(v), "<>"))
		}
	}
	return out
}

// refusal is a reply not obeyed: why, for the log, and what to tell the agent.
type refusal struct {
	reason reason.Reason
	// hint names what the notice template tells the agent to do: reply-to-draft,
	// one-draft-each, draft-expired, how-to-answer, keep-disclaimer, or "" for nothing.
	hint   string
	notify bool // tell the sender (only ever a configured agent, and never a robot)
	draft  *store.Draft
	replay bool
}

func (a *App) handleApproval(ctx context.Context, m store.Message, pm *parse.Mail, d route.Decision, tokens []string, from string) error {
	agent := strings.ToLower(from)
	isAgent := a.screenEnv.Agents[agent]
	refuse := func(r refusal) error { return a.refuse(ctx, m, pm, from, r) }

	// Screening comes first, as for all intake: a robot's reply is never obeyed or answered.
	switch d.Screen {
	case screen.Automated, screen.Loop, screen.Own:
		return refuse(refusal{reason: reason.New("refused-auto-reply", strings.TrimPrefix(firstReason(d), "not answered: "))})
	}
	if len(pm.From) != 1 {
		return refuse(refusal{reason: reason.New("refused-from-count", fmt.Sprint(len(pm.From)))})
	}
	if !isAgent {
		return refuse(refusal{reason: reason.New("refused-not-agent", from)})
	}
	if len(tokens) == 0 {
		return refuse(refusal{notify: true, reason: reason.New("refused-no-token"),
			hint: "reply-to-draft"})
	}
	if len(tokens) > 1 {
		return refuse(refusal{notify: true, reason: reason.New("refused-many-tokens"), hint: "one-draft-each"})
	}
	token := tokens[0]
	id, _, err := approve.Parse(token)
	if err != nil {
		return refuse(refusal{notify: true, reason: reason.New("refused-token", err.Error())})
	}

	var dr store.Draft
	var tok store.Token
	var found, issued bool
	if err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if dr, found, err = tx.Draft(id); err != nil || !found {
			return err
		}
		tok, issued, err = tx.TokenByHash(approve.Hash(token))
		return err
	}); err != nil {
		return err
	}
	if !found {
		return refuse(refusal{notify: true, reason: reason.New("refused-no-draft")})
	}
	claims := approve.Claims{Agent: agent, TextHash: dr.TextSHA256}
	if err := a.keys.Verify(token, claims, a.Store.Now()); err != nil {
		r := refusal{notify: true, reason: reason.New("refused-token", err.Error()), draft: &dr}
		if errors.Is(err, approve.ErrExpired) {
			r.hint = "draft-expired"
		}
		return refuse(r)
	}
	if !issued || tok.Draft != dr.ID || tok.Agent != agent {
		return refuse(refusal{notify: true, reason: reason.New("refused-not-issued"), draft: &dr})
	}
	if tok.Used || dr.State != store.DraftPending {
		return refuse(refusal{replay: true, draft: &dr, reason: reason.New("refused-already", dr.State)})
	}
	if id := a.Cfg.Approval.TrustedAuthservID; id != "" {
		_, domain, _ := strings.Cut(agent, "@")
		if ok, why := approve.Authenticated(pm.Header, id, domain); !ok {
			return refuse(refusal{notify: true, draft: &dr, reason: reason.New("refused-auth", why)})
		}
	}

	text, err := a.Spool.Get(dr.TextBlob)
	if err != nil {
		return err
	}
	reply := approve.Read(pm.NewText, string(text))
	final := string(text)
	switch reply.Action {
	case approve.None:
		return refuse(refusal{notify: true, draft: &dr, reason: reason.New("refused-no-instruction"),
			hint: "how-to-answer"})
	case approve.Edit:
		final = reply.Text
	}
	if reply.Action != approve.Reject && dr.Disclaimer && !strings.Contains(final, a.Cfg.Team.Disclaimer) {
		return refuse(refusal{notify: true, draft: &dr, reason: reason.New("refused-no-disclaimer"),
			hint: "keep-disclaimer"})
	}
	return a.resolve(ctx, m, pm, &dr, token, agent, reply.Action, final, string(text))
}

// resolve carries out an agent's decision: one conditional UPDATE of the draft and of its
// token, the answer in the outbox, and the audit events, all in one transaction.
func (a *App) resolve(ctx context.Context, m store.Message, pm *parse.Mail, dr *store.Draft, token, agent string, act approve.Action, final, proposed string) error {
	state := a.outState()
	var finalBlob, diffBlob string
	if act != approve.Reject {
		var err error
		if finalBlob, err = a.Spool.Put([]byte(final)); err != nil {
			return err
		}
		if act == approve.Edit {
			if diffBlob, err = a.Spool.Put([]byte(approve.Diff(proposed, final))); err != nil {
				return err
			}
		}
	}
	replayed := false
	folder := a.Cfg.Folders.Processed
	if act == approve.Reject {
		// The case goes back to review: the agent's reply lands in the review folder.
		folder = a.Cfg.Folders.Review
	}
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		used, err := tx.UseToken(approve.Hash(token), m.ID)
		if err != nil {
			return err
		}
		var answer *store.OutMessage
		if used && act != approve.Reject {
			if answer, err = a.queueAnswer(tx, a.Spool, dr, final, state, m.ID); err != nil {
				return err
			}
		}
		newState := map[approve.Action]string{approve.Approve: store.DraftApproved, approve.Edit: store.DraftEdited, approve.Reject: store.DraftRejected}[act]
		var answerID int64
		if answer != nil {
			answerID = answer.ID
		}
		resolved := false
		if used {
			if resolved, err = tx.ResolveDraft(dr.ID, newState, agent, finalBlob, diffBlob, answerID); err != nil {
				return err
			}
		}
		if !used || !resolved {
			// Someone was first (another agent, or this very reply before a crash that
			// left it undecided): nothing but the log.
			replayed = true
			return errRollback
		}
		ev := map[approve.Action]string{approve.Approve: store.EvApproved, approve.Edit: store.EvEdited, approve.Reject: store.EvRejected}[act]
		mid := ""
		if answer != nil {
			mid = answer.MessageID
		}
		if err := tx.Resolved(ev, dr, m.ID, agent, approve.TextHash(final), diffBlob, mid); err != nil {
			return err
		}
		if err := a.saveReplyDecision(tx, m, dr.Category, actApproval); err != nil {
			return err
		}
		return tx.Decide(m.ID, actApproval, folder, fmt.Sprintf("%s by %s (draft %d of %s)", newState, agent, dr.ID, dr.CaseRef))
	})
	if errors.Is(err, errRollback) && replayed {
		return a.refuse(ctx, m, pm, agent, refusal{replay: true, draft: dr, reason: reason.New("refused-earlier-reply")})
	}
	if err != nil {
		return err
	}
	a.Log.Info("draft resolved", "case", dr.CaseRef, "draft", dr.ID, "by", agent, "action", act)
	kick(a.wakeSender)
	return nil
}

var errRollback = errors.New("rolled back")

// refuse records a reply that is not obeyed, moves it to review, and tells the agent
// (rate-limited) when the sender is a configured agent and not a robot.
func (a *App) refuse(ctx context.Context, m store.Message, pm *parse.Mail, from string, r refusal) error {
	caseRef := m.CaseRef
	var draftID int64
	if r.draft != nil {
		caseRef, draftID = r.draft.CaseRef, r.draft.ID
	}
	agent := strings.ToLower(from)
	state := a.outState()
	outcome, folder := actRefused, a.Cfg.Folders.Review
	if r.replay {
		outcome, folder = actReplay, a.Cfg.Folders.Processed
	}
	err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		if r.replay {
			if err := tx.Replayed(caseRef, m.ID, from, draftID); err != nil {
				return err
			}
		} else if err := tx.Refused(caseRef, m.ID, from, draftID, r.reason.String()); err != nil {
			return err
		}
		if err := a.saveReplyDecision(tx, m, a.Cfg.ReviewCategory(), outcome); err != nil {
			return err
		}
		if r.notify && !r.replay && a.screenEnv.Agents[agent] {
			ok, err := tx.NoticeAllowed(agent, a.Cfg.Approval.NoticeInterval.Duration)
			if err != nil {
				return err
			}
			if ok {
				notice, err := a.Composer.Notice(caseRef, agent, r.reason, r.hint, from, pm.Subject, m.MessageID+fmt.Sprint(m.ID))
				if err != nil {
					return err
				}
				if _, err := a.enqueue(tx, a.Spool, m.ID, caseRef, notice, state, ""); err != nil {
					return err
				}
			}
		}
		return tx.Decide(m.ID, outcome, folder, r.reason.String())
	})
	if err != nil {
		return err
	}
	a.Log.Warn("reply to a draft refused", "case", caseRef, "from", from, "reason", r.reason.String(), "replay", r.replay)
	kick(a.wakeSender)
	return nil
}

func (a *App) saveReplyDecision(tx *store.Tx, m store.Message, category, action string) error {
	trace, _ := json.Marshal(map[string]string{"screen": "reply"})
	return tx.SaveDecision(store.Decision{Message: m.ID, Category: category, Action: action, Trace: string(trace)})
}

// handleDepartment turns a department's answer to a forward into a final-answer draft for
// the agents. It is never sent to the customer without an agent's approval (unless the
// operator listed "answer" in approval.auto_send).
func (a *App) handleDepartment(ctx context.Context, m store.Message, pm *parse.Mail, from string) (bool, error) {
	var caseRef string
	var custMsg int64
	var how string
	if err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		ref, msg, ok, err := tx.ForwardCase(append(append([]string{}, pm.InReplyTo...), pm.References...))
		if err != nil {
			return err
		}
		if ok {
			caseRef, custMsg, how = ref, msg, "in-reply-to"
			return nil
		}
		if ref := caseRefInSubject.FindString(pm.Subject); ref != "" {
			msg, ok, err := tx.CaseByRef(ref)
			if ok {
				caseRef, custMsg, how = ref, msg, "subject"
			}
			return err
		}
		return nil
	}); err != nil {
		return false, err
	}
	if caseRef == "" {
		return false, nil // not about one of our cases: a human reads it
	}
	var cust store.Message
	var dec store.Decision
	var ok bool
	if err := a.Store.Tx(ctx, func(tx *store.Tx) error {
		var err error
		if cust, err = tx.MessageByID(custMsg); err != nil {
			return err
		}
		dec, ok, err = tx.DecisionOf(custMsg)
		return err
	}); err != nil {
		return false, err
	}
	raw, err := a.Spool.Get(cust.Blob)
	if err != nil || !ok || dec.Customer == "" {
		return false, err
	}
	cd, cpm := a.Evaluate(ctx, raw)
	if cpm == nil {
		return false, nil
	}
	name := ""
	if cd.Name != nil {
		name = cd.Name.Value
	}
	body, err := a.Composer.DepartmentAnswer(pm.NewText, name, cd.Language, caseRef, dec.Disclaimer)
	if err != nil {
		return false, err
	}
	refs := threadRefs(cpm)
	pd := pendingDraft{
		row: store.Draft{Message: m.ID, CaseRef: caseRef, Kind: "answer", Category: dec.Category, Customer: dec.Customer,
			Subject: replySubject(cpm.Subject), InReplyTo: cpm.MessageID, Refs: refs, Language: cd.Language,
			Template: body.Template, TemplateHash: body.Hash, Disclaimer: dec.Disclaimer},
		text: body.Text,
		spec: route.DraftSpec{CaseRef: caseRef, Name: name, Customer: dec.Customer, Category: dec.Category, Subject: cpm.Subject,
			Original: route.QuoteForAgent(pm), FromDepartment: from, Disclaimer: dec.Disclaimer},
	}
	state := a.outState()
	err = a.Store.Tx(ctx, func(tx *store.Tx) error {
		if err := tx.DepartmentAnswered(caseRef, &m, from, how); err != nil {
			return err
		}
		if _, err := a.queueDraft(tx, a.Spool, pd, state); err != nil {
			return err
		}
		if err := a.saveReplyDecision(tx, m, dec.Category, actDepartment); err != nil {
			return err
		}
		return tx.Decide(m.ID, actDepartment, a.Cfg.Folders.Processed, "answer from "+from+" to "+caseRef+", drafted for the agents")
	})
	if err != nil {
		return false, err
	}
	a.Log.Info("department answer drafted", "case", caseRef, "from", from)
	kick(a.wakeSender)
	return true, nil
}
