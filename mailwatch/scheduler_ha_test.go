package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// snapshotBarrier holds each scheduler's first DueRequests until both
// have read theirs, so two replicas plan from the same snapshot: the race
// a lease handover can cause (the old holder's last pass beside the new
// holder's first).
type snapshotBarrier struct {
	store.Store
	both  *sync.WaitGroup
	first atomic.Bool
}

func (b *snapshotBarrier) DueRequests(ctx context.Context, depts []string, now time.Time, limit int) ([]store.Request, error) {
	rs, err := b.Store.DueRequests(ctx, depts, now, limit)
	if b.first.CompareAndSwap(false, true) {
		b.both.Done()
		b.both.Wait()
	}
	return rs, err
}

func TestTwoSchedulersFireAStepOnce(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.expectMails("receipt", "receipt→jane@example.test")

	var both sync.WaitGroup
	both.Add(2)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := func() time.Time { return at("2026-12-01 12:00") } // the 50% step
	var scheds []*Scheduler
	for range 2 {
		scheds = append(scheds, NewScheduler(&snapshotBarrier{Store: w.st, both: &both}, func() *Runtime { return w.rt }, now, nil, log))
	}
	fired := make([]int, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, s := range scheds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, fired[i], errs[i] = s.RunOnce(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("scheduler %d: %v", i, err)
		}
	}
	if fired[0]+fired[1] != 1 {
		t.Errorf("fired %v, want the step fired by exactly one scheduler", fired)
	}
	w.expectMails("50% step", "escalation→alice@example.test,bob@example.test")
	n := 0
	for _, k := range w.events("REQ-1") {
		if k == store.EventEscalated {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d escalation events, want 1", n)
	}
}

func TestSchedulerOnlyOwnedDepartments(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.expectMails("receipt", "receipt→jane@example.test")
	var owned atomic.Bool
	w.sched = NewScheduler(w.st, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnlyDepartments(func(d string) bool { return d == "it-help@example.test" && owned.Load() }))
	if fired, next := w.tick(at("2026-12-01 12:00")); fired != 0 || !next.IsZero() {
		t.Errorf("not owned: fired %d, next %v; want nothing", fired, next)
	}
	w.expectMails("not owned")
	owned.Store(true)
	if fired, _ := w.tick(at("2026-12-01 12:00")); fired != 1 {
		t.Errorf("owned: fired %d, want the 50%% step", fired)
	}
	w.expectMails("owned", "escalation→alice@example.test,bob@example.test")
}

func TestDigesterOnlyOwnedDepartments(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	it, hr := digestDept(t, "IT", false), digestDept(t, "HR", false)
	rt := &Runtime{Config: &config.Config{Departments: []*config.Department{it, hr}}, Templates: templates.Default()}
	var owned sync.Map
	now := time.Date(2026, 3, 13, 9, 0, 0, 0, time.UTC) // a Friday, after 08:30
	g := NewDigester(st, func() *Runtime { return rt }, func() time.Time { return now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnlyDepartments(func(d string) bool { _, ok := owned.Load(d); return ok }))
	depts := func() map[string]int {
		due, err := st.DueMail(ctx, time.Now().Add(time.Hour), 10)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, m := range due {
			out[m.Dept]++
		}
		return out
	}
	for _, step := range []struct {
		own            string
		queued         int
		wantIT, wantHR int
	}{
		{"", 0, 0, 0},
		{"hr@example.test", 1, 0, 1},
		{"it@example.test", 1, 1, 1},
	} {
		if step.own != "" {
			owned.Store(step.own, true)
		}
		_, queued, err := g.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := depts()
		if queued != step.queued || got["it@example.test"] != step.wantIT || got["hr@example.test"] != step.wantHR {
			t.Errorf("owning %q more: queued %d, outbox %v; want %d, IT %d HR %d", step.own, queued, got, step.queued, step.wantIT, step.wantHR)
		}
	}
}
