package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailtext"
	"github.com/ackd/ackd/internal/secret"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// openReadOnly opens cfg's store for a command that only reads
// (explain, replay): no migration, no adoption, every write refused.
func openReadOnly(ctx context.Context, cfg *config.Config) (store.Store, error) {
	pw, err := secret.Read(cfg.Store.PasswordEnv, cfg.Store.PasswordFile)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	return store.OpenOptions(ctx, cfg.Store.Driver, cfg.Store.DSN, store.Options{Password: pw, ReadOnly: true})
}

// loadReadOnly loads the config at path with its rules and opens its store
// read-only, for the commands that only look (explain, replay). On failure
// it has printed why, naming cmd, and returns the exit code.
func loadReadOnly(ctx context.Context, cmd, path string, stderr io.Writer) (*config.Config, *rules.Set, store.Store, int) {
	cfg, set, err := rules.Load(path)
	if err != nil {
		printProblems(stderr, err)
		return nil, nil, nil, 1
	}
	st, err := openReadOnly(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "ackd %s: open store: %v\n", cmd, err)
		return nil, nil, nil, 1
	}
	return cfg, set, st, 0
}

// cmdExplain prints why a request is where it is: the rule and the words
// that matched, the arithmetic of its due date, its escalation ladder
// step by step, its history and its mail.
func cmdExplain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("explain", stderr)
	path := fs.String("c", "config.yaml", "config file")
	deptFlag := fs.String("department", "", "the department, when several have the reference")
	at := fs.String("at", "", "the time to assume (RFC 3339), default now")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "ackd explain: name one reference, e.g. REQ-12")
		return 2
	}
	ref := strings.ToUpper(strings.TrimSpace(fs.Arg(0)))
	now, err := parseAt(*at)
	if err != nil {
		fmt.Fprintln(stderr, "ackd explain:", err)
		return 2
	}
	cfg, set, st, code := loadReadOnly(ctx, "explain", *path, stderr)
	if code != 0 {
		return code
	}
	defer st.Close()
	var found []*config.Department
	var reqs []store.Request
	for _, d := range cfg.Departments {
		if *deptFlag != "" && !strings.EqualFold(*deptFlag, d.Name) && !strings.EqualFold(*deptFlag, d.Address) {
			continue
		}
		r, err := st.RequestByRef(ctx, d.Key(), ref)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			fmt.Fprintln(stderr, "ackd explain:", err)
			return 1
		}
		found, reqs = append(found, d), append(reqs, r)
	}
	switch len(found) {
	case 0:
		fmt.Fprintf(stderr, "ackd explain: no request %s in %s\n", ref, *path)
		return 1
	case 1:
	default:
		names := make([]string, len(found))
		for i, d := range found {
			names[i] = d.Name
		}
		fmt.Fprintf(stderr, "ackd explain: %s exists in %s; say which with --department\n", ref, strings.Join(names, ", "))
		return 2
	}
	if err := explainRequest(ctx, stdout, st, set, found[0], reqs[0], now); err != nil {
		fmt.Fprintln(stderr, "ackd explain:", err)
		return 1
	}
	return 0
}

func explainRequest(ctx context.Context, w io.Writer, st store.Store, set *rules.Set, d *config.Department, r store.Request, now time.Time) error {
	loc := d.Calendar.Location()
	tm := func(t time.Time) string {
		if t.IsZero() {
			return "none"
		}
		return t.In(loc).Format("Mon 2 Jan 2006 15:04 MST")
	}
	inputs, err := st.DecideInputs(ctx, r.Dept, r.ReceivedAt)
	if err != nil {
		return err
	}
	in, exact, err := mailwatch.StoredInput(r, d.Address, inputs[r.ID])
	if err != nil {
		return err
	}
	evs, err := st.Events(ctx, r.ID)
	if err != nil {
		return err
	}
	mails, err := st.RequestMail(ctx, r.ID)
	if err != nil {
		return err
	}

	fmt.Fprintf(w, "%s  %s  %q from %s\n", r.Ref, d.Name, r.Subject, r.Requester)
	fmt.Fprintf(w, "  state %s, escalation level %d, %d reminder(s)", r.State, r.EscalationLevel, r.Reminders)
	if r.AssignedTo != "" {
		fmt.Fprintf(w, ", assigned to %s", r.AssignedTo)
	}
	fmt.Fprintf(w, "\n  received %s, due %s, next wake-up %s\n", tm(r.ReceivedAt), tm(r.DueAt), tm(r.NextWake))

	// Why this category.
	fmt.Fprintln(w, "\nclassification")
	if r.Rule == "" {
		fmt.Fprintf(w, "  no rule matched: category %s (the default)\n", r.Category)
	} else {
		fmt.Fprintf(w, "  rule %q → category %s\n", r.Rule, r.Category)
	}
	dec, hits := set.Explain(d, in.Message, r.ReceivedAt)
	if !exact {
		fmt.Fprintln(w, "  (recorded before ackd kept the whole message: words below are from the subject and the stored excerpt only)")
	}
	switch {
	case !dec.Reply:
		fmt.Fprintf(w, "  the config as it is now would send no receipt: %s\n", dec.Reason)
	case dec.Rule != r.Rule || dec.Category != r.Category:
		fmt.Fprintf(w, "  the config as it is now decides otherwise: %s → category %s\n", dec.Reason, dec.Category)
	}
	for _, h := range hits {
		fmt.Fprintf(w, "  matched %s\n", h)
	}

	// The due date.
	fmt.Fprintln(w, "\ndue date")
	cat := d.Categories[r.Category]
	var cm calendar.Commitment
	switch {
	case in.Commitment != "":
		cm, _ = calendar.ParseCommitment(in.Commitment)
	case cat != nil:
		cm = cat.Commitment
	}
	start := r.CycleStart
	if start.IsZero() {
		start = r.ReceivedAt
	}
	if cm.IsZero() {
		fmt.Fprintf(w, "  category %s has no commitment\n", r.Category)
	} else {
		x := d.Calendar.ExplainDue(start, cm)
		what := "arrival"
		if !start.Equal(r.ReceivedAt) {
			what = "start of the current cycle (reopened or #eta)"
		}
		fmt.Fprintf(w, "  commitment %s (category %s) from the %s, %s\n", cm, r.Category, what, tm(start))
		if !x.Start.Equal(x.Arrival) {
			fmt.Fprintf(w, "  closed then; counting starts at the next opening, %s\n", tm(x.Start))
		}
		// Counted and skipped, in the order of the calendar.
		type line struct{ key, text string } // key: "2026-12-08 09:00" on the calendar's wall clock
		var lines []line
		for _, day := range x.Days {
			lines = append(lines, line{day.String() + " 00:00", "counted working day " + dayName(day)})
		}
		for _, s := range x.Stretches {
			lines = append(lines, line{s.Start.In(loc).Format("2006-01-02 15:04"), fmt.Sprintf("counted %s–%s (%s)", s.Start.Format("Mon 2 Jan 15:04"), s.End.Format("15:04"), mailtext.Span(s.End.Sub(s.Start)))})
		}
		for _, c := range x.Closed {
			lines = append(lines, line{c.Date.String() + " 00:00", fmt.Sprintf("skipped %s: %s", dayName(c.Date), c.Why)})
		}
		slices.SortStableFunc(lines, func(a, b line) int { return strings.Compare(a.key, b.key) })
		for _, l := range lines {
			fmt.Fprintln(w, "  "+l.text)
		}
		fmt.Fprintf(w, "  → due %s\n", tm(x.Due))
		if !r.DueAt.IsZero() && !x.Due.Equal(r.DueAt) {
			fmt.Fprintf(w, "  the due time in force is %s: moved since (see the history: eta, late notice, reopen)\n", tm(r.DueAt))
		}
	}

	// The escalation ladder.
	if cat != nil && len(cat.Escalate) > 0 && !r.DueAt.IsZero() {
		fmt.Fprintln(w, "\nescalation")
		lr := lifecycle.Request{CycleStart: start, DueAt: r.DueAt}
		for i, step := range cat.Escalate {
			rung := fmt.Sprintf("at %.0f%%", step.At*100)
			if step.BeforeDue > 0 {
				rung = mailtext.Span(step.BeforeDue) + " before due"
			}
			planned := lifecycle.StepTime(d.Calendar, lr, step)
			status := "not yet"
			switch {
			case r.EscalationLevel > i:
				status = "fired"
				for _, e := range evs {
					if e.Kind == store.EventEscalated && e.Level == i+1 && !e.At.Before(start) {
						status = "fired " + tm(e.At)
						if e.Detail != "" {
							status += " (" + e.Detail + ")"
						}
					}
				}
			case r.State == store.StateResolved || r.State == store.StateAnswered || r.State == store.StateWaiting:
				status = "will not fire: " + string(r.State)
			case !planned.Before(r.DueAt):
				status = "will not fire: falls at or after the due time"
			case planned.After(now):
				status = "planned"
			}
			fmt.Fprintf(w, "  %d. %s to %s: %s — %s\n", i+1, rung, step.To, tm(planned), status)
		}
	}

	fmt.Fprintln(w, "\nhistory")
	for _, e := range evs {
		actor := e.Actor
		if actor == "" {
			actor = "ackd"
		}
		fmt.Fprintf(w, "  %s  %-14s %s  %s\n", tm(e.At), e.Kind, actor, e.Detail)
	}
	if len(mails) > 0 {
		fmt.Fprintln(w, "\nmail")
		for _, m := range mails {
			when := m.CreatedAt
			if !m.SentAt.IsZero() {
				when = m.SentAt
			}
			fmt.Fprintf(w, "  %s  %-12s %-8s to %s", tm(when), m.Kind, m.State, strings.Join(m.Recipients, ", "))
			if m.HeldReason != "" {
				fmt.Fprintf(w, " (held: %s)", m.HeldReason)
			}
			fmt.Fprintln(w)
		}
	}
	return nil
}

func dayName(d calendar.Date) string {
	return time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Format("Mon 2 Jan")
}
