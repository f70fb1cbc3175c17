package mailwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/lifecycle"
	"github.com/ackd/ackd/mailwatch/store"
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
	// plannedFor is the configuration the departments in planned were
	// checked under: their stored wake-ups are planned under it.
	plannedFor *Runtime
	planned    map[string]bool
	// replanned counts the departments whose wake-ups were planned again.
	replanned atomic.Int64
}

// dueBatch is how many due requests one query loads.
const dueBatch = 500

// retryFailed is how long a request whose step failed (a template that
// does not render, a ladder with nobody to send to) waits before the
// scheduler tries it again, so it does not hold up the others.
const retryFailed = 5 * time.Minute

// NewScheduler builds a scheduler; now is the clock (time.Now in
// production, a fake in tests); wake kicks the outbox sender. Of opts it
// reads OnlyDepartments.
func NewScheduler(st store.Store, runtime func() *Runtime, now func() time.Time, wake func(), log *slog.Logger, opts ...Option) *Scheduler {
	if now == nil {
		now = time.Now
	}
	if wake == nil {
		wake = func() {}
	}
	o := buildOptions(opts)
	return &Scheduler{st: st, runtime: runtime, now: now, kick: make(chan struct{}, 1), sent: wake, log: log, owns: o.owns}
}

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
	if err := s.plan(ctx, rt, depts); err != nil {
		return time.Time{}, 0, err
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
	life, err := lifeOf(ctx, s.st, d, r)
	if err != nil {
		return 0, fmt.Errorf("plan %s: %w", r.Ref, err)
	}
	if life.Away, err = awayAt(ctx, s.st, d.Key(), now); err != nil {
		return 0, fmt.Errorf("plan %s: %w", r.Ref, err)
	}
	t := lifecycle.Step(d, life, lifecycle.Tick{}, now)
	mails, err := renderAll(rt, d, t.Mail, now)
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
	if _, err := applyTransition(ctx, s.st, r, t, mails, "", nil, nil); err != nil {
		if errors.Is(err, store.ErrStale) {
			return 0, nil // changed under us: due again if it still is
		}
		return 0, fmt.Errorf("fire %s for %s: %w", t.What, r.Ref, err)
	}
	if !t.Fired {
		return 0, nil
	}
	s.log.Info("fired", "event", t.What, "ref", r.Ref, "dept", d.Name)
	return 1, nil
}

// plan makes sure the stored wake-ups of every department in depts are
// planned under rt: at start, after a reload and when a lease brings a
// department, it compares each one's fingerprint (lifecycle.PlanFingerprint:
// calendar, commitments, ladders) with the one stored with its last plan
// and plans again only those that differ or were never planned (the
// config may have changed while ackd was down, and requests migrated from
// before wake-ups were stored are due at once). The new fingerprint is
// stored once a department is done, so a plan cut short starts over.
func (s *Scheduler) plan(ctx context.Context, rt *Runtime, depts []string) error {
	if rt != s.plannedFor {
		s.plannedFor, s.planned = rt, map[string]bool{}
	}
	var todo []string
	for _, key := range depts {
		if !s.planned[key] {
			todo = append(todo, key)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	stored, err := s.st.WakePlans(ctx)
	if err != nil {
		return fmt.Errorf("plan wake-ups: %w", err)
	}
	for _, key := range todo {
		d := rt.Department(key)
		if fp := lifecycle.PlanFingerprint(d); stored[key] != fp {
			n, err := s.rewake(ctx, d)
			if err != nil {
				return err
			}
			if err := s.st.SetWakePlan(ctx, key, fp); err != nil {
				return fmt.Errorf("plan wake-ups: %w", err)
			}
			s.replanned.Add(1)
			s.log.Info("planned wake-ups under a changed configuration", "dept", d.Name, "changed", n)
		}
		s.planned[key] = true
	}
	return nil
}

// rewake computes the next wake-up of every open request of d again, a
// page at a time, and stores those that differ; it returns how many. It
// reads each open request of d once, holding one page.
func (s *Scheduler) rewake(ctx context.Context, d *config.Department) (int, error) {
	after, changed := int64(0), 0
	for {
		page, err := s.st.OpenRequestsAfter(ctx, d.Key(), after, dueBatch)
		if err != nil {
			return changed, fmt.Errorf("plan wake-ups of %s: %w", d.Name, err)
		}
		for _, r := range page {
			want := nextWake(d, r)
			if want.Equal(r.NextWake) {
				continue
			}
			_, err := s.st.Apply(ctx, store.Change{RequestID: r.ID, Version: r.Version, Update: func(q *store.Request) ([]store.NewMail, error) {
				q.NextWake = want
				return nil, nil
			}})
			if err != nil && !errors.Is(err, store.ErrStale) { // stale: its writer stored a fresh one
				return changed, fmt.Errorf("plan wake-up of %s: %w", r.Ref, err)
			}
			changed++
		}
		if len(page) < dueBatch {
			return changed, nil
		}
		after = page[len(page)-1].ID
	}
}
