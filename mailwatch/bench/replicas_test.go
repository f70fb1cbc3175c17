package bench_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

var (
	replDepts      = flag.Int("bench.replicas.depts", 20, "departments of BenchmarkReplicas")
	replBacklog    = flag.Int("bench.replicas.backlog", 1000, "requests waiting over all departments when ackd starts (BenchmarkReplicas)")
	replRequesters = flag.Int("bench.replicas.requesters", 20, "distinct requesters per department (BenchmarkReplicas)")
	replLatency    = flag.Int("bench.replicas.latency", 100, "requests sent one at a time, round robin over departments (BenchmarkReplicas)")
	replTTL        = flag.Duration("bench.replicas.ttl", 15*time.Second, "ha.lease_ttl of the two replicas (BenchmarkReplicas)")
)

// replPoll is how every department of BenchmarkReplicas watches its
// INBOX: Dovecot holds IDLE notifications back 500 ms (docs/performance.md),
// which would swamp the difference the benchmark is after.
var replPoll = watchMode{idle: false, poll: 100 * time.Millisecond}

// BenchmarkReplicas compares one ackd on SQLite with two ackd replicas
// (ha:) on one PostgreSQL database, both with the same departments on the
// real stack: a backlog delivered before start, then latency of requests
// sent one at a time. Run it with `scripts/bench replicas`.
func BenchmarkReplicas(b *testing.B) {
	s := requireStack(b)
	if os.Getenv("ACKD_TEST_POSTGRES") == "" {
		b.Fatal("BenchmarkReplicas needs PostgreSQL: run `scripts/pgstack start && eval \"$(scripts/pgstack env)\"`")
	}
	bin := buildAckd(b)
	var results []replicasResult
	b.Run("sqlite-1", func(b *testing.B) {
		r := runReplicas(b, s, bin, 1)
		r.print(os.Stdout)
		r.report(b)
		results = append(results, r)
	})
	b.Run("postgres-2", func(b *testing.B) {
		r := runReplicas(b, s, bin, 2)
		r.print(os.Stdout)
		r.report(b)
		results = append(results, r)
	})
	if len(results) == 2 {
		printSideBySide(os.Stdout, results[0], results[1])
	}
}

type replicasResult struct {
	name                 string
	depts, n, requesters int
	load                 [3]string // before, after the backlog, after the latency phase
	appendTime           time.Duration
	ready, delivered     time.Duration // from starting the (first) process
	latency              summary
	samples              int
	leases               map[string]int // holder → departments held at the end
	acked, sent          []int          // per process: requests acknowledged, mails sent
	acquisitions         int            // leases taken, as logged by the processes
}

func (r replicasResult) rate() float64 { return rate(r.n, r.delivered) }

func (r replicasResult) report(b *testing.B) {
	b.ReportMetric(r.rate(), "receipts/s")
	b.ReportMetric(r.delivered.Seconds(), "backlog-s")
	b.ReportMetric(ms(r.latency.p50), "p50-ms")
	b.ReportMetric(ms(r.latency.p99), "p99-ms")
}

func (r replicasResult) print(w *os.File) {
	fmt.Fprintf(w, "%s: %d departments, ackd watching with %v\n", r.name, r.depts, replPoll)
	fmt.Fprintf(w, "  backlog: %d requests from %d requesters per department APPENDed in %.1f s; load average %s -> %s\n",
		r.n, r.requesters, r.appendTime.Seconds(), r.load[0], r.load[1])
	fmt.Fprintf(w, "  from process start: ready %.2f s, all %d receipts delivered %.2f s: %.1f receipts/s end to end\n",
		r.ready.Seconds(), r.n, r.delivered.Seconds(), r.rate())
	fmt.Fprintf(w, "  latency, %d requests one at a time round robin over departments, SMTP acceptance -> receipt in INBOX: %s (load %s)\n",
		r.samples, r.latency, r.load[2])
	fmt.Fprintf(w, "  per process: acknowledged %v, mails sent %v\n", r.acked, r.sent)
	if r.leases != nil {
		fmt.Fprintf(w, "  leases at the end (holder: departments): %s; lease acquisitions logged %d\n", leaseSplit(r.leases), r.acquisitions)
	}
}

func leaseSplit(m map[string]int) string {
	var parts []string
	for h, n := range m {
		parts = append(parts, fmt.Sprintf("%s: %d", h, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func printSideBySide(w *os.File, a, b replicasResult) {
	fmt.Fprintf(w, "\n=== replicas, side by side (%d departments, backlog %d, %d latency requests, %v)\n", a.depts, a.n, a.samples, replPoll)
	fmt.Fprintf(w, "%-34s %18s %18s\n", "", a.name, b.name)
	fmt.Fprintf(w, "%-34s %18.1f %18.1f\n", "backlog receipts/s end to end", a.rate(), b.rate())
	fmt.Fprintf(w, "%-34s %18.2f %18.2f\n", "backlog all delivered (s)", a.delivered.Seconds(), b.delivered.Seconds())
	fmt.Fprintf(w, "%-34s %18.1f %18.1f\n", "latency p50 (ms)", ms(a.latency.p50), ms(b.latency.p50))
	fmt.Fprintf(w, "%-34s %18.1f %18.1f\n", "latency p90 (ms)", ms(a.latency.p90), ms(b.latency.p90))
	fmt.Fprintf(w, "%-34s %18.1f %18.1f\n", "latency p99 (ms)", ms(a.latency.p99), ms(b.latency.p99))
	fmt.Fprintf(w, "%-34s %18.1f %18.1f\n", "latency max (ms)", ms(a.latency.max), ms(b.latency.max))
	fmt.Fprintf(w, "%-34s %18s %18s\n", "leases at the end", "-", leaseSplit(b.leases))
}

// runReplicas runs one setup: replicas == 1 is one ackd on SQLite,
// replicas == 2 two ackd with ha: on a fresh PostgreSQL database.
func runReplicas(tb testing.TB, s *mailstack.Stack, bin string, replicas int) replicasResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	nd, nr, n := *replDepts, *replRequesters, *replBacklog
	r := replicasResult{name: "sqlite, 1 ackd", depts: nd, n: n, requesters: nr, load: [3]string{loadavg()}}
	if replicas > 1 {
		r.name = fmt.Sprintf("postgres, %d replicas", replicas)
	}
	run := token(tb, 8)
	depts := make([]string, nd)
	for j := range depts {
		depts[j] = fmt.Sprintf("rd%s-%02d@%s", run, j, mailstack.Domain)
	}
	// Requester k writes to department k mod nd, so request i goes from
	// requester i mod (nd*nr) to department i mod nd: nr distinct
	// requesters per department, and checkCounts' round robin holds.
	requesters := make([]string, nd*nr)
	for k := range requesters {
		requesters[k] = fmt.Sprintf("rq%s-%03d@%s", run, k, mailstack.Domain)
	}
	start := time.Now()
	if err := appendSpread(ctx, s, depts, requesters, n); err != nil {
		tb.Fatal(err)
	}
	r.appendTime = time.Since(start)

	var dsn string
	var db *sql.DB
	if replicas > 1 {
		dsn, db = benchDB(tb)
	}
	secret := filepath.Join(tb.TempDir(), "imap-password")
	if err := os.WriteFile(secret, []byte(mailstack.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	cfgs := make([]string, replicas)
	for i := range cfgs {
		dir := tb.TempDir()
		storeCfg := fmt.Sprintf("backfill: 1h\nstore: {driver: sqlite, dsn: %s}\n", filepath.Join(dir, "ackd.db"))
		if replicas > 1 {
			storeCfg = fmt.Sprintf("backfill: 1h\nstore: {driver: postgres, dsn: %q, password_env: ACKD_TEST_POSTGRES_PASSWORD}\nha: {replica_id: replica-%c, lease_ttl: %s}\n",
				dsn, 'a'+i, *replTTL)
		}
		cfgs[i] = filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(cfgs[i], []byte(storeCfg+replicasConfig(tb, s, depts, secret)), 0o600); err != nil {
			tb.Fatal(err)
		}
	}

	pl := followPostfixLog(tb, s, "to=<rq"+run+"-")
	ds := make([]*daemon, replicas)
	for i := range ds {
		ds[i] = startAckd(tb, bin, cfgs[i])
	}
	first := ds[0].started
	// Ready: every department watched by one of the processes.
	if err := waitTotal(ctx, ds, "watching mailbox", nd, time.Minute); err != nil {
		tb.Fatal(err)
	}
	r.ready = time.Since(first)
	delivered, err := pl.waitSent(wait(ctx, 4*time.Minute), n)
	if err != nil {
		tb.Fatal(err)
	}
	r.delivered = delivered.Sub(first)
	r.load[1] = loadavg()
	if err := checkCounts(ctx, s, requesters, n); err != nil {
		tb.Fatal(err)
	}

	// Latency: one requester, one request at a time, round robin.
	lat := fmt.Sprintf("rl%s@%s", run, mailstack.Domain)
	in, err := watchInbox(ctx, s, lat)
	if err != nil {
		tb.Fatal(err)
	}
	defer in.close()
	var samples []time.Duration
	for i := 0; i <= *replLatency; i++ {
		dept := depts[i%nd]
		accepted, err := s.SendAccepted(ctx, lat, dept, request(lat, dept, n+i))
		if err != nil {
			tb.Fatal(err)
		}
		arrived, err := in.waitFor(wait(ctx, 30*time.Second), i+1)
		if err != nil {
			tb.Fatalf("latency receipt %d (department %s): %v", i+1, dept, err)
		}
		if i > 0 { // the first is a warm-up
			samples = append(samples, arrived.Sub(accepted))
		}
	}
	r.samples = len(samples)
	r.latency = summarize(samples)
	r.load[2] = loadavg()

	var acked int
	for _, d := range ds {
		r.acked = append(r.acked, d.count("request acknowledged"))
		r.sent = append(r.sent, d.count("mail sent"))
		r.acquisitions += d.count("lease taken; watching the department")
		acked += d.count("request acknowledged")
	}
	if want := n + *replLatency + 1; acked != want {
		tb.Errorf("the processes acknowledged %d requests in all, want %d", acked, want)
	}
	if db != nil {
		if r.leases, err = leaseHolders(ctx, db); err != nil {
			tb.Fatal(err)
		}
	}
	for _, d := range ds {
		d.stop(tb)
		if w := d.warnings(); len(w) > 0 {
			tb.Errorf("ackd logged %d warnings or errors, first: %s", len(w), w[0])
		}
	}
	return r
}

// waitTotal waits until the processes together logged msg n times.
func waitTotal(ctx context.Context, ds []*daemon, msg string, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		total := 0
		var wakes []chan struct{}
		for _, d := range ds {
			d.mu.Lock()
			total += len(d.events[msg])
			wakes = append(wakes, d.wake)
			d.mu.Unlock()
		}
		if total >= n {
			return nil
		}
		// Any process's next log line is a reason to count again; the
		// short tick covers the other processes' wake channels.
		select {
		case <-ctx.Done():
			return fmt.Errorf("the processes logged %q %d times, want %d: %w", msg, total, n, ctx.Err())
		case <-wakes[0]:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// appendSpread stores request i, from requesters[i mod len], in the INBOX
// of depts[i mod len(depts)], one IMAP session per department.
func appendSpread(ctx context.Context, s *mailstack.Stack, depts, requesters []string, n int) error {
	for j, dept := range depts {
		sess, err := s.Login(ctx, dept, mailstack.Plain, nil)
		if err != nil {
			return err
		}
		for i := j; i < n; i += len(depts) {
			raw := request(requesters[i%len(requesters)], dept, i)
			cmd := sess.Append("INBOX", int64(len(raw)), nil)
			_, werr := cmd.Write(raw)
			cerr := cmd.Close()
			if _, err := cmd.Wait(); err != nil || werr != nil || cerr != nil {
				sess.Close()
				return fmt.Errorf("append request %d to %s: %w", i, dept, errors.Join(err, werr, cerr, ctx.Err()))
			}
		}
		sess.Close()
	}
	return nil
}

// replicasConfig is everything of the config but the store: depts on the
// stack, polling every replPoll, limits out of the way.
func replicasConfig(tb testing.TB, s *mailstack.Stack, depts []string, secret string) string {
	ih, ip := splitAddr(tb, s.IMAPAddr)
	sh, sp := splitAddr(tb, s.SMTPAddr)
	var b strings.Builder
	fmt.Fprintf(&b, `smtp: {host: %s, port: %s, tls: starttls, ca_file: %s}
http: {listen: ""}
limits: {per_sender_per_hour: 1000000, global_per_minute: 1000000}
departments:
`, sh, sp, s.CAFile)
	for j, d := range depts {
		fmt.Fprintf(&b, `  - name: Dept %02d
    address: %s
    imap: {host: %s, port: %s, tls: starttls, ca_file: %s, username: %q, password_file: %s, mailbox: INBOX, idle: %t, poll_interval: %s, discover_sent: false}
    staff: [staff@%s]
    allowed_senders: ["*@%s"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h}
      hardware: {commitment: 2d}
      default: {commitment: 3d}
    rules:
      - {name: password, match: {subject: [password, locked out]}, category: access}
      - {name: hardware, match: {subject: [printer, laptop, monitor]}, category: hardware}
`, j, d, ih, ip, s.CAFile, d, secret, replPoll.idle, replPoll.poll, mailstack.Domain, mailstack.Domain)
	}
	return b.String()
}

// benchDB creates a fresh PostgreSQL database on the test server, migrates
// it once (so the replicas do not race to create the schema) and drops it
// at the end.
func benchDB(tb testing.TB) (string, *sql.DB) {
	tb.Helper()
	base := os.Getenv("ACKD_TEST_POSTGRES")
	password := os.Getenv("ACKD_TEST_POSTGRES_PASSWORD")
	open := func(dsn string) *sql.DB {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			tb.Fatalf("parse ACKD_TEST_POSTGRES: %v", err)
		}
		cfg.Password = password
		db := stdlib.OpenDB(*cfg)
		tb.Cleanup(func() { _ = db.Close() })
		return db
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	name := "ackd_bench_" + hex.EncodeToString(rnd[:])
	admin := open(base)
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		tb.Fatalf("create bench database: %v", err)
	}
	tb.Cleanup(func() {
		// The replicas have exited, but their backends may not have yet,
		// and WITH (FORCE) is refused for backends the server counts as
		// another role's: retry for a while before giving up.
		var err error
		for range 40 {
			if _, err = admin.Exec(`DROP DATABASE IF EXISTS ` + name); err == nil {
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
		tb.Errorf("drop bench database %s: %v", name, err)
	})
	u, err := url.Parse(base)
	if err != nil || !strings.HasPrefix(base, "postgres") {
		tb.Fatalf("ACKD_TEST_POSTGRES must be a postgres:// URL: %v", err)
	}
	u.Path = "/" + name
	dsn := u.String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := store.OpenOptions(ctx, "postgres", dsn, store.Options{Password: password})
	if err != nil {
		tb.Fatalf("migrate the bench database: %v", err)
	}
	if err := st.Close(); err != nil {
		tb.Fatal(err)
	}
	return dsn, open(dsn)
}

// leaseHolders counts the live leases per holder.
func leaseHolders(ctx context.Context, db *sql.DB) (map[string]int, error) {
	rows, err := db.QueryContext(ctx, `SELECT holder FROM leases WHERE expires_at > $1`, time.Now().UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("read leases: %w", err)
		}
		out[h]++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read leases: %w", err)
	}
	return out, nil
}
