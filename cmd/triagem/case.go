package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/triagem/triagem/daemon"
	"github.com/triagem/triagem/store"
)

// cmdCase prints the whole story of a case, or, with --nif or --address, the cases of one
// person (a GDPR access request).
func cmdCase(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("case", flag.ContinueOnError)
	path := fs.String("config", "", "configuration file (names the state_dir with the database)")
	nif := fs.String("nif", "", "list the cases of this NIF (it is hashed here, as in the log)")
	address := fs.String("address", "", "list the cases whose customer wrote from this address")
	texts := fs.Bool("texts", true, "show the texts sent to the customer (from the spool, while retained)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if (fs.NArg() == 1) == (*nif != "" || *address != "") {
		return usageError{errors.New("give a case reference (TRG-…), or --nif N / --address A")}
	}
	cfg, err := loadConfig(*path, nil)
	if err != nil {
		return err
	}
	if err := requireState(cfg); err != nil {
		return err
	}
	app, err := daemon.Open(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	defer app.Close()
	if fs.NArg() == 0 {
		rows, err := app.Store.CasesOfPerson(ctx, app.HashNIF(*nif), *address)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CASE\tRECEIVED\tCATEGORY\tACTION\tFOLDER")
		for _, c := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.CaseRef, when(c.ReceivedAt), c.Category, c.Action, c.Folder)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d case(s). See each with: triagem case TRG-…\n", len(rows))
		return nil
	}
	ref := strings.ToUpper(fs.Arg(0))
	msgs, err := app.Store.CasesByRef(ctx, ref)
	if err != nil {
		return err
	}
	if len(msgs) == 0 {
		return fmt.Errorf("no case %s in %s", ref, cfg.Daemon.StateDir)
	}
	first := msgs[0]
	fmt.Fprintf(stdout, "Case %s\n  received  %s in %s/%s (Message-ID %s)\n  decided   %s → %s, now in %s\n",
		ref, when(first.ReceivedAt), first.Inbox, first.Mailbox, orDash(first.MessageID), first.Category, first.Action, orDash(first.Folder))

	evs, err := app.Store.Events(ctx, store.Filter{CaseRef: ref, Limit: 10000})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\nTimeline")
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, e := range evs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", when(e.At), e.Type, story(e))
	}
	tw.Flush()

	drafts, err := app.Store.DraftsOf(ctx, ref)
	if err != nil {
		return err
	}
	if len(drafts) > 0 {
		fmt.Fprintln(stdout, "\nTexts for the customer")
	}
	for _, d := range drafts {
		by := d.DecidedBy
		if by == "" {
			by = "nobody yet"
		}
		fmt.Fprintf(stdout, "  draft %d (%s, template %s %s): %s by %s\n", d.ID, d.Kind, d.Template, d.TemplateHash, d.State, by)
		if !d.Sent() || !*texts {
			continue
		}
		if b, err := app.Spool.Get(d.FinalBlob); d.FinalBlob != "" && err == nil {
			fmt.Fprintf(stdout, "    sent text:\n      %s\n", strings.ReplaceAll(strings.TrimSpace(string(b)), "\n", "\n      "))
		} else {
			fmt.Fprintln(stdout, "    sent text: no longer in the spool (audit.retention); its SHA-256 is in the approved/edited event")
		}
		if d.DiffBlob != "" {
			if b, err := app.Spool.Get(d.DiffBlob); err == nil {
				fmt.Fprintf(stdout, "    the agent's edit (- proposed, + sent):\n      %s\n", strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n      "))
			}
		}
	}
	return nil
}

func when(ms int64) string { return time.UnixMilli(ms).Local().Format("2006-01-02 15:04:05") }

// story is one event as a sentence-like line.
func story(e store.Event) string {
	f := e.Fields()
	get := func(k string) string {
		if v, ok := f[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
		return ""
	}
	switch e.Type {
	case store.EvReceived:
		if from := get("from"); from != "" {
			return fmt.Sprintf("from %s, %s bytes, uid %s", from, get("size"), get("uid"))
		}
		return fmt.Sprintf("%s bytes, uid %s in %s", get("size"), get("uid"), get("mailbox"))
	case store.EvClassified:
		s := fmt.Sprintf("%s (confidence %s) → %s", get("category"), get("confidence"), get("action"))
		if to := get("to"); to != "" {
			s += " to " + to
		}
		if r, ok := f["reasons"].([]any); ok && len(r) > 0 {
			s += "; because " + fmt.Sprint(r[len(r)-1])
		}
		return s
	case store.EvQueued:
		return fmt.Sprintf("%s to %s, Message-ID %s", get("kind"), get("to"), get("message_id"))
	case store.EvSent:
		return fmt.Sprintf("%s to %s: %s", get("kind"), get("to"), get("reply"))
	case store.EvApproved, store.EvEdited, store.EvRejected:
		return fmt.Sprintf("draft %s by %s", get("draft"), get("by"))
	case store.EvRefused:
		return fmt.Sprintf("reply from %s: %s", get("from"), get("reason"))
	}
	return summarize(e)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
