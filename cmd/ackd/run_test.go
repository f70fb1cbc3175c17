package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
)

const (
	deptAddr = "it-help@example.test"
	// Distinctive passwords, so a leak into the log cannot hide.
	imapPass = "imap-Pw-7f3a9c1e"
	smtpPass = "smtp-Pw-b2d84e60"
)

// runConfig is the daemon's config: the in-process servers on loopback, a
// calendar that is always open, and extraRule appended to the rules.
func runConfig(imapAddr string, sink *smtpsink.Server, secretFile, extraRule string) string {
	host, port, _ := strings.Cut(imapAddr, ":")
	return fmt.Sprintf(`backfill: 1h # the test may deliver mail before ackd first looks
store: {driver: sqlite, dsn: ackd.db}
smtp: {host: %s, port: %d, tls: none, username: ackd-smtp, password_env: ACKD_SMTP_PASSWORD}
http: {listen: ""}
departments:
  - name: IT Help Desk
    address: %s
    imap: {host: %s, port: %s, tls: none, username: %s, password_file: %s, sent_mailbox: Sent, idle: true, poll_interval: 1s}
    staff: [alice@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin, hours: "00:00-24:00", workdays: [mon, tue, wed, thu, fri, sat, sun]}
    categories:
      access: {commitment: 4h}
      hardware: {commitment: 2d}
      default: {commitment: 3d}
    rules:
      - name: password-reset
        match: {subject: [password, locked out]}
        category: access
%s`, sink.Host(), sink.Port(), deptAddr, host, port, deptAddr, secretFile, extraRule)
}

// logLines collects the daemon's log, one JSON object per line, and lets
// the test wait for a line.
type logLines struct {
	mu    sync.Mutex
	lines []string
	objs  []map[string]any
	bad   []string // lines that are not JSON
	wake  chan struct{}
	done  chan struct{}
}

func newLogLines(r io.Reader) *logLines {
	l := &logLines{wake: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			var obj map[string]any
			l.mu.Lock()
			l.lines = append(l.lines, line)
			if err := json.Unmarshal([]byte(line), &obj); err != nil {
				l.bad = append(l.bad, line)
			} else {
				l.objs = append(l.objs, obj)
			}
			close(l.wake)
			l.wake = make(chan struct{})
			l.mu.Unlock()
		}
	}()
	return l
}

// waitFor waits until n log objects (counting from the start) satisfy ok.
func (l *logLines) waitFor(t *testing.T, what string, n int, ok func(map[string]any) bool) []map[string]any {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		var hits []map[string]any
		for _, o := range l.objs {
			if ok(o) {
				hits = append(hits, o)
			}
		}
		wake := l.wake
		l.mu.Unlock()
		if len(hits) >= n {
			return hits
		}
		select {
		case <-wake:
		case <-l.done:
			t.Fatalf("the log ended before %s:\n%s", what, l.text())
		case <-deadline.C:
			t.Fatalf("no %s in the log after 15s:\n%s", what, l.text())
		}
	}
}

func (l *logLines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func msgIs(msg string) func(map[string]any) bool {
	return func(o map[string]any) bool { return o["msg"] == msg }
}

func str(o map[string]any, k string) string {
	s, _ := o[k].(string)
	return s
}

func mailFrom(name, addr, subject, extra, body string) []byte {
	return []byte(fmt.Sprintf("From: %s <%s>\r\nTo: IT Help Desk <%s>\r\nSubject: %s\r\nMessage-ID: <%d.%s>\r\nDate: %s\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n%s\r\n%s\r\n",
		name, addr, deptAddr, subject, time.Now().UnixNano(), addr, time.Now().Format(time.RFC1123Z), extra, body))
}

// TestRunSignals runs the built binary against in-process IMAP and SMTP
// servers: receipts go out, SIGHUP reloads good configs and refuses broken
// ones, SIGTERM ends it cleanly, and `ackd status` reads what it recorded.
func TestRunSignals(t *testing.T) {
	imapSrv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	if err := imapSrv.AddUser(deptAddr, imapPass, "Sent"); err != nil {
		t.Fatal(err)
	}
	sink, err := smtpsink.Start(context.Background(), smtpsink.WithAuth("ackd-smtp", smtpPass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)

	dir := t.TempDir()
	secret := filepath.Join(dir, "imap-password")
	if err := os.WriteFile(secret, []byte(imapPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	writeCfg := func(text string) {
		t.Helper()
		if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeCfg(runConfig(imapSrv.Addr(), sink, secret, ""))

	cmd := exec.Command(ackdBin, "run", "-c", cfgPath, "--log-format", "json")
	cmd.Env = append(os.Environ(), "ACKD_SMTP_PASSWORD="+smtpPass)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := newLogLines(stderr)
	exited := make(chan error, 1)
	go func() {
		<-log.done // Wait closes the pipe: read it all first
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	signal := func(s os.Signal) {
		t.Helper()
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatalf("signal %v: %v", s, err)
		}
	}
	deliver := func(raw []byte) {
		t.Helper()
		if _, err := imapSrv.Append(deptAddr, "INBOX", raw, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	acked := func(from string) func(map[string]any) bool {
		return func(o map[string]any) bool { return o["msg"] == "request acknowledged" && o["from"] == from }
	}
	receipts := func(n int) []smtpsink.Received {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		got, err := sink.WaitFor(ctx, n)
		if err != nil {
			t.Fatalf("waiting for %d receipts: %v\n%s", n, err, log.text())
		}
		return got
	}

	// SIGHUP before the handler is installed would kill the process.
	log.waitFor(t, `"ackd started"`, 1, msgIs("ackd started"))

	deliver(mailFrom("Jane Doe", "jane.doe@example.test", "Locked out after the password change", "", "Please help."))
	deliver(mailFrom("Olivia Smith", "olivia.smith@example.test", "Automatic reply: lunch", "Auto-Submitted: auto-replied\r\n", "I am out of the office."))
	got := receipts(1)
	if got[0].To[0] != "jane.doe@example.test" || got[0].From != "" || got[0].User != "ackd-smtp" {
		t.Errorf("receipt to %v, MAIL FROM:<%s>, AUTH %q; want jane, the null path, ackd-smtp", got[0].To, got[0].From, got[0].User)
	}
	log.waitFor(t, "the out-of-office skipped", 1, func(o map[string]any) bool {
		return o["msg"] == "skipped message" && o["refusal"] == "auto-submitted"
	})

	// A broken config is refused, every problem named, and the old one runs on.
	writeCfg(strings.Replace(runConfig(imapSrv.Addr(), sink, secret, ""), "hardware: {commitment: 2d}", "hardware: {commitment: 2 days, colour: red}", 1))
	signal(syscall.SIGHUP)
	refused := log.waitFor(t, "two refused-reload problems", 2, msgIs("reload refused: config problem"))
	var problems []string
	for _, o := range refused {
		problems = append(problems, str(o, "problem"))
	}
	for _, want := range []string{`"2 days"`, `unknown key "colour"`} {
		if !strings.Contains(strings.Join(problems, "\n"), want) {
			t.Errorf("the refused reload does not name %s; logged %q", want, problems)
		}
	}
	for _, p := range problems {
		if !strings.HasPrefix(p, cfgPath+":") {
			t.Errorf("problem %q does not start with %s:LINE:COL", p, cfgPath)
		}
	}
	deliver(mailFrom("Max Mustermann", "max.mustermann@example.test", "Printer on floor 3 jams", "", "Paper jam again."))
	max := log.waitFor(t, "max's request acknowledged", 1, acked("max.mustermann@example.test"))[0]
	if str(max, "rule") != "" || str(max, "category") != "default" {
		t.Errorf("before the reload the printer request got rule %q, category %q; want the default category", str(max, "rule"), str(max, "category"))
	}
	receipts(2)

	// A good config with a new rule takes effect for the next message.
	writeCfg(runConfig(imapSrv.Addr(), sink, secret, "      - name: printer\n        match: {subject: [printer]}\n        category: hardware\n"))
	signal(syscall.SIGHUP)
	log.waitFor(t, "a successful reload", 1, msgIs("reloaded rules and templates"))
	deliver(mailFrom("Li Wei", "li.wei@example.test", "Printer in room 4 prints blank pages", "", "All pages are white."))
	li := log.waitFor(t, "li's request acknowledged", 1, acked("li.wei@example.test"))[0]
	if str(li, "rule") != "printer" || str(li, "category") != "hardware" {
		t.Errorf("after the reload the printer request got rule %q, category %q; want printer, hardware", str(li, "rule"), str(li, "category"))
	}
	receipts(3)

	signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v, want exit 0\n%s", err, log.text())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("still running 10s after SIGTERM")
	}

	text := log.text()
	if len(log.bad) > 0 {
		t.Errorf("--log-format json printed lines that are not JSON: %q", log.bad)
	}
	for _, pw := range []string{imapPass, smtpPass} {
		if strings.Contains(text, pw) {
			t.Errorf("the log shows a password")
		}
	}

	r := runAckd(t, "status", "-c", cfgPath)
	if r.code != 0 {
		t.Fatalf("ackd status: %s", r)
	}
	open, skipped, _ := strings.Cut(r.stdout, "Recently skipped")
	for _, want := range []string{"REQ-1", "REQ-2", "REQ-3", "jane.doe@example.test", "li.wei@example.test", "hardware", "access", "acknowledged"} {
		if !strings.Contains(open, want) {
			t.Errorf("status lists no %q among the open requests:\n%s", want, r.stdout)
		}
	}
	if !strings.Contains(skipped, "olivia.smith@example.test") || !strings.Contains(skipped, "Auto-Submitted") {
		t.Errorf("status does not list the skipped out-of-office with its reason:\n%s", r.stdout)
	}
}

func TestRunBadFlags(t *testing.T) {
	if r := runAckd(t, "run", "-c", exampleConfig, "--log-format", "xml"); r.code != 2 || !strings.Contains(r.stderr, "xml") {
		t.Errorf("--log-format xml: want exit 2 naming it; got %s", r)
	}
	path, _ := breakConfig(t, t.TempDir(), []edit{{"poll_interval: 60s", "poll_interval: soon"}}, nil)
	if r := runAckd(t, "run", "-c", path); r.code != 1 || !strings.Contains(r.stderr, path+":") {
		t.Errorf("run with a broken config: want exit 1 naming the problem; got %s", r)
	}
}
