package mailwatch_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

// TestThreadKill9 sends 30 requests from several requesters while ackd
// is killed with SIGKILL at random moments and restarted at once. Every
// request must get a receipt, a 50% escalation and, since nobody answers,
// one late notice; none planned twice.
//
// One duplicate per kill is possible: a kill after Postfix accepted a mail
// and before the store marked it sent makes the next start deliver that
// outbox row again, with the same Message-ID (delivery is at least once;
// at most once would lose mail). The test logs every such redelivery as
// DUPLICATE DELIVERY with the count, and fails on a second Message-ID for
// one purpose, on more redeliveries than kills, and on any loss.
func TestThreadKill9(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	dir := t.TempDir()
	bin := buildAckd(t) // shared with the chaos tests, built once

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
				t.Logf("ackd log:\n%s", tail(string(b), 400))
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
		if proc.Process != nil && proc.ProcessState == nil {
			proc.Process.Kill()
			proc.Wait()
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
	// escalation is in. Each mail is filed under what it is about, with
	// its Message-ID: the same ID twice is one outbox row delivered twice,
	// two IDs are two rows, a mail planned twice.
	type tally struct {
		mail  map[string][]string // "receipt <request id>", "late <request id>", "<ref> L<level>" → Message-IDs
		refs  map[string]bool     // refs named by receipts
		stray []string
	}
	count := func() tally {
		tl := tally{mail: map[string][]string{}, refs: map[string]bool{}}
		for _, who := range requesters {
			for _, g := range inboxOf(t, s, dept, who) {
				switch g.kind {
				case kindReceipt:
					tl.mail["receipt "+g.inReplyTo] = append(tl.mail["receipt "+g.inReplyTo], g.messageID)
					tl.refs[g.ref] = true
				case kindLate:
					tl.mail["late "+g.inReplyTo] = append(tl.mail["late "+g.inReplyTo], g.messageID)
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
				key := g.ref + " L" + strconv.Itoa(g.level)
				tl.mail[key] = append(tl.mail[key], g.messageID)
			}
		}
		return tl
	}
	complete := func(tl tally) bool {
		for _, id := range requestIDs {
			if len(tl.mail["receipt "+id]) == 0 || len(tl.mail["late "+id]) == 0 {
				return false
			}
		}
		for ref := range tl.refs {
			if len(tl.mail[ref+" L1"]) == 0 {
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

	lostReceipts, lostEscalations, lostLate := 0, 0, 0
	for i, id := range requestIDs {
		if len(tl.mail["receipt "+id]) == 0 {
			lostReceipts++
			t.Errorf("request %d from %s (%s): no receipt", i+1, from[i], id)
		}
		// Nobody answers, so each request's due time passes under the
		// kills too: one honest late notice each, never two.
		if len(tl.mail["late "+id]) == 0 {
			lostLate++
			t.Errorf("request %d from %s (%s): no late notice", i+1, from[i], id)
		}
	}
	for ref := range tl.refs {
		if len(tl.mail[ref+" L1"]) == 0 {
			lostEscalations++
			t.Errorf("%s: no 50%% escalation to staff", ref)
		}
	}
	if len(tl.refs) != requests {
		t.Errorf("receipts name %d distinct refs, want %d", len(tl.refs), requests)
	}
	if len(tl.stray) > 0 {
		t.Errorf("unexpected mail: %v", tl.stray)
	}
	redelivered, receipts, escalations, late := 0, 0, 0, 0
	for key, ids := range tl.mail {
		switch {
		case strings.HasPrefix(key, "receipt "):
			receipts++
		case strings.HasPrefix(key, "late "):
			late++
		case strings.HasSuffix(key, " L1"):
			escalations++
		}
		if ref, _, _ := strings.Cut(key, " "); strings.HasPrefix(ref, "REQ-") && !tl.refs[ref] {
			t.Errorf("escalation %s for a request nobody got a receipt for", key)
		}
		distinct := len(slices.Compact(slices.Sorted(slices.Values(ids))))
		if distinct > 1 {
			t.Errorf("%s: %d different mails (%v): planned more than once", key, distinct, ids)
		}
		if len(ids) > distinct {
			redelivered += len(ids) - distinct
			t.Logf("DUPLICATE DELIVERY: %s arrived %d times with the same Message-ID %s (killed after the SMTP server took it, before the store marked it sent)", key, len(ids), ids[0])
		}
	}
	t.Logf("%d requests, %d kills: receipts %d (lost %d), 50%% escalations %d (lost %d), late notices %d (lost %d); redelivered after a kill: %d",
		requests, kills, receipts, lostReceipts, escalations, lostEscalations, late, lostLate, redelivered)
	// The sender has one mail in flight at a time, so a kill can deliver
	// at most one mail twice. More would mean the outbox resends mail it
	// had marked sent.
	if redelivered > kills {
		t.Errorf("%d mails delivered twice after %d kills: more than the one in flight per kill", redelivered, kills)
	}
	if redelivered > 0 {
		t.Logf("NOTE: %d of %d kills caught a delivery between the SMTP server's acceptance and the store's record of it: delivery is at least once (same Message-ID), by design", redelivered, kills)
	}

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

func tail(s string, lines int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}
