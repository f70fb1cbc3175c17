package mailwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// countingStore counts the requests a scheduler reads, by query.
type countingStore struct {
	store.Store
	open, due, after atomic.Int64
}

func (c *countingStore) OpenRequests(ctx context.Context, dept string) ([]store.Request, error) {
	rs, err := c.Store.OpenRequests(ctx, dept)
	c.open.Add(int64(len(rs)))
	return rs, err
}

func (c *countingStore) DueRequests(ctx context.Context, depts []string, now time.Time, limit int) ([]store.Request, error) {
	rs, err := c.Store.DueRequests(ctx, depts, now, limit)
	c.due.Add(int64(len(rs)))
	return rs, err
}

func (c *countingStore) OpenRequestsAfter(ctx context.Context, dept string, after int64, limit int) ([]store.Request, error) {
	rs, err := c.Store.OpenRequestsAfter(ctx, dept, after, limit)
	c.after.Add(int64(len(rs)))
	return rs, err
}

func (c *countingStore) reset() { c.open.Store(0); c.due.Store(0); c.after.Store(0) }

// TestSchedulerLoadsOnlyDueRequests: with many open requests and one
// step due, a pass reads that one request; with nothing due, none. The
// old scheduler read every open request on every pass (issue 12: 750 ms
// of CPU per new request with 100,000 open).
func TestSchedulerLoadsOnlyDueRequests(t *testing.T) {
	w := newWorld(t)
	// 40 default (3d) requests: nothing due for days.
	for i := range 40 {
		w.deliver(at("2026-12-01 09:00").Add(time.Duration(i)*time.Minute), jane, dept, "", fmt.Sprintf("Printer %d", i), "", "It jams.")
	}
	// One access request: its 50% step is at 12:00.
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.queued()
	cs := &countingStore{Store: w.st}
	w.sched = NewScheduler(cs, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))

	// The first pass plans every open request once, a page at a time (a
	// start may come with another configuration).
	fired, next := w.tick(at("2026-12-01 11:00"))
	if fired != 0 || !next.Equal(at("2026-12-01 12:00")) {
		t.Fatalf("11:00: fired %d, next %v; want nothing, next at 12:00", fired, next.In(berlin))
	}
	if cs.open.Load() != 0 {
		t.Errorf("first pass read %d requests with OpenRequests; want none", cs.open.Load())
	}
	cs.reset()
	// Idle: nothing due, nothing read.
	if fired, _ := w.tick(at("2026-12-01 11:30")); fired != 0 {
		t.Fatalf("11:30: fired %d", fired)
	}
	if n := cs.open.Load() + cs.due.Load() + cs.after.Load(); n != 0 {
		t.Errorf("idle pass read %d requests; want 0", n)
	}
	// The step: exactly the one due request is read.
	if fired, _ := w.tick(at("2026-12-01 12:00")); fired != 1 {
		t.Fatalf("12:00: fired %d, want the 50%% step", fired)
	}
	if n := cs.open.Load() + cs.after.Load(); n != 0 || cs.due.Load() != 1 {
		t.Errorf("pass with one step due read %d due and %d other requests; want 1 and 0", cs.due.Load(), n)
	}
	w.expectMails("50% step", "escalation→alice@example.test,bob@example.test")
}

// TestSchedulerReplansAfterReload: wake-ups are stored, so a reload that
// moves a ladder step earlier must compute them again; the step fires at
// its new time, not the stored one.
func TestSchedulerReplansAfterReload(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.expectMails("receipt", "receipt→jane@example.test")
	if _, next := w.tick(at("2026-12-01 10:30")); !next.Equal(at("2026-12-01 12:00")) {
		t.Fatalf("next wake-up %v, want 12:00 (50%% of 4h)", next.In(berlin))
	}
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.yaml"), []byte(
		strings.Replace(lifecycleConfig, "{at: 50%, to: staff}", "{at: 25%, to: staff}", 1)))
	if err != nil {
		t.Fatal(err)
	}
	rt := *w.rt
	rt.Config = cfg
	w.rt = &rt
	fired, next := w.tick(at("2026-12-01 10:45"))
	if fired != 0 || !next.Equal(at("2026-12-01 11:00")) {
		t.Errorf("after reload: fired %d, next %v; want the 25%% step at 11:00", fired, next.In(berlin))
	}
	if fired, _ := w.tick(at("2026-12-01 11:00")); fired != 1 {
		t.Errorf("11:00: fired %d, want the 25%% step", fired)
	}
	w.expectMails("25% step", "escalation→alice@example.test,bob@example.test")
}

// TestSchedulerWakesMigratedRequests: a request stored before wake-ups
// were (the 0008 migration marks it "plan at once", as does a
// NewRequest without one) is planned on the first pass and fires on time.
func TestSchedulerWakesMigratedRequests(t *testing.T) {
	w := newWorld(t)
	w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	w.expectMails("receipt", "receipt→jane@example.test")
	r := w.request("REQ-1")
	if _, err := w.st.Apply(context.Background(), store.Change{RequestID: r.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
		q.NextWake = time.UnixMilli(0)
		return nil, nil
	}}); err != nil {
		t.Fatal(err)
	}
	w.sched = NewScheduler(w.st, func() *Runtime { return w.rt }, func() time.Time { return w.now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if fired, next := w.tick(at("2026-12-01 10:30")); fired != 0 || !next.Equal(at("2026-12-01 12:00")) {
		t.Errorf("first pass: fired %d, next %v; want nothing, next 12:00", fired, next.In(berlin))
	}
	if got := w.request("REQ-1").NextWake; !got.Equal(at("2026-12-01 12:00")) {
		t.Errorf("stored wake-up %v, want 12:00", got.In(berlin))
	}
}

// twoDeptConfig is two departments; edit changes the YAML of the second.
func twoDeptConfig(t *testing.T, edit func(string) string) *config.Config {
	t.Helper()
	dept := func(name, addr string) string {
		return fmt.Sprintf(`  - name: %s
    address: %s
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: %[2]s, password_file: pw}
    staff: [alice@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "09:00-17:00"}
    categories:
      access: {commitment: 4h, escalate: [{at: 50%%, to: staff}]}
      default: {commitment: 3d, escalate: [{at: 50%%, to: staff}]}
    rules:
      - name: password
        match: {subject: [password]}
        category: access
`, name, addr)
	}
	y := "store: {driver: sqlite, dsn: ackd.db}\nsmtp: {host: 127.0.0.1, port: 2525, tls: none}\ndepartments:\n" +
		dept("IT Help Desk", "it-help@example.test") + edit(dept("Payroll", "payroll@example.test"))
	cfg, err := config.Parse(filepath.Join(t.TempDir(), "config.yaml"), []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestSchedulerPlansOnlyChangedDepartments: every start and reload used
// to compute every open request's wake-up again (2.7 s with 100,000
// open). Now a department's stored wake-ups are planned again only when
// what they depend on changed: a second start with the same configuration
// plans nothing and reads no request; a changed commitment, ladder or
// calendar plans that department alone.
func TestSchedulerPlansOnlyChangedDepartments(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := at("2026-12-01 09:00")
	same := func(s string) string { return s }
	cfg := twoDeptConfig(t, same)
	const perDept = 30
	for i := range 2 * perDept {
		d := cfg.Departments[i%2]
		received := now.Add(-time.Duration(i) * time.Minute)
		if _, err := st.RecordRequest(ctx, store.NewRequest{Dept: d.Key(), MessageKey: fmt.Sprintf("<k%d@x>", i), MessageID: fmt.Sprintf("<k%d@x>", i),
			Requester: "jane@example.test", Subject: "Printer", Category: "default", ReceivedAt: received,
			DueAt: d.Calendar.Due(received, d.Categories["default"].Commitment)}, func(string) ([]store.NewMail, error) { return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	cs := &countingStore{Store: st}
	// start runs a fresh scheduler's first pass under cfg, as ackd's start
	// does, and returns how many departments it planned.
	start := func(cfg *config.Config) int64 {
		t.Helper()
		cs.reset()
		rt := &Runtime{Config: cfg, Templates: templates.Default()}
		s := NewScheduler(cs, func() *Runtime { return rt }, func() time.Time { return now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, _, err := s.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		return s.replanned.Load()
	}
	check := func(name string, cfg *config.Config, wantDepts, wantRead int64) {
		t.Helper()
		if got := start(cfg); got != wantDepts || cs.after.Load() != wantRead {
			t.Errorf("%s: planned %d departments reading %d requests; want %d reading %d", name, got, cs.after.Load(), wantDepts, wantRead)
		}
	}
	check("first start", cfg, 2, 2*perDept)
	check("second start, same configuration", twoDeptConfig(t, same), 0, 0)
	check("renamed staff only", twoDeptConfig(t, func(s string) string { return strings.Replace(s, "alice@", "carol@", 1) }), 0, 0)
	check("Payroll's default commitment changed", twoDeptConfig(t, func(s string) string { return strings.Replace(s, "commitment: 3d", "commitment: 4d", 1) }), 1, perDept)
	check("Payroll's ladder changed", twoDeptConfig(t, func(s string) string {
		return strings.Replace(s, "default: {commitment: 3d, escalate: [{at: 50%", "default: {commitment: 3d, escalate: [{at: 60%", 1)
	}), 1, perDept)
	check("Payroll's hours changed", twoDeptConfig(t, func(s string) string { return strings.Replace(s, "09:00-17:00", "08:00-17:00", 1) }), 1, perDept)
	check("back to the first configuration", cfg, 1, perDept)

	// A reload with the same settings (a new Runtime, as SIGHUP builds)
	// plans nothing either.
	rt := &Runtime{Config: cfg, Templates: templates.Default()}
	s := NewScheduler(cs, func() *Runtime { return rt }, func() time.Time { return now }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, _, err := s.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	cs.reset()
	rt = &Runtime{Config: twoDeptConfig(t, same), Templates: templates.Default()}
	if _, _, err := s.RunOnce(ctx); err != nil || s.replanned.Load() != 0 || cs.after.Load() != 0 {
		t.Errorf("reload with the same settings: planned %d departments, read %d requests, %v; want none", s.replanned.Load(), cs.after.Load(), err)
	}
}
