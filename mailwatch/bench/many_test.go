package bench_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

var (
	manyN      = flag.Int("bench.many", 0, "open requests for TestManyOpenRequests (0 skips it; the issue's figure is 100000)")
	manyDepts  = flag.Int("bench.many-depts", 20, "departments the open requests are spread over")
	manyDue    = flag.Int("bench.many-due", 1000, "of them, requests whose escalation step falls due at once")
	manyNew    = flag.Int("bench.many-new", 50, "new requests processed to measure CPU per new request")
	manyIdle   = flag.Duration("bench.many-idle", 10*time.Second, "how long the idle CPU is measured")
	manySettle = flag.Duration("bench.many-settle", 8*time.Second, "how long the scheduler's own loop runs before idle CPU is measured (its first pass)")
	manyDB     = flag.String("bench.many-db", "", "built store to reuse (built there when missing): a SQLite file (default in a temp dir) or a PostgreSQL database name (default ackd_many_N)")
	manyDriver = flag.String("bench.many-driver", "sqlite", "store driver: sqlite, or postgres on the server ACKD_TEST_POSTGRES names (scripts/pgstack env)")
)

// manyT0 is the benchmark's "now": nothing is due then; at manyT1 the
// -bench.many-due urgent requests are.
var (
	manyT0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	manyT1 = manyT0.Add(time.Hour + 5*time.Second)
)

func manyConfig(tb testing.TB, depts int) *config.Config {
	tb.Helper()
	var b strings.Builder
	b.WriteString("store: {driver: sqlite, dsn: unused.db}\nsmtp: {host: 127.0.0.1, port: 2525, tls: none}\ndepartments:\n")
	for i := range depts {
		fmt.Fprintf(&b, `  - name: Dept %[1]d
    address: dept%[1]d@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: dept%[1]d@example.test, password_file: pw}
    staff: [staff%[1]d@example.test]
    leads: [lead%[1]d@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      urgent: {commitment: 4h, escalate: [{at: 50%%, to: staff}]}
      default: {commitment: 40d, escalate: [{at: 50%%, to: staff}, {at: 90%%, to: leads}]}
    rules:
      - name: urgent
        match: {subject: [urgent]}
        category: urgent
`, i)
	}
	cfg, err := config.Parse(filepath.Join(tb.TempDir(), "config.yaml"), []byte(b.String()))
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// manyOpen opens the store named by -bench.many-driver: a SQLite file at
// db, or the PostgreSQL database db on ACKD_TEST_POSTGRES's server.
func manyOpen(tb testing.TB, ctx context.Context, db string) store.Store {
	tb.Helper()
	opts := store.Options{Now: func() time.Time { return manyT0 }, QueryTimeout: 5 * time.Minute}
	dsn := db
	if *manyDriver == "postgres" {
		dsn, opts.Password = manyPGDSN(tb, db), os.Getenv("ACKD_TEST_POSTGRES_PASSWORD")
	}
	st, err := store.OpenOptions(ctx, *manyDriver, dsn, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return st
}

// manyPGDSN is ACKD_TEST_POSTGRES naming database name instead.
func manyPGDSN(tb testing.TB, name string) string {
	tb.Helper()
	base := os.Getenv("ACKD_TEST_POSTGRES")
	u, err := url.Parse(base)
	if base == "" || err != nil || !strings.HasPrefix(base, "postgres") {
		tb.Fatalf("-bench.many-driver postgres needs ACKD_TEST_POSTGRES, a postgres:// URL (eval \"$(scripts/pgstack env)\"): %q %v", base, err)
	}
	u.Path = "/" + name
	return u.String()
}

// manyPGAdmin connects to ACKD_TEST_POSTGRES's own database, to create
// and drop the benchmark's.
func manyPGAdmin(tb testing.TB) *sql.DB {
	tb.Helper()
	base := os.Getenv("ACKD_TEST_POSTGRES")
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		tb.Fatalf("parse ACKD_TEST_POSTGRES: %v", err)
	}
	cfg.Password = os.Getenv("ACKD_TEST_POSTGRES_PASSWORD")
	db := stdlib.OpenDB(*cfg)
	tb.Cleanup(func() { _ = db.Close() })
	return db
}

// manyCopy gives the measuring run its own copy of the built store and
// returns its name: a file copy for SQLite, a database created from the
// built one as template for PostgreSQL (dropped when the test ends).
func manyCopy(t *testing.T, built string) string {
	t.Helper()
	if *manyDriver != "postgres" {
		run := filepath.Join(t.TempDir(), "run.db")
		b, err := os.ReadFile(built)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(run, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return run
	}
	admin := manyPGAdmin(t)
	run := built + "_run"
	if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + run + ` WITH (FORCE)`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + run + ` TEMPLATE ` + built); err != nil {
		t.Fatalf("copy the built database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + run + ` WITH (FORCE)`); err != nil {
			t.Errorf("drop %s: %v", run, err)
		}
	})
	return run
}

// manyBuilt says whether the built store db exists.
func manyBuilt(t *testing.T, db string) bool {
	t.Helper()
	if *manyDriver != "postgres" {
		_, err := os.Stat(db)
		return err == nil
	}
	admin := manyPGAdmin(t)
	var n int
	if err := admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, db).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		return true
	}
	if _, err := admin.Exec(`CREATE DATABASE ` + db); err != nil {
		t.Fatalf("create %s: %v", db, err)
	}
	return false
}

// buildMany records n open requests over the departments of cfg through
// the store's own API: n-due ordinary ones received in the 15 days before
// manyT0 (a 40-day commitment: their first step is days away), and due
// urgent ones whose 50% step falls in the second before manyT1. Then one
// scheduler pass plans them (what the first start after an upgrade does).
func buildMany(tb testing.TB, ctx context.Context, path string, cfg *config.Config, n, due int) time.Duration {
	tb.Helper()
	start := time.Now()
	st := manyOpen(tb, ctx, path)
	defer st.Close()
	depts := cfg.Departments
	for i := range n {
		d := depts[i%len(depts)]
		cat, subject := "default", fmt.Sprintf("Printer %d jams", i)
		received := manyT0.Add(-time.Duration(i%(15*24*60)) * time.Minute)
		if i < due {
			cat, subject = "urgent", fmt.Sprintf("urgent: server %d down", i)
			received = manyT0.Add(-time.Hour + time.Duration(i)*time.Millisecond)
		}
		c := d.Categories[cat]
		_, err := st.RecordRequest(ctx, store.NewRequest{
			Dept: d.Key(), MessageKey: fmt.Sprintf("<many-%d@client.example.test>", i), MessageID: fmt.Sprintf("<many-%d@client.example.test>", i),
			Mailbox: "INBOX", UID: uint32(i + 1), Requester: fmt.Sprintf("user%d@example.test", i%3000), RequesterName: "User",
			Subject: subject, Category: cat, Rule: cat, ReceivedAt: received, DueAt: d.Calendar.Due(received, c.Commitment),
			Text: "It does not work; please have a look.", State: store.StateAcknowledged,
		}, func(string) ([]store.NewMail, error) { return nil, nil })
		if err != nil {
			tb.Fatalf("record request %d: %v", i, err)
		}
		if (i+1)%10000 == 0 {
			tb.Logf("built %d requests in %v", i+1, time.Since(start).Round(time.Second))
		}
	}
	rt := &mailwatch.Runtime{Config: cfg, Templates: templates.Default()}
	sched := mailwatch.NewScheduler(st, func() *mailwatch.Runtime { return rt }, func() time.Time { return manyT0 }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if _, fired, err := sched.RunOnce(ctx); err != nil || fired != 0 {
		tb.Fatalf("planning pass: fired %d, %v; want nothing due at T0", fired, err)
	}
	return time.Since(start)
}

// manyFigures is what the child process measures.
type manyFigures struct {
	Open, Ready       time.Duration // store open; first scheduler pass done
	ReadyCPU          time.Duration
	IdleCPU           time.Duration // over IdleWall
	IdleWall          time.Duration
	NewN              int
	CPUPerNew         time.Duration
	WallPerNew        time.Duration
	DueFired          int
	DueWall, DueCPU   time.Duration
	PeakRSS, HeapPeak uint64 // bytes
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vmHWM() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseUint(f[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// TestManyOpenRequests measures ackd's core with many open requests
// (issue 12): peak RSS, CPU per new request (the message processed into a
// recorded request, then the scheduler's pass the change kicks), one
// scheduler pass with -bench.many-due requests due at once, the time from
// start to ready (store open, first scheduler pass done), and idle CPU.
// The store is built once through its own API (RecordRequest) and copied
// for the measuring run, which is a fresh process so its RSS is its own.
//
//	go test ./mailwatch/bench -run TestManyOpenRequests -bench.many 100000 -v -timeout 60m
//
// -bench.many-driver postgres runs it on the PostgreSQL server that
// ACKD_TEST_POSTGRES names (eval "$(scripts/pgstack env)"): the built
// store is the database ackd_many_N, kept for later runs, and the
// measuring run gets a copy made with CREATE DATABASE … TEMPLATE. The RSS
// figure is then ackd's alone, not the server's.
func TestManyOpenRequests(t *testing.T) {
	if os.Getenv("ACKD_MANY_CHILD") != "" {
		manyChild(t)
		return
	}
	if *manyN == 0 {
		t.Skip("set -bench.many N (100000 for the figures of docs/performance.md)")
	}
	ctx := context.Background()
	cfg := manyConfig(t, *manyDepts)
	built := *manyDB
	switch {
	case built != "":
	case *manyDriver == "postgres":
		built = fmt.Sprintf("ackd_many_%d", *manyN)
	default:
		built = filepath.Join(t.TempDir(), "many.db")
	}
	if !manyBuilt(t, built) {
		d := buildMany(t, ctx, built, cfg, *manyN, *manyDue)
		t.Logf("built %d open requests in %s in %v", *manyN, built, d.Round(time.Second))
	}
	// The measuring run changes the store; it gets a copy. A scheduler
	// pass on the copy stands for the previous run of ackd: it records
	// the wake-up plans (on a store built before they were stored, it is
	// the full re-plan a first start after the upgrade does), so that the
	// measured start is one with an unchanged configuration.
	run := manyCopy(t, built)
	prep := time.Now()
	func() {
		st := manyOpen(t, ctx, run)
		defer st.Close()
		rt := &mailwatch.Runtime{Config: cfg, Templates: templates.Default()}
		sched := mailwatch.NewScheduler(st, func() *mailwatch.Runtime { return rt }, func() time.Time { return manyT0 }, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if _, fired, err := sched.RunOnce(ctx); err != nil || fired != 0 {
			t.Fatalf("previous run's pass: fired %d, %v", fired, err)
		}
	}()
	prepWall := time.Since(prep)
	args := []string{"-test.run", "^TestManyOpenRequests$", "-test.v", "-bench.many-driver", *manyDriver,
		"-bench.many-depts", strconv.Itoa(*manyDepts), "-bench.many-due", strconv.Itoa(*manyDue),
		"-bench.many-new", strconv.Itoa(*manyNew), "-bench.many-idle", manyIdle.String(), "-bench.many-settle", manySettle.String(),
		"-bench.many-db", run}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ACKD_MANY_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("measuring run: %v\n%s", err, out)
	}
	var f manyFigures
	for _, l := range strings.Split(string(out), "\n") {
		if j, ok := strings.CutPrefix(strings.TrimSpace(l), "MANY "); ok {
			if err := json.Unmarshal([]byte(j), &f); err != nil {
				t.Fatal(err)
			}
		}
	}
	backend := "SQLite"
	if *manyDriver == "postgres" {
		backend = "PostgreSQL"
	}
	mib := func(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	fmt.Printf("=== many open requests: %d over %d departments, %s\n", *manyN, *manyDepts, backend)
	fmt.Printf("peak RSS (VmHWM) of the measuring process: %s (target ≤ 150 MB)\n", mib(f.PeakRSS))
	fmt.Printf("peak Go heap in use:                       %s\n", mib(f.HeapPeak))
	fmt.Printf("CPU per new request (process + scheduler pass): %v (wall %v; %d requests; target ≤ 20 ms)\n", f.CPUPerNew.Round(10*time.Microsecond), f.WallPerNew.Round(10*time.Microsecond), f.NewN)
	fmt.Printf("scheduler pass with %d due at once: %v wall, %v CPU, %d fired\n", *manyDue, f.DueWall.Round(time.Millisecond), f.DueCPU.Round(time.Millisecond), f.DueFired)
	fmt.Printf("start to ready, configuration unchanged (store open %v, first scheduler pass done): %v wall, %v CPU (target ≤ 3 s)\n", f.Open.Round(time.Millisecond), f.Ready.Round(time.Millisecond), f.ReadyCPU.Round(time.Millisecond))
	fmt.Printf("(before: the previous run's pass on the copy, open + plan: %v)\n", prepWall.Round(time.Millisecond))
	fmt.Printf("idle CPU, nothing due, scheduler running: %v over %v (%.3f%% of a core)\n", f.IdleCPU.Round(time.Millisecond), f.IdleWall, 100*f.IdleCPU.Seconds()/f.IdleWall.Seconds())
}

// manyChild is the measuring process.
func manyChild(t *testing.T) {
	ctx := context.Background()
	var f manyFigures
	var heapPeak uint64
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heapPeak = max(heapPeak, ms.HeapInuse)
	}
	clock := manyT0
	now := func() time.Time { return clock }
	start, cpu0 := time.Now(), cpuTime()
	cfg := manyConfig(t, *manyDepts)
	st := manyOpen(t, ctx, *manyDB)
	defer st.Close()
	f.Open = time.Since(start)
	rt := &mailwatch.Runtime{Config: cfg, Templates: templates.Default()}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sched := mailwatch.NewScheduler(st, func() *mailwatch.Runtime { return rt }, now, nil, log)
	proc := mailwatch.NewProcessor(st, func() *mailwatch.Runtime { return rt }, now, nil, sched.Kick, log)
	if _, fired, err := sched.RunOnce(ctx); err != nil || fired != 0 {
		t.Fatalf("first pass: fired %d, %v", fired, err)
	}
	f.Ready, f.ReadyCPU = time.Since(start), cpuTime()-cpu0
	sample()

	// Idle: the scheduler's own loop, nothing due, nobody kicking.
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = sched.Run(runCtx); close(done) }()
	time.Sleep(*manySettle) // its first pass
	sample()
	c, w := cpuTime(), time.Now()
	time.Sleep(*manyIdle)
	f.IdleCPU, f.IdleWall = cpuTime()-c, time.Since(w).Round(time.Millisecond)
	stop()
	<-done

	// New requests, each processed and followed by the pass it kicks.
	f.NewN = *manyNew
	c, w = cpuTime(), time.Now()
	for i := range f.NewN {
		d := cfg.Departments[i%len(cfg.Departments)]
		raw := fmt.Sprintf("From: New User <new%d@example.test>\r\nTo: %s\r\nSubject: Monitor %d flickers\r\nMessage-ID: <new-%d@client.example.test>\r\nContent-Type: text/plain\r\n\r\nIt flickers.\r\n", i, d.Address, i, i)
		o, err := proc.Process(ctx, d.Key(), mailwatch.Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: uint32(1_000_000 + i), InternalDate: manyT0, Raw: []byte(raw), Size: int64(len(raw))})
		if err != nil || o.Action != "receipt" {
			t.Fatalf("new request %d: %+v, %v", i, o, err)
		}
		if _, _, err := sched.RunOnce(ctx); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			sample()
		}
	}
	if f.NewN > 0 {
		f.CPUPerNew = (cpuTime() - c) / time.Duration(f.NewN)
		f.WallPerNew = time.Since(w) / time.Duration(f.NewN)
	}

	// Many due at once.
	clock = manyT1
	c, w = cpuTime(), time.Now()
	_, fired, err := sched.RunOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f.DueFired, f.DueWall, f.DueCPU = fired, time.Since(w), cpuTime()-c
	sample()
	f.PeakRSS, f.HeapPeak = vmHWM(), heapPeak
	j, _ := json.Marshal(f)
	fmt.Printf("MANY %s\n", j)
}
