package mailwatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

// buildAckd builds the ackd binary into dir, so the test kills the real
// process, not a goroutine.
func buildAckd(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "ackd")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/ackd/ackd/cmd/ackd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ackd: %v\n%s", err, out)
	}
	return bin
}

// TestThreadKill9 sends 30 requests from several requesters while ackd
// is killed with SIGKILL at random moments and restarted at once. Every
// request must get exactly one receipt and exactly one 50% escalation:
// nothing lost, nothing sent twice.
//
// A duplicate is possible in principle: a kill after Postfix accepted a
// mail and before the store marked it sent makes the next start send it
// again. The test reports it rather than hiding it.
func TestThreadKill9(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	dir := t.TempDir()
	bin := buildAckd(t, dir)

	const requests, nRequesters, minKills = 30, 5, 5
	dept, staff, lead := s.NewAddress(t, "dept"), s.NewAddress(t, "staff"), s.NewAddress(t, "lead")
	var requesters []string
	for i := range nRequesters {
		requesters = append(requesters, s.NewAddress(t, fmt.Sprintf("kill%d", i)))
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfg := threadConfig(s, dir, dept, staff, lead, secretFile(t), `{commitment: 6s, escalate: [{at: 50%, to: staff}]}`)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "ackd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	t.Cleanup(func() {
		if t.Failed() {
			if b, err := os.ReadFile(logPath); err == nil {
				t.Logf("ackd log:\n%s", tail(string(b), 60))
			}
		}
	})

	var proc *exec.Cmd
	start := func() {
		t.Helper()
		proc = exec.Command(bin, "run", "-c", cfgPath)
		proc.Stdout, proc.Stderr = logFile, logFile
		if err := proc.Start(); err != nil {
			t.Fatalf("start ackd: %v", err)
		}
	}
	stop := func(sig syscall.Signal) {
		t.Helper()
		if err := proc.Process.Signal(sig); err != nil {
			t.Fatalf("signal ackd: %v", err)
		}
		proc.Wait() // a killed process exits non-zero; that is the point
	}
	start()
	t.Cleanup(func() {
		if proc.ProcessState == nil {
			stop(syscall.SIGKILL)
		}
	})

	seed := uint64(time.Now().UnixNano())
	if v, err := strconv.ParseUint(os.Getenv("ACKD_KILL_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("seed %d (set ACKD_KILL_SEED to repeat the schedule)", seed)
	sendRand := rand.New(rand.NewPCG(seed, 1))
	killRand := rand.New(rand.NewPCG(seed, 2))

	// requestIDs[i] is the Message-ID of request i; sender writes, the
	// test reads after <-sent.
	requestIDs := make([]string, requests)
	from := make([]string, requests)
	sent := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for i := range requests {
			who := requesters[i%nRequesters]
			id, raw := mailOut{from: who, to: []string{dept}, subject: fmt.Sprintf("Kill test request %d", i+1), body: fmt.Sprintf("Request number %d.", i+1)}.raw()
			if err := s.Send(ctx, who, dept, raw); err != nil {
				sent <- err
				return
			}
			requestIDs[i], from[i] = id, who
			time.Sleep(time.Duration(100+sendRand.IntN(300)) * time.Millisecond)
		}
		sent <- nil
	}()

	kills := 0
	sending := true
	for sending || kills < minKills {
		time.Sleep(time.Duration(200+killRand.IntN(1300)) * time.Millisecond)
		stop(syscall.SIGKILL)
		kills++
		start()
		select {
		case err := <-sent:
			if err != nil {
				t.Fatalf("send requests: %v", err)
			}
			sending = false
		default:
		}
	}
	t.Logf("%d requests sent, ackd killed with SIGKILL %d times", requests, kills)

	// Let the last start run until every receipt and every first
	// escalation is in.
	type tally struct {
		receipts   map[string]int // by In-Reply-To: the request's Message-ID
		late       map[string]int // late notices, by In-Reply-To
		escalation map[string]int // by "ref level" (staff and leads)
		refs       map[string]bool
		stray      []string
	}
	count := func() tally {
		tl := tally{receipts: map[string]int{}, late: map[string]int{}, escalation: map[string]int{}, refs: map[string]bool{}}
		for _, who := range requesters {
			for _, g := range inboxOf(t, s, dept, who) {
				switch g.kind {
				case kindReceipt:
					tl.receipts[g.inReplyTo]++
					tl.refs[g.ref] = true
				case kindLate:
					tl.late[g.inReplyTo]++
				default:
					tl.stray = append(tl.stray, who+": "+g.String())
				}
			}
		}
		for _, who := range []string{staff, lead} {
			for _, g := range inboxOf(t, s, dept, who) {
				if g.kind != kindEscalation {
					tl.stray = append(tl.stray, who+": "+g.String())
					continue
				}
				tl.escalation[g.ref+" L"+strconv.Itoa(g.level)]++
			}
		}
		return tl
	}
	complete := func(tl tally) bool {
		for _, id := range requestIDs {
			if tl.receipts[id] == 0 {
				return false
			}
		}
		for ref := range tl.refs {
			if tl.escalation[ref+" L1"] == 0 {
				return false
			}
		}
		return len(tl.refs) == requests
	}
	deadline := time.Now().Add(45 * time.Second)
	tl := count()
	for !complete(tl) && time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		tl = count()
	}
	stop(syscall.SIGTERM)
	time.Sleep(time.Second) // whatever Postfix still had in hand
	tl = count()

	lost, dup, lateDup, escDup := 0, 0, 0, 0
	for i, id := range requestIDs {
		switch n := tl.receipts[id]; {
		case n == 0:
			lost++
			t.Errorf("request %d from %s (%s): no receipt", i+1, from[i], id)
		case n > 1:
			dup += n - 1
			t.Errorf("request %d from %s (%s): %d receipts", i+1, from[i], id, n)
		}
		if n := tl.late[id]; n > 1 {
			lateDup += n - 1
			t.Errorf("request %d: %d late notices", i+1, n)
		}
	}
	escLost := 0
	for ref := range tl.refs {
		if tl.escalation[ref+" L1"] == 0 {
			escLost++
			t.Errorf("%s: no 50%% escalation to staff", ref)
		}
	}
	for key, n := range tl.escalation {
		if n > 1 {
			escDup += n - 1
			t.Errorf("escalation %s arrived %d times", key, n)
		}
		if ref, _, _ := strings.Cut(key, " "); !tl.refs[ref] {
			t.Errorf("escalation %s for a request nobody got a receipt for", key)
		}
	}
	if len(tl.refs) != requests {
		t.Errorf("receipts name %d distinct refs, want %d", len(tl.refs), requests)
	}
	if len(tl.stray) > 0 {
		t.Errorf("unexpected mail: %v", tl.stray)
	}
	t.Logf("receipts: %d requests, lost %d, duplicated %d; 50%% escalations: %d, lost %d, duplicated (any level) %d; late notices %d, duplicated %d",
		requests, lost, dup, countLevel(tl.escalation, "L1"), escLost, escDup, len(tl.late), lateDup)

	// The store agrees: one request per message, however often it died.
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(dir, "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	open, err := st.OpenRequests(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(open) != requests {
		t.Errorf("store holds %d open requests, want %d", len(open), requests)
	}
}

func countLevel(esc map[string]int, level string) int {
	n := 0
	for key, c := range esc {
		if strings.HasSuffix(key, " "+level) {
			n += c
		}
	}
	return n
}

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
