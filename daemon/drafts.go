package daemon

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/triagem/triagem/approve"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/route"
	"github.com/triagem/triagem/spool"
	"github.com/triagem/triagem/store"
)

// approvalKeys loads the keys that sign reply tokens: from approval.keys_env, from
// approval.keys_file, or from state_dir/approval.key, which is created on first start.
func approvalKeys(cfg *config.Config) (approve.Keyring, error) {
	if e := cfg.Approval.KeysEnv; e != "" {
		if v := os.Getenv(e); v != "" {
			return approve.ParseKeys(v)
		}
	}
	path := cfg.Approval.KeysFile
	if path == "" {
		path = filepath.Join(cfg.Daemon.StateDir, "approval.key")
	}
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		return approve.ParseKeys(string(b))
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("read approval keys %s: %w", path, err)
	case cfg.Approval.KeysFile != "":
		return nil, fmt.Errorf("approval.keys_file %s is missing: restore it, or pending drafts cannot be approved", path)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	line := "k1:" + hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(line+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write new approval key %s: %w", path, err)
	}
	return approve.ParseKeys(line)
}

// pendingDraft is a draft about to be recorded, with what its agent mails show.
type pendingDraft struct {
	row  store.Draft
	text string
	spec route.DraftSpec
}

// queueDraft records a draft and, inside the same transaction, either one draft mail per
// agent (each with its own single-use token) or, when approval.auto_send names its kind,
// the answer itself. It returns the outbox rows it added.
func (a *App) queueDraft(tx *store.Tx, w spool.Writer, pd pendingDraft, state string) ([]*store.OutMessage, error) {
	textBlob, err := w.Put([]byte(pd.text))
	if err != nil {
		return nil, err
	}
	d := pd.row
	d.TextBlob, d.TextSHA256 = textBlob, approve.TextHash(pd.text)
	inserted, err := tx.InsertDraft(&d, a.Cfg.Approval.TokenTTL.Duration)
	if err != nil || !inserted {
		return nil, err // decided before: its mails are queued already
	}
	auto := slices.Contains(a.Cfg.Approval.AutoSend, d.Kind)
	if auto {
		// RFC 5230's rule for vacation replies: one automatic answer per sender per
		// period. Past the cap, a person decides (the draft goes to the agents).
		n, err := tx.AutoSentTo(d.Customer, tx.Now.Add(-a.Cfg.Approval.AutoSendPeriod.Duration))
		if err != nil {
			return nil, err
		}
		if n >= a.Cfg.Approval.AutoSendCap {
			auto = false
			if err := tx.Alert("auto-send-cap", fmt.Sprintf("%s: %d automatic answers to %s within %s; this one waits for an agent",
				d.CaseRef, n, d.Customer, a.Cfg.Approval.AutoSendPeriod.Duration)); err != nil {
				return nil, err
			}
		}
	}
	if auto {
		o, err := a.queueAnswer(tx, w, &d, pd.text, state, d.Message)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ResolveDraft(d.ID, store.DraftAuto, "auto", textBlob, "", o.ID); err != nil {
			return nil, err
		}
		if err := tx.Drafted(&d, nil); err != nil {
			return nil, err
		}
		return []*store.OutMessage{o}, tx.Resolved(store.EvApproved, &d, 0, "auto (approval.auto_send)", d.TextSHA256, "", o.MessageID)
	}
	sp := pd.spec
	sp.ID, sp.Text, sp.Expires = d.ID, pd.text, time.UnixMilli(d.ExpiresAt)
	var outs []*store.OutMessage
	for _, agent := range a.Cfg.Team.Agents {
		agent = strings.ToLower(agent)
		claims := approve.Claims{Draft: d.ID, Agent: agent, Expires: time.UnixMilli(d.ExpiresAt), TextHash: d.TextSHA256}
		token := a.keys.Sign(claims)
		if err := tx.InsertToken(store.Token{Hash: approve.Hash(token), Draft: d.ID, Agent: agent, KeyID: a.keys[0].ID,
			ExpiresAt: d.ExpiresAt}); err != nil {
			return nil, err
		}
		mail, err := a.Composer.DraftMail(sp, agent, approve.Address(a.Cfg.ReplyPattern(), token))
		if err != nil {
			return nil, err
		}
		o, err := a.enqueue(tx, w, d.Message, d.CaseRef, mail, state, d.Category)
		if err != nil {
			return nil, err
		}
		if o != nil {
			outs = append(outs, o)
		}
	}
	return outs, tx.Drafted(&d, a.Cfg.Team.Agents)
}

// queueAnswer adds the customer's answer for draft d with text to the outbox, as an
// outgoing message of the mail that caused it (the approval), so that mail is not moved
// before the answer has a 250.
func (a *App) queueAnswer(tx *store.Tx, w spool.Writer, d *store.Draft, text, state string, message int64) (*store.OutMessage, error) {
	mail, err := a.Composer.Answer(route.AnswerSpec{DraftID: d.ID, CaseRef: d.CaseRef, Customer: d.Customer, Subject: d.Subject,
		InReplyTo: d.InReplyTo, Refs: d.Refs, Text: text})
	if err != nil {
		return nil, err
	}
	o, err := a.enqueue(tx, w, message, d.CaseRef, mail, state, d.Category)
	if err != nil {
		return nil, err
	}
	if o == nil {
		return nil, fmt.Errorf("the answer to draft %d was queued before", d.ID)
	}
	return o, nil
}

// enqueue writes one outgoing message (its bytes to the spool, its row to the outbox) and
// logs it; nil when a row with its Message-ID exists already.
func (a *App) enqueue(tx *store.Tx, w spool.Writer, message int64, caseRef string, mail route.Outgoing, state, category string) (*store.OutMessage, error) {
	blob, err := w.Put(mail.Raw)
	if err != nil {
		return nil, err
	}
	o := &store.OutMessage{Message: message, CaseRef: caseRef, Kind: mail.Kind, MessageID: mail.MessageID, EnvFrom: mail.EnvFrom,
		Rcpts: mail.Rcpts, Blob: blob, State: state}
	inserted, err := tx.Enqueue(o)
	if err != nil || !inserted {
		return nil, err
	}
	return o, tx.Queued(o, category, mail.TemplateHash)
}

// outState is the state new outgoing mail is queued in: pending, or dry-run under
// daemon.dry_run (kept for inspection, never sent).
func (a *App) outState() string {
	if a.Cfg.Daemon.DryRun {
		return store.OutDryRun
	}
	return store.OutPending
}

// answerAllowed is the one exception to "only addresses the config names": the answer of
// an approved (or auto-sent) draft, to the customer address stored with it.
func (a *App) answerAllowed(d store.Draft, o store.OutMessage) bool {
	return d.Sent() && o.Kind == route.KindAnswer && len(o.Rcpts) == 1 && strings.EqualFold(o.Rcpts[0], d.Customer)
}

// threadRefs are the References of an answer to m: m's own, then m's Message-ID (none
// when m has no Message-ID to thread to).
func threadRefs(m *parse.Mail) []string {
	if m.MessageID == "" {
		return nil
	}
	return append(append([]string{}, m.References...), m.MessageID)
}

// replySubject is "Re: " + subject, unless it already starts with a reply prefix.
func replySubject(subject string) string {
	s := strings.TrimSpace(subject)
	if s == "" {
		return "Re: (sem assunto)"
	}
	if l := strings.ToLower(s); strings.HasPrefix(l, "re:") || strings.HasPrefix(l, "res:") {
		return s
	}
	return "Re: " + s
}
