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
// before the due time, the honest late notice when it passes, automatic
// resolves. Due work lives in the store, never only in memory: every
// request carries its next wake-up (store.Request.NextWake), the scheduler
// asks the store for the earliest one and sleeps until then or a kick,
// and loads only the requests that are due, so steps missed while ackd was
// down fire once on start, in order, and an idle ackd with many open
// requests costs nothing.
type Scheduler struct {
	st      store.Store
	runtime func() *Runtime
	now     func() time.Time
	kick    chan struct{}
	sent    func() // wakes the outbox sender
	log     *slog.Logger
	// owns, when set, limits the scheduler to the departments it
	// reports true for (replicas: the ones whose lease is held).
	owns func(dept string) bool
	// planned is the configuration every stored wake-up was computed
	// with; another one (start, reload) computes them again.
	planned *Runtime
}

// dueBatch is how many due requests one query loads.
const dueBatch = 500

// retryFailed is how long a request whose step failed (a template that
// does not render, a ladder with nobody to send to) waits before the
// scheduler tries it again, so it does not hold up the others.
const retryFailed = 5 * time.Minute

// NewScheduler builds a scheduler; now is the clock (time.Now in
// production, a fake in tests); wake kicks the outbox sender.
func NewScheduler(st store.Store, runtime func() *Runtime, now func() time.Time, wake func(), log *slog.Logger) *Scheduler {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	return &Scheduler{st: st, runtime: runtime, now: now, kick: make(chan struct{}, 1), sent: wake, log: log}
}

// OnlyDepartments limits the scheduler to the departments owns reports
// true for, asked on every pass. Call it before Run.
func (s *Scheduler) OnlyDepartments(owns func(dept string) bool) { s.owns = owns }

// Kick wakes the scheduler to re-plan (a new request or a change arrived,
// the configuration was reloaded).
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
		// Nothing scheduled: sleep until kicked (a new request, a change,
		// a reload, a lease gained).
		wait := time.Duration(-1)
		if err != nil {
			s.log.Error("scheduler pass failed; retrying", "err", err)
			wait = 30 * time.Second
		} else if !next.IsZero() {
			wait = max(next.Sub(s.now()), 0)
		}
		var timer *time.Timer
		var fire <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
		}
		select {
		case <-ctx.Done():
		case <-s.kick:
		case <-fire:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// departments are the keys of the configured departments this scheduler
// fires for: a department removed from the config has its requests wait.
func (s *Scheduler) departments(rt *Runtime) []string {
	depts := []string{}
	for _, d := range rt.Config.Departments {
		if s.owns == nil || s.owns(d.Key()) {
			depts = append(depts, d.Key())
		}
	}
	return depts
}

// RunOnce fires every event due now and returns when the next one is due
// (zero when nothing is scheduled) and how many fired.
func (s *Scheduler) RunOnce(ctx context.Context) (time.Time, int, error) {
	rt := s.runtime()
	depts := s.departments(rt)
	if rt != s.planned {
		if err := s.rewake(ctx, rt); err != nil {
			return time.Time{}, 0, err
		}
		s.planned = rt
	}
	fired := 0
	defer func() {
		if fired > 0 {
			s.sent()
		}
	}()
	// Each fired event changes its request and its wake-up; asking again
	// after each batch keeps several due steps of one request in order.
	// Every request in a batch gets a later wake-up or changes, so the
	// rounds end; the bound is a guard against a bug, not a limit.
	for round := 0; ; round++ {
		if round == 100_000 {
			return time.Time{}, fired, errors.New("scheduler: events keep firing; giving up this pass")
		}
		now := s.now()
		due, err := s.st.DueRequests(ctx, depts, now, dueBatch)
		if err != nil {
			return time.Time{}, fired, fmt.Errorf("list due requests: %w", err)
		}
		if len(due) == 0 {
			break
		}
		for _, r := range due {
			n, err := s.fire(ctx, rt, r, now)
			if err != nil {
				return time.Time{}, fired, err
			}
			fired += n
		}
	}
	next, ok, err := s.st.NextWake(ctx, depts)
	if err != nil || !ok {
		return time.Time{}, fired, err
	}
	return next, fired, nil
}

// fire handles one due request: it fires the step that is due, or, when
// nothing is (the wake-up was computed under another configuration), stores
// the request's real next wake-up. It returns how many events fired.
func (s *Scheduler) fire(ctx context.Context, rt *Runtime, r store.Request, now time.Time) (int, error) {
	d := rt.Department(r.Dept)
	if d == nil {
		return 0, nil // not asked for: departments lists configured ones
	}
	pl, at, due, err := s.plan(rt, d, r, now)
	if err != nil {
		s.log.Error("plan request event; trying again later", "ref", r.Ref, "dept", d.Name, "err", err, "retry", retryFailed)
		_, err := s.st.Apply(ctx, store.Change{RequestID: r.ID, Version: r.Version, Update: func(q *store.Request) ([]store.NewMail, error) {
			q.NextWake = now.Add(retryFailed)
			return nil, nil
		}})
		if err != nil && !errors.Is(err, store.ErrStale) {
			return 0, fmt.Errorf("postpone %s: %w", r.Ref, err)
		}
		return 0, nil
	}
	if !due {
		pl = plan{next: r, what: "wake-up"} // only the wake-up moves: at
	} else if d.TooOld(at, now) && len(pl.mails) > 0 {
		pl = tooOldStep(d, pl, at, now)
	}
	if _, err := applyPlan(ctx, s.st, d, r, pl, "", nil, nil); err != nil {
		if errors.Is(err, store.ErrStale) {
			return 0, nil // changed under us: due again if it still is
		}
		return 0, fmt.Errorf("fire %s for %s: %w", pl.what, r.Ref, err)
	}
	if !due {
		return 0, nil
	}
	s.log.Info("fired", "event", pl.what, "ref", r.Ref, "dept", d.Name)
	return 1, nil
}

// rewake computes every open request's next wake-up again under rt, a
// page at a time, and stores those that differ: at start (the config may
// have changed while ackd was down, and requests migrated from before
// wake-ups were stored are due at once) and after a reload (a ladder or a
// calendar changed). It reads each open request once, holding one page.
func (s *Scheduler) rewake(ctx context.Context, rt *Runtime) error {
	for _, key := range s.departments(rt) {
		d := rt.Department(key)
		after := int64(0)
		for {
			page, err := s.st.OpenRequestsAfter(ctx, key, after, dueBatch)
			if err != nil {
				return fmt.Errorf("plan wake-ups of %s: %w", d.Name, err)
			}
			for _, r := range page {
				want := nextWake(d, r)
				if want.Equal(r.NextWake) || want.IsZero() && r.NextWake.IsZero() {
					continue
				}
				_, err := s.st.Apply(ctx, store.Change{RequestID: r.ID, Version: r.Version, Update: func(q *store.Request) ([]store.NewMail, error) {
					q.NextWake = want
					return nil, nil
				}})
				if err != nil && !errors.Is(err, store.ErrStale) { // stale: its writer stored a fresh one
					return fmt.Errorf("plan wake-up of %s: %w", r.Ref, err)
				}
			}
			if len(page) < dueBatch {
				break
			}
			after = page[len(page)-1].ID
		}
	}
	return nil
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

// nextWake is when r next needs the clock under d's configuration: the
// next ladder step of its cycle, its due time, or, once answered, its
// automatic resolve; zero when nothing is scheduled (waiting, resolved, no
// commitment, the due time already dealt with).
func nextWake(d *rules.Department, r store.Request) time.Time {
	cat := category(d, r.Category)
	switch r.State {
	case store.StateAnswered:
		if cat.AutoResolve.IsZero() || r.AnsweredAt.IsZero() {
			return time.Time{}
		}
		since := r.AnsweredAt
		if r.LastActivityAt.After(since) {
			since = r.LastActivityAt
		}
		return d.Calendar.Due(since, cat.AutoResolve)
	case store.StateAcknowledged, store.StateOverdue, store.StateNew:
	default:
		return time.Time{} // waiting: the clock is paused
	}
	if r.DueAt.IsZero() {
		return time.Time{}
	}
	// The next ladder step, unless the due time comes first.
	if r.EscalationLevel < len(cat.Escalate) {
		if at := stepTime(d.Calendar, r, cat.Escalate[r.EscalationLevel]); at.Before(r.DueAt) {
			return at
		}
	}
	if r.LateNoticeFor.Equal(r.DueAt) {
		return time.Time{} // this due time was dealt with
	}
	return r.DueAt
}

// plan returns the request's next clock event: when it is, whether it is
// due at now, and what firing it does.
func (s *Scheduler) plan(rt *Runtime, d *rules.Department, r store.Request, now time.Time) (plan, time.Time, bool, error) {
	pl := plan{next: r}
	at := nextWake(d, r)
	if at.IsZero() || now.Before(at) {
		return pl, at, false, nil
	}
	if r.State == store.StateAnswered {
		return s.planAutoResolve(rt, d, r, now, pl)
	}
	cat := category(d, r.Category)
	if at.Before(r.DueAt) {
		// A ladder step (nextWake returns the due time otherwise).
		step := cat.Escalate[r.EscalationLevel]
		reason := fmt.Sprintf("%.0f%% of the %s commitment elapsed", step.At*100, cat.Commitment)
		if step.BeforeDue > 0 {
			reason = fmt.Sprintf("%s of business time left before the due time", report.Span(step.BeforeDue))
		}
		pl.what = "escalation"
		err := escalate(rt, d, &pl, now, reason, cat)
		return pl, at, true, err
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
// stayed silent for the category's auto_resolve time (nextWake said it
// is due), with the closing note when the category sends one.
func (s *Scheduler) planAutoResolve(rt *Runtime, d *rules.Department, r store.Request, now time.Time, pl plan) (plan, time.Time, bool, error) {
	cat := category(d, r.Category)
	at := nextWake(d, r)
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
