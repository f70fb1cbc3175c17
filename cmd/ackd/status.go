package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
)

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", stderr)
	path := fs.String("c", "config.yaml", "config file")
	skipped := fs.Int("skipped", 10, "how many recently skipped messages to show")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, st, ok := configAndStore(ctx, "status", *path, stderr)
	if !ok {
		return 1
	}
	defer st.Close()
	if err := printStatus(ctx, stdout, cfg, st, time.Now(), *skipped); err != nil {
		fmt.Fprintln(stderr, "ackd status:", err)
		return 1
	}
	return 0
}

// printStatus writes the open requests and recently skipped mail.
func printStatus(ctx context.Context, w io.Writer, cfg *config.Config, st store.Store, now time.Time, nskipped int) error {
	open, err := st.OpenRequests(ctx, "")
	if err != nil {
		return fmt.Errorf("list open requests: %w", err)
	}
	held, err := st.HeldMail(ctx, "")
	if err != nil {
		return fmt.Errorf("list held mail: %w", err)
	}
	heldReceipt := map[int64]bool{}
	for _, m := range held {
		if m.Kind == "receipt" {
			heldReceipt[m.RequestID] = true
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "REF\tDEPARTMENT\tREQUESTER\tCATEGORY\tAGE\tDUE\tAIM\tLANG\tSTATE\tLEVEL\tREMINDERS\tFIRST RESPONSE\tOWNER\tSUBJECT\n")
	for _, r := range open {
		loc := time.UTC
		d := cfg.DepartmentByKey(r.Dept)
		if d != nil {
			loc = d.Calendar.Location()
		}
		first := "-"
		if !r.FirstResponseAt.IsZero() {
			first = "<1m"
			if d := r.FirstResponseAt.Sub(r.ReceivedAt); d >= time.Minute {
				first = report.Age(d)
			}
		}
		due, aim := "-", "-"
		if !r.DueAt.IsZero() {
			due = r.DueAt.In(loc).Format("Mon 2 Jan 15:04 MST")
		}
		if d != nil {
			if a := report.AimAt(d, r); !a.Equal(r.DueAt) {
				aim = a.In(loc).Format("Mon 2 Jan 15:04 MST")
			}
		}
		state := r.State
		if heldReceipt[r.ID] {
			// Tracked all the same: only the mail waits.
			state += ", receipt held"
		}
		owner := "-"
		if r.AssignedTo != "" {
			owner = r.AssignedTo
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Ref, cfg.DepartmentName(r.Dept), r.Requester, r.Category,
			report.Age(now.Sub(r.ReceivedAt)), due, aim, report.Language(d, r), state, r.EscalationLevel, r.Reminders, first, owner, mailtext.Clip(r.Subject, 50))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(open) == 0 {
		fmt.Fprintln(w, "(no open requests)")
	}
	if err := printParked(ctx, w, st); err != nil {
		return err
	}
	if err := printHeld(ctx, w, st, held, now); err != nil {
		return err
	}
	if nskipped <= 0 {
		return nil
	}
	skipped, err := st.RecentSkipped(ctx, nskipped)
	if err != nil {
		return fmt.Errorf("list skipped mail: %w", err)
	}
	fmt.Fprintf(w, "\nRecently skipped (%d):\n", len(skipped))
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "WHEN\tDEPARTMENT\tFROM\tSUBJECT\tREASON\n")
	for _, s := range skipped {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.At.Local().Format("2006-01-02 15:04"), cfg.DepartmentName(s.Dept), mailtext.Clip(s.From, 40), mailtext.Clip(s.Subject, 40), s.Reason)
	}
	return tw.Flush()
}

// printParked lists the messages ackd moved on past because handling them
// kept failing, with their error, when there are any.
func printParked(ctx context.Context, w io.Writer, st store.Store) error {
	parked, err := st.ParkedMessages(ctx, "")
	if err != nil {
		return fmt.Errorf("list parked messages: %w", err)
	}
	if len(parked) == 0 {
		return nil
	}
	fmt.Fprintf(w, "\nParked messages (%d): handling them kept failing; ackd went on without them and tries them again when it next starts:\n", len(parked))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SINCE\tDEPARTMENT\tMAILBOX\tUID\tFROM\tSUBJECT\tATTEMPTS\tLAST ERROR\n")
	for _, p := range parked {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", p.FirstParked.Local().Format("2006-01-02 15:04"), p.Dept, p.Mailbox,
			p.UID, mailtext.Clip(p.From, 40), mailtext.Clip(p.Subject, 40), p.Attempts, mailtext.Clip(p.LastError, 120))
	}
	return tw.Flush()
}

// printHeld lists the mail sending limits hold, with the reason and when
// it is tried again.
func printHeld(ctx context.Context, w io.Writer, st store.Store, held []store.Mail, now time.Time) error {
	if len(held) == 0 {
		return nil
	}
	refs := map[int64]string{}
	fmt.Fprintf(w, "\nHeld by a sending limit (%d); each goes out when its window allows, while still useful:\n", len(held))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "REF\tDEPARTMENT\tKIND\tTO\tHELD FOR\tNEXT TRY\tREASON\n")
	for _, m := range held {
		ref := "-"
		if m.RequestID != 0 {
			if _, ok := refs[m.RequestID]; !ok {
				refs[m.RequestID] = "?"
				if r, err := st.RequestByID(ctx, m.RequestID); err == nil {
					refs[m.RequestID] = r.Ref
				}
			}
			ref = refs[m.RequestID]
		}
		next := "now"
		if d := m.NextAttempt.Sub(now); d > 0 {
			next = "in " + report.Age(d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ref, m.Dept, m.Kind, mailtext.Clip(strings.Join(m.Recipients, ", "), 40),
			report.Age(now.Sub(m.HeldSince)), next, m.HeldReason)
	}
	return tw.Flush()
}
