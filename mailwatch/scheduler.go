package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
	"github.com/ackd/ackd/templates"
)

// Scheduler fires what the clock owes open requests: escalation steps
// before the due time, and the honest late notice when it passes. Due work
// lives in the store, never only in memory: each pass computes the next
// event from the open requests, so steps missed while ackd was down fire
// once on start, in order.
type Scheduler struct {
	st      store.Store
	runtime func() *Runtime
	now     func() time.Time
	kick    chan struct{}
	sent    func() // wakes the outbox sender
	log     *slog.Logger
	// maxSleep bounds one wait, so a reload's new ladders apply soon.
	maxSleep time.Duration
	// owns, when set, limits the scheduler to the departments it
	// reports true for (replicas: the ones whose lease is held).
	owns func(dept string) bool
}

// NewScheduler builds a scheduler; now is the clock (time.Now in
// production, a fake in tests); wake kicks the outbox sender.
func NewScheduler(st store.Store, runtime func() *Runtime, now func() time.Time, wake func(), log *slog.Logger) *Scheduler {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	return &Scheduler{st: st, runtime: runtime, now: now, kick: make(chan struct{}, 1), sent: wake, log: log, maxSleep: 5 * time.Minute}
}

// OnlyDepartments limits the scheduler to the departments owns reports
// true for, asked on every pass. Call it before Run.
func (s *Scheduler) OnlyDepartments(owns func(dept string) bool) { s.owns = owns }

// Kick wakes the scheduler to re-plan (a new request or a change arrived).
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run fires events until ctx is done.
func (s *Scheduler) Run(ctx context.Context) error {
	for {
		next, _, err := s.RunOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := s.maxSleep
		if err != nil {
			s.log.Error("scheduler pass failed; retrying", "err", err)
			wait = 30 * time.Second
		} else if !next.IsZero() {
			if d := next.Sub(s.now()); d < wait {
				wait = max(d, 0)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-s.kick:
			t.Stop()
		case <-t.C:
		}
	}
}

// RunOnce fires every event due now and returns when the next one is due
// (zero when nothing is scheduled) and how many fired.
func (s *Scheduler) RunOnce(ctx context.Context) (time.Time, int, error) {
	fired := 0
	// Each fired event changes its request; planning again after each one
	// keeps several due steps of one request in order.
	for round := 0; round < 1000; round++ {
		now := s.now()
		rt := s.runtime()
		open, err := s.st.OpenRequests(ctx, "")
		if err != nil {
			return time.Time{}, fired, fmt.Errorf("list open requests: %w", err)
		}
		var next time.Time
		progressed := false
		for _, r := range open {
			if s.owns != nil && !s.owns(r.Dept) {
				continue // another replica's department
			}
			d := rt.Department(r.Dept)
			if d == nil {
				continue // a department removed from config: its requests wait
			}
			pl, at, due, err := s.plan(rt, d, r, now)
			if err != nil {
				s.log.Error("plan request event", "ref", r.Ref, "dept", d.Name, "err", err)
				continue
			}
			if at.IsZero() {
				continue
			}
			if !due {
				if next.IsZero() || at.Before(next) {
					next = at
				}
				continue
			}
			if d.TooOld(at, now) && len(pl.mails) > 0 {
				pl = tooOldStep(d, pl, at, now)
			}
			if _, err := applyPlan(ctx, s.st, r, pl, "", nil, nil); err != nil {
				if errors.Is(err, errStale) {
					progressed = true // changed under us: plan again
					continue
				}
				return time.Time{}, fired, fmt.Errorf("fire %s for %s: %w", pl.what, r.Ref, err)
			}
			s.log.Info("fired", "event", pl.what, "ref", r.Ref, "dept", d.Name)
			fired++
			progressed = true
		}
		if fired > 0 {
			s.sent()
		}
		if !progressed {
			return next, fired, nil
		}
	}
	return time.Time{}, fired, errors.New("scheduler: events keep firing; giving up this pass")
}

// tooOldStep turns a step that fell due more than max_age ago (ackd was
// off for weeks, a database was restored) into one that mails nobody: the
// request moves on as if the step had fired, so it is not planned again,
// and its history says what was not sent and why.
func tooOldStep(d *rules.Department, pl plan, at, now time.Time) plan {
	detail := fmt.Sprintf("%s due at %s not mailed: more than max_age (%s) ago", pl.what,
		at.In(d.Calendar.Location()).Format(time.RFC3339), rules.FormatAge(d.MaxAgeOrDefault()))
	pl.mails = nil
	pl.events = []store.Event{{Kind: EventSkippedTooOld, At: now, Detail: detail}}
	pl.what += " (too old, not mailed)"
	return pl
}

// stepTime is when a ladder step falls in the request's current cycle.
func stepTime(cal *rules.Calendar, r store.Request, step rules.EscalationStep) time.Time {
	if step.BeforeDue > 0 {
		return cal.SubBusiness(r.DueAt, step.BeforeDue)
	}
	return cal.AtShare(r.CycleStart, r.DueAt, step.At)
}

// plan returns the request's next clock event: when it is, whether it is
// due at now, and what firing it does.
func (s *Scheduler) plan(rt *Runtime, d *rules.Department, r store.Request, now time.Time) (plan, time.Time, bool, error) {
	pl := plan{next: r}
	if r.State == store.StateAnswered {
		return s.planAutoResolve(rt, d, r, now, pl)
	}
	if r.State != store.StateAcknowledged && r.State != store.StateOverdue && r.State != store.StateNew {
		return pl, time.Time{}, false, nil // waiting: the clock is paused
	}
	if r.DueAt.IsZero() {
		return pl, time.Time{}, false, nil
	}
	cat := category(d, r.Category)
	cal := d.Calendar
	// The next ladder step, unless the due time came first.
	if r.EscalationLevel < len(cat.Escalate) {
		step := cat.Escalate[r.EscalationLevel]
		at := stepTime(cal, r, step)
		if at.Before(r.DueAt) {
			if now.Before(at) {
				return pl, at, false, nil
			}
			reason := fmt.Sprintf("%.0f%% of the %s commitment elapsed", step.At*100, cat.Commitment)
			if step.BeforeDue > 0 {
				reason = fmt.Sprintf("%s of business time left before the due time", report.Span(step.BeforeDue))
			}
			pl.what = "escalation"
			err := escalate(rt, d, &pl, now, reason, cat)
			return pl, at, true, err
		}
	}
	if r.LateNoticeFor.Equal(r.DueAt) {
		return pl, time.Time{}, false, nil // this due time was dealt with
	}
	if now.Before(r.DueAt) {
		return pl, r.DueAt, false, nil
	}
	if err := s.planLate(rt, d, r, now, cat, &pl); err != nil {
		return pl, r.DueAt, true, err
	}
	return pl, r.DueAt, true, nil
}

// planLate: the request is due and nobody answered. The first time, the
// requester hears it honestly with a new expected time and the leads get
// the overdue escalation; if the new time passes too, the leads hear again
// and the requester is not sent a string of apologies.
func (s *Scheduler) planLate(rt *Runtime, d *rules.Department, r store.Request, now time.Time, cat *rules.Category, pl *plan) error {
	cal := d.Calendar
	pl.what = "late-notice"
	if r.State != store.StateOverdue {
		base := r.DueAt
		if now.After(base) {
			base = now
		}
		newDue := cal.Due(base, cat.Grace)
		rendered, err := rt.Templates.LateNotice(templates.LateNotice{
			Department: d.Name, DepartmentAddress: d.Address, Requester: requester(r),
			Ref: r.Ref, Subject: r.Subject, Due: r.DueAt, NewDue: newDue, Location: cal.Location(),
		})
		if err != nil {
			return fmt.Errorf("render late notice: %w", err)
		}
		ml, err := requesterMail(d, r, "late-notice", rendered, "auto-replied")
		if err != nil {
			return err
		}
		pl.mails = append(pl.mails, ml)
		pl.event(store.EventLateNotice, now, "", "new expected time "+newDue.In(cal.Location()).Format(time.RFC3339), 0)
		esc, err := escalationMail(rt, d, r, r.EscalationLevel+1, targets(d, r, "leads"), "overdue: the due time passed without an answer", now)
		if err != nil {
			return err
		}
		pl.mails = append(pl.mails, esc)
		pl.event(store.EventEscalated, now, "", fmt.Sprintf("level %d to leads: overdue", r.EscalationLevel+1), r.EscalationLevel+1)
		pl.next.State = store.StateOverdue
		pl.next.LateNoticeFor = r.DueAt
		pl.next.DueAt = newDue
		pl.next.EscalationLevel = max(r.EscalationLevel+1, len(cat.Escalate))
		return nil
	}
	esc, err := escalationMail(rt, d, r, r.EscalationLevel+1, targets(d, r, "leads"), "still overdue: the new expected time passed too", now)
	if err != nil {
		return err
	}
	pl.mails = append(pl.mails, esc)
	pl.event(store.EventEscalated, now, "", fmt.Sprintf("level %d to leads: still overdue", r.EscalationLevel+1), r.EscalationLevel+1)
	pl.next.EscalationLevel = r.EscalationLevel + 1
	pl.next.LateNoticeFor = r.DueAt
	return nil
}

// planAutoResolve closes the loop on an answered request whose requester
// stayed silent for the category's auto_resolve time, with the closing
// note when the category sends one.
func (s *Scheduler) planAutoResolve(rt *Runtime, d *rules.Department, r store.Request, now time.Time, pl plan) (plan, time.Time, bool, error) {
	cat := category(d, r.Category)
	if cat.AutoResolve.IsZero() || r.AnsweredAt.IsZero() {
		return pl, time.Time{}, false, nil
	}
	since := r.AnsweredAt
	if r.LastActivityAt.After(since) {
		since = r.LastActivityAt
	}
	at := d.Calendar.Due(since, cat.AutoResolve)
	if now.Before(at) {
		return pl, at, false, nil
	}
	pl.what = "auto-resolve"
	pl.next.State, pl.next.ResolvedAt = store.StateResolved, now
	pl.event(store.EventResolved, now, "", "resolved automatically: no reply "+cat.AutoResolve.String()+" after the answer", 0)
	if cat.Closing {
		ml, err := closingMail(rt, d, r, now)
		if err != nil {
			return pl, at, true, err
		}
		pl.mails = append(pl.mails, ml)
	}
	return pl, at, true, nil
}
