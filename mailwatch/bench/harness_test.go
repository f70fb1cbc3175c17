package bench_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/ackd/ackd/internal/mailstack"
)

// requireStack returns the running stack or fails: unlike the end-to-end
// tests, a benchmark without the stack has nothing to measure, and a skip
// would print no figures and look like success.
func requireStack(tb testing.TB) *mailstack.Stack {
	tb.Helper()
	if _, err := mailstack.FromEnv(os.Getenv); err != nil {
		tb.Fatalf("the benchmark needs the real mail stack: %v\n"+
			"start it with `scripts/mailstack start && eval \"$(scripts/mailstack env)\"`, or run scripts/bench", err)
	}
	// The shared lock keeps fault tests of other packages from restarting
	// the servers under the benchmark.
	return mailstack.Require(tb)
}

// buildAckd compiles cmd/ackd into a temporary directory, so the daemon
// runs as its own process and its memory can be read from /proc.
func buildAckd(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "ackd")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/ackd/ackd/cmd/ackd").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build ./cmd/ackd: %v\n%s", err, out)
	}
	return bin
}

// token returns n random hex digits, to tell this run's addresses apart
// in the shared Postfix log.
func token(tb testing.TB, n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		tb.Fatalf("random token: %v", err)
	}
	return hex.EncodeToString(b)[:n]
}

// deployment is one department's config on disk.
type deployment struct {
	dir    string
	config string
	dept   string
}

// watchMode is how ackd waits for new mail: IDLE, or a NOOP every poll,
// and whether Dovecot pushes new mail to ackd's push: endpoint as well.
type watchMode struct {
	idle bool
	poll time.Duration
	push bool
}

var (
	idleMode = watchMode{idle: true, poll: 5 * time.Minute}
	// fastPoll is the alternative measured beside IDLE: Dovecot reports
	// new mail on NOOP at once, but holds IDLE notifications back.
	fastPoll = watchMode{idle: false, poll: 50 * time.Millisecond}
	// pushMode: Dovecot's push_notification plugin wakes ackd, IDLE stays
	// on as the safety net (the recommended setup on Dovecot).
	pushMode = watchMode{idle: true, poll: 5 * time.Minute, push: true}
)

func (m watchMode) String() string {
	w := "NOOP every " + m.poll.String()
	if m.idle {
		w = "IDLE"
	}
	if m.push {
		return "push from Dovecot (and " + w + ")"
	}
	return w
}

// keepAliveKey is the smtp.keep_alive entry -bench.smtp-keep-alive asks for.
func keepAliveKey() string {
	if *smtpKeepAlive == "" {
		return ""
	}
	return ", keep_alive: " + *smtpKeepAlive
}

// writeConfig writes an ackd config watching dept's INBOX in mode, with a
// 24/7 calendar (due dates do not matter here), a SQLite store in dir and
// limits high enough that they never bite.
func writeConfig(tb testing.TB, s *mailstack.Stack, dept string, mode watchMode) deployment {
	tb.Helper()
	dir := tb.TempDir()
	secret := filepath.Join(dir, "imap-password")
	if err := os.WriteFile(secret, []byte(mailstack.Password+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	ih, ip := splitAddr(tb, s.IMAPAddr)
	sh, sp := splitAddr(tb, s.SMTPAddr)
	yaml := strings.NewReplacer(
		"$DB", filepath.Join(dir, "ackd.db"), "$CA", s.CAFile, "$SECRET", secret,
		"$SMTPHOST", sh, "$SMTPPORT", sp, "$IMAPHOST", ih, "$IMAPPORT", ip,
		"$DEPT", dept, "$DOMAIN", mailstack.Domain,
		"$IDLE", strconv.FormatBool(mode.idle), "$POLL", mode.poll.String(),
		"$KEEPALIVE", keepAliveKey(),
	).Replace(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: $DB}
smtp: {host: $SMTPHOST, port: $SMTPPORT, tls: starttls, ca_file: $CA$KEEPALIVE}
http: {listen: ""}
limits: {per_sender_per_hour: 1000000, global_per_minute: 1000000}
departments:
  - name: IT Help Desk
    address: $DEPT
    imap: {host: $IMAPHOST, port: $IMAPPORT, tls: starttls, ca_file: $CA, username: "$DEPT",
           password_file: $SECRET, mailbox: INBOX, idle: $IDLE, poll_interval: $POLL}
    staff: [staff@$DOMAIN]
    leads: [lead@$DOMAIN]
    allowed_senders: ["*@$DOMAIN"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h}
      hardware: {commitment: 2d}
      default: {commitment: 3d}
    rules:
      - name: password
        match: {subject: [password, locked out]}
        category: access
      - name: hardware
        match: {subject: [printer, laptop, monitor]}
        category: hardware
`)
	if mode.push {
		yaml += pushConfig(tb, s, dir, dept)
	}
	cfg := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		tb.Fatal(err)
	}
	return deployment{dir: dir, config: cfg, dept: dept}
}

// pushConfig returns the push: section for a free loopback port and
// points the stack's Dovecot at it for dept's mailboxes.
func pushConfig(tb testing.TB, s *mailstack.Stack, dir, dept string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // ackd listens on it; nothing else takes a port this fresh
	secret := token(tb, 32)
	file := filepath.Join(dir, "push-secret")
	if err := os.WriteFile(file, []byte(secret+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	s.PushTo(tb, dept, "http://"+addr+"/", secret)
	return fmt.Sprintf("push: {listen: %q, password_file: %s}\n", addr, file)
}

func splitAddr(tb testing.TB, addr string) (string, string) {
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		tb.Fatalf("address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}

// subjects are varied so the rules pick different categories.
var subjects = []string{
	"Locked out of my account",
	"Printer on the 3rd floor jams",
	"Need access to the finance share",
	"Laptop battery swells",
	"Password expired while travelling",
	"Calendar invites arrive twice",
}

const bodyText = `Hello IT,

since this morning I cannot get this to work. I tried restarting and
logging out and in again, as the intranet page suggests, but nothing
changed. Could somebody have a look? I am at my desk all day.

Steps so far:
 1. restarted the machine
 2. cleared the browser cache
 3. asked my neighbour, who has the same problem

Thanks a lot and kind regards,
`

// request builds a plain request of about 1 KiB from requester to dept.
func request(requester, dept string, n int) []byte {
	name := strings.SplitN(requester, "@", 2)[0]
	var b bytes.Buffer
	fmt.Fprintf(&b, "Return-Path: <%s>\r\n", requester)
	fmt.Fprintf(&b, "From: \"Bench %s\" <%s>\r\n", name, requester)
	fmt.Fprintf(&b, "To: IT Help Desk <%s>\r\n", dept)
	fmt.Fprintf(&b, "Subject: %s (%d)\r\n", subjects[n%len(subjects)], n)
	fmt.Fprintf(&b, "Message-ID: <bench-%d-%s>\r\n", n, requester)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().Format(time.RFC1123Z))
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(bodyText, "\n", "\r\n"))
	fmt.Fprintf(&b, "%s\r\n", name)
	return b.Bytes()
}

// ---- the ackd process

// event is one line of ackd's JSON log.
type event struct {
	Msg    string
	Logged time.Time // the "time" field, ackd's clock (the same machine)
	Seen   time.Time // when the harness read the line
	Line   []byte
}

// daemon is a running `ackd run` and what it has logged so far.
type daemon struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan error
	logPath string

	mu     sync.Mutex
	events map[string][]event
	errs   []string
	wake   chan struct{}
}

// startAckd runs bin against cfg with a JSON log, which it follows to
// count requests acknowledged and mails sent as they happen.
func startAckd(tb testing.TB, bin, cfg string, extra ...string) *daemon {
	tb.Helper()
	d := &daemon{events: map[string][]event{}, wake: make(chan struct{}), done: make(chan error, 1),
		logPath: filepath.Join(filepath.Dir(cfg), "ackd.log")}
	logFile, err := os.Create(d.logPath)
	if err != nil {
		tb.Fatal(err)
	}
	d.cmd = exec.Command(bin, append([]string{"run", "-c", cfg, "--log-format", "json"}, extra...)...)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	d.cmd.Stdout = logFile
	d.started = time.Now()
	if err := d.cmd.Start(); err != nil {
		tb.Fatalf("start ackd: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			seen := time.Now()
			line := append([]byte(nil), sc.Bytes()...)
			logFile.Write(append(line, '\n'))
			var rec struct {
				Time  time.Time `json:"time"`
				Level string    `json:"level"`
				Msg   string    `json:"msg"`
				Kind  string    `json:"kind"`
			}
			if json.Unmarshal(line, &rec) != nil {
				rec.Msg = string(line)
			}
			d.mu.Lock()
			ev := event{Msg: rec.Msg, Logged: rec.Time, Seen: seen, Line: line}
			d.events[rec.Msg] = append(d.events[rec.Msg], ev)
			if rec.Kind != "" {
				// "mail sent receipt": a phase pairs its requests with
				// their receipts, not with an incident alert or a digest
				// sent meanwhile.
				d.events[rec.Msg+" "+rec.Kind] = append(d.events[rec.Msg+" "+rec.Kind], ev)
			}
			if rec.Level == "ERROR" || rec.Level == "WARN" {
				d.errs = append(d.errs, string(line))
			}
			close(d.wake)
			d.wake = make(chan struct{})
			d.mu.Unlock()
		}
		d.done <- d.cmd.Wait()
		logFile.Close()
		d.mu.Lock()
		close(d.wake)
		d.wake = make(chan struct{})
		d.mu.Unlock()
	}()
	tb.Cleanup(func() { d.stop(tb) })
	return d
}

// waitEvents waits until ackd has logged msg n times and returns the n-th.
func (d *daemon) waitEvents(ctx context.Context, msg string, n int) (event, error) {
	for {
		d.mu.Lock()
		evs, wake := d.events[msg], d.wake
		exited := d.cmd.ProcessState != nil
		d.mu.Unlock()
		if len(evs) >= n {
			return evs[n-1], nil
		}
		if exited {
			return event{}, fmt.Errorf("ackd exited after logging %q %d times, want %d; log in %s", msg, len(evs), n, d.logPath)
		}
		select {
		case <-ctx.Done():
			return event{}, fmt.Errorf("ackd logged %q %d times, want %d: %w; log in %s", msg, len(evs), n, ctx.Err(), d.logPath)
		case <-wake:
		}
	}
}

func (d *daemon) count(msg string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.events[msg])
}

// all returns every event msg logged so far.
func (d *daemon) all(msg string) []event {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]event(nil), d.events[msg]...)
}

func (d *daemon) warnings() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

// peakRSS reads VmHWM, the resident set's high-water mark, in bytes.
func (d *daemon) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read ackd status: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("VmHWM line %q: want N kB", line)
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("VmHWM line %q: %w", line, err)
			}
			return kb << 10, nil
		}
	}
	return 0, errors.New("no VmHWM in /proc/PID/status")
}

// cpuTime is the CPU time (user + system) ackd has used so far, from
// /proc/PID/stat at the kernel's 100 ticks a second.
func (d *daemon) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("read ackd stat: %w", err)
	}
	// The command name, in parentheses, may hold spaces: count after it.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, fmt.Errorf("ackd stat %q: too short", b)
	}
	var ticks int64
	for _, v := range f[11:13] { // utime, stime: fields 14 and 15
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("ackd stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}

// stop sends SIGTERM, the way an operator stops ackd, and waits.
func (d *daemon) stop(tb testing.TB) {
	if d.cmd.Process == nil {
		return
	}
	d.mu.Lock()
	exited := d.cmd.ProcessState != nil
	d.mu.Unlock()
	if !exited {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case err, ok := <-d.done:
		if ok && err != nil {
			tb.Errorf("ackd exited with %v; log in %s", err, d.logPath)
		}
		close(d.done)
	case <-time.After(20 * time.Second):
		_ = d.cmd.Process.Kill()
		tb.Errorf("ackd did not stop within 20s of SIGTERM; killed")
	}
	d.cmd.Process = nil
}

// ---- watching a mailbox from the client side

// inbox reports when messages arrive in one user's INBOX, as a mail client
// would see them: the time a poll (NOOP) first reports the new EXISTS
// count. Polling every pollEvery bounds the error of each measurement by
// that interval plus one NOOP round trip; IDLE was not used because
// Dovecot delays IDLE notifications by design (see docs/performance.md).
type inbox struct {
	c    *imapclient.Client
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	arrived []time.Time // arrived[k]: when the count first reached k+1
	err     error
	wake    chan struct{}
}

// pollEvery is the client's polling interval.
const pollEvery = 2 * time.Millisecond

func watchInbox(ctx context.Context, s *mailstack.Stack, user string) (*inbox, error) {
	in := &inbox{stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{})}
	opts := &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Mailbox: func(data *imapclient.UnilateralDataMailbox) {
			if data.NumMessages != nil {
				in.saw(int(*data.NumMessages), time.Now())
			}
		},
	}}
	c, err := imapclient.DialInsecure(s.IMAPAddr, opts)
	if err != nil {
		return nil, fmt.Errorf("watch %s: dial: %w", user, err)
	}
	in.c = c
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := c.Login(user, mailstack.Password).Wait(); err != nil {
		c.Close()
		return nil, fmt.Errorf("watch %s: login: %w", user, err)
	}
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("watch %s: select INBOX: %w", user, err)
	}
	in.saw(int(sel.NumMessages), time.Now())
	go in.poll()
	return in, nil
}

func (in *inbox) saw(n int, at time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for len(in.arrived) < n {
		in.arrived = append(in.arrived, at)
	}
	close(in.wake)
	in.wake = make(chan struct{})
}

func (in *inbox) poll() {
	defer close(in.done)
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		select {
		case <-in.stop:
			return
		case <-t.C:
		}
		if err := in.c.Noop().Wait(); err != nil {
			in.mu.Lock()
			in.err = fmt.Errorf("noop: %w", err)
			close(in.wake)
			in.wake = make(chan struct{})
			in.mu.Unlock()
			return
		}
	}
}

// waitFor returns when the INBOX first held n messages.
func (in *inbox) waitFor(ctx context.Context, n int) (time.Time, error) {
	for {
		in.mu.Lock()
		arrived, err, wake := in.arrived, in.err, in.wake
		in.mu.Unlock()
		if len(arrived) >= n {
			return arrived[n-1], nil
		}
		if err != nil {
			return time.Time{}, err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("INBOX holds %d messages, want %d: %w", len(arrived), n, ctx.Err())
		case <-wake:
		}
	}
}

func (in *inbox) close() {
	close(in.stop)
	<-in.done
	_ = in.c.Logout().Wait()
	in.c.Close()
}

// ---- the Postfix log

// postfixLog follows the stack's Postfix log from where it ends now and
// counts deliveries (status=sent) to recipients whose address contains
// match: with the LMTP transport, status=sent means Dovecot has stored the
// message in the mailbox.
type postfixLog struct {
	path  string
	match string
	stop  chan struct{}
	done  chan struct{}

	mu   sync.Mutex
	sent []time.Time // when the harness read each delivery's line
	err  error
	wake chan struct{}
}

func followPostfixLog(tb testing.TB, s *mailstack.Stack, match string) *postfixLog {
	tb.Helper()
	p := &postfixLog{path: filepath.Join(s.Dir, "postfix.log"), match: match,
		stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{})}
	f, err := os.Open(p.path)
	if err != nil {
		tb.Fatalf("open postfix log: %v", err)
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		tb.Fatalf("seek postfix log: %v", err)
	}
	go p.follow(f)
	tb.Cleanup(p.close)
	return p
}

func (p *postfixLog) follow(f *os.File) {
	defer close(p.done)
	defer f.Close()
	r := bufio.NewReader(f)
	var partial []byte
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		line, err := r.ReadBytes('\n')
		if err == nil {
			line = append(partial, line...)
			partial = nil
			if bytes.Contains(line, []byte("status=sent")) && bytes.Contains(line, []byte(p.match)) {
				p.mu.Lock()
				p.sent = append(p.sent, time.Now())
				close(p.wake)
				p.wake = make(chan struct{})
				p.mu.Unlock()
			}
			continue
		}
		partial = append(partial, line...)
		if !errors.Is(err, io.EOF) {
			p.mu.Lock()
			p.err = fmt.Errorf("read postfix log: %w", err)
			close(p.wake)
			p.wake = make(chan struct{})
			p.mu.Unlock()
			return
		}
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
	}
}

// waitSent returns when the n-th matching delivery was logged.
func (p *postfixLog) waitSent(ctx context.Context, n int) (time.Time, error) {
	for {
		p.mu.Lock()
		sent, err, wake := p.sent, p.err, p.wake
		p.mu.Unlock()
		if len(sent) >= n {
			return sent[n-1], nil
		}
		if err != nil {
			return time.Time{}, err
		}
		select {
		case <-ctx.Done():
			return time.Time{}, fmt.Errorf("postfix log shows %d deliveries matching %q, want %d: %w", len(sent), p.match, n, ctx.Err())
		case <-wake:
		}
	}
}

func (p *postfixLog) close() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	<-p.done
}

// ---- figures

// percentile returns the nearest-rank q-quantile of sorted durations.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// summary sorts ds and returns p50, p90, p99 and max.
type summary struct{ p50, p90, p99, max, mean time.Duration }

func summarize(ds []time.Duration) summary {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	if len(s) == 0 {
		return summary{}
	}
	return summary{percentile(s, .50), percentile(s, .90), percentile(s, .99), s[len(s)-1], sum / time.Duration(len(s))}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (s summary) String() string {
	return fmt.Sprintf("p50 %6.1f ms  p90 %6.1f ms  p99 %6.1f ms  max %6.1f ms  mean %6.1f ms", ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), ms(s.mean))
}

// cpuTimes is the machine's CPU time so far from /proc/stat, all
// processes and cores: busy (user, nice, system, irq, softirq, steal) and
// idle (idle, iowait); ok is false where /proc/stat cannot be read.
type cpuTimes struct {
	busy, idle time.Duration
	ok         bool
}

func machineCPU() cpuTimes {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return cpuTimes{}
	}
	// The kernel counts in USER_HZ, 100 a second on Linux.
	tick := func(i int) time.Duration {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		return time.Duration(n) * 10 * time.Millisecond
	}
	return cpuTimes{busy: tick(1) + tick(2) + tick(3) + tick(6) + tick(7) + tick(8), idle: tick(4) + tick(5), ok: true}
}

// since is what the machine's cores did from t to now; zero when either
// read failed.
func (t cpuTimes) since() cpuSpan {
	now := machineCPU()
	if !t.ok || !now.ok {
		return cpuSpan{}
	}
	return cpuSpan{now.busy - t.busy, now.idle - t.idle}
}

// cpuSpan is what the machine's cores did between two machineCPU reads.
type cpuSpan struct{ busy, idle time.Duration }

func (c cpuSpan) String() string {
	if c.busy+c.idle == 0 {
		return "?"
	}
	return fmt.Sprintf("%.1f core-s busy, %.0f %% of the cores' time", c.busy.Seconds(), 100*float64(c.busy)/float64(c.busy+c.idle))
}

// loadavg returns the 1-minute load average, to print beside the figures:
// the stack, ackd and the harness share this machine with whatever else
// runs on it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
