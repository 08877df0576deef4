// Package route turns a screened, parsed and classified mail into a decision: where it
// goes, what the customer is told, and which messages that takes.
package route

import (
	"context"
	"strings"

	"github.com/triagem/triagem/classify"
	"github.com/triagem/triagem/config"
	"github.com/triagem/triagem/identify"
	"github.com/triagem/triagem/parse"
	"github.com/triagem/triagem/reason"
	"github.com/triagem/triagem/screen"
)

// Actions a decision can take on a mail.
const (
	Forward    = "forward"    // to the category's department, with a draft for the agents
	Review     = "review"     // to a human: unsure, "other", or a reply we cannot act on yet
	Ignore     = "ignore"     // automated or our own: never answered
	Quarantine = "quarantine" // could not be read safely
	Duplicate  = "duplicate"  // another copy of a case already decided
)

// Decision is what happens to one mail, with every reason.
type Decision struct {
	Action     string
	Category   string
	Confidence float64
	To, Cc     []string
	// Customer is the address a reply to the customer may go to: the mail's own From.
	Customer   string
	NIF        *identify.NIF
	Name       *identify.Name
	Identified bool
	Disclaimer bool
	Language   string
	Folder     string
	Reasons    []reason.Reason
	Trace      *classify.Result
	// Screen is what screening made of the mail (a customer, an agent's reply, …).
	Screen screen.Kind
}

// ValidNIF returns the NIF when one with a valid check digit was found.
func (d *Decision) ValidNIF() string {
	if d.NIF != nil && d.NIF.Valid {
		return d.NIF.Value
	}
	return ""
}

// Router decides with one configuration.
type Router struct {
	cfg        *config.Config
	classifier *classify.Classifier
	llm        Asker
}

// Asker gives a language model's opinion on a mail (package llm).
type Asker interface {
	Ask(ctx context.Context, in classify.Input) classify.Opinion
}

// UseLLM makes the router ask a for an opinion when cfg.LLM.Mode says so.
func (r *Router) UseLLM(a Asker) { r.llm = a }

// New prepares a router for cfg.
func New(cfg *config.Config, c *classify.Classifier) *Router {
	return &Router{cfg: cfg, classifier: c}
}

// Quarantined is the decision for a mail that could not be read.
func (r *Router) Quarantined(why string) Decision {
	return Decision{Action: Quarantine, Category: r.cfg.ReviewCategory(), Folder: r.cfg.Folders.Quarantine, Reasons: []reason.Reason{reason.Text(why)}}
}

// Decide decides on a parsed mail and its screening verdict.
func (r *Router) Decide(ctx context.Context, m *parse.Mail, v screen.Verdict) Decision {
	d := Decision{Category: r.cfg.ReviewCategory(), Language: r.cfg.Team.Language, Screen: v.Kind}
	if len(m.From) > 0 {
		d.Customer = m.From[0].Address
	}
	switch v.Kind {
	case screen.Customer:
	case screen.Form:
		d.Customer = FormCustomer(m)
	case screen.Automated, screen.Own, screen.Loop:
		d.Action, d.Folder = Ignore, r.cfg.Folders.Processed
		d.Reasons = []reason.Reason{reason.New("not-answered", v.Reason)}
		return d
	default:
		// Replies from agents and departments are handled by the approval flow; until a
		// reply can be matched to a pending draft, a human looks at it.
		d.Action, d.Folder = Review, r.cfg.Folders.Review
		d.Reasons = []reason.Reason{reason.New("for-an-agent", v.Reason)}
		return d
	}

	in := classify.InputOf(m)
	res := r.classifier.Classify(in)
	if r.llm != nil && (r.cfg.LLM.Mode == "always" || (r.cfg.LLM.Mode == "unsure" && res.Unsure)) {
		r.classifier.Consider(&res, r.llm.Ask(ctx, in), r.cfg.LLM.MinConfidence, r.cfg.LLM.Mode == "always")
	}
	d.Trace = &res
	d.Category, d.Confidence = res.Category, res.Confidence
	d.Reasons = append(d.Reasons, res.Reasons...)
	d.Language = r.cfg.Team.AnswerLanguage(classify.Language(m.Subject+"\n"+m.NewText, r.cfg.Team.Language))

	display, address := "", ""
	if len(m.From) > 0 && v.Kind != screen.Form { // a form's display name is the form's
		display, address = m.From[0].Name, m.From[0].Address
	}
	if r.cfg.Team.Asks("nif") {
		d.NIF = identify.FindNIF(m.Subject, m.NewText, m.Signature, m.Quoted)
	}
	d.Name = identify.FindName(identify.Sources{NewText: m.NewText, Signature: m.Signature, Quoted: m.Quoted, DisplayName: display, Address: address})
	d.Identified = (d.Name != nil || !r.cfg.Team.Asks("name")) && (d.ValidNIF() != "" || !r.cfg.Team.Asks("nif"))

	if d.Customer == "" { // a form's mail that names nobody to answer
		d.Action, d.Folder = Review, r.cfg.Folders.Review
		d.Reasons = append(d.Reasons, reason.New("form-no-address"))
		return d
	}
	cat := r.cfg.Category(res.Category)
	if res.Unsure || cat == nil || cat.Review {
		d.Action, d.Folder = Review, r.cfg.Folders.Review
		if cat == nil || cat.Review {
			d.Reasons = append(d.Reasons, reason.New("no-department"))
		}
		return d
	}
	d.Action, d.Folder = Forward, r.cfg.Folders.Processed
	d.To, d.Cc = lower(cat.To), lower(cat.Cc)
	d.Disclaimer = cat.Disclaimer
	d.Reasons = append(d.Reasons, reason.New("procedure", cat.Label, strings.Join(append(append([]string{}, cat.To...), cat.Cc...), ", ")))
	return d
}
