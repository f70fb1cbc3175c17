package mailwatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/rules"
)

// appendAt delivers rawMail(n) with the given INTERNALDATE.
func appendAt(t *testing.T, srv *imapmem.Server, mailbox string, n int, date time.Time) uint32 {
	t.Helper()
	uid, err := srv.Append("dept", mailbox, rawMail(n), date)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

func stopWatcher(h *watchHarness) {
	h.cancel()
	<-h.done
	h.done <- nil // for the harness cleanup
}

// TestWatcherFirstStartSkipsHistory: with no checkpoint the watcher starts
// after the newest message, however recent, and hands over only what
// arrives after it looked.
func TestWatcherFirstStartSkipsHistory(t *testing.T) {
	for _, mailbox := range []string{"INBOX", "Sent"} {
		t.Run(mailbox, func(t *testing.T) {
			srv := newServer(t, imapmem.Options{})
			now := time.Now()
			appendAt(t, srv, mailbox, 1, now.AddDate(-2, 0, 0))
			appendAt(t, srv, mailbox, 2, now.AddDate(-1, 0, 0))
			appendAt(t, srv, mailbox, 3, now.Add(-time.Minute))
			cp := &memCheckpoints{}
			h := startWatcher(t, srv, cp, MailboxConfig{Mailbox: mailbox, IDLE: true, PollInterval: time.Hour}, nil)
			waitConnected(t, h.watcher)
			h.expectNothing(t, 200*time.Millisecond)
			if _, last, _ := cp.Load(context.Background(), mailbox); last != 3 {
				t.Errorf("checkpoint after the first look = UID %d, want the newest, 3", last)
			}
			appendAt(t, srv, mailbox, 4, time.Time{})
			h.expect(t, "request 4")
			h.expectNothing(t, 200*time.Millisecond)
		})
	}
}

func waitConnected(t *testing.T, w *Watcher) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for ok, _ := w.Connected(); !ok; ok, _ = w.Connected() {
		if time.Now().After(deadline) {
			t.Fatal("watcher not connected after 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherBackfillTakesOnlyTheWindow: on the first start backfill hands
// over the messages that arrived within it, by INTERNALDATE, also when
// UID order is not arrival order (mail moved in keeps its date).
func TestWatcherBackfillTakesOnlyTheWindow(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	now := time.Now()
	appendAt(t, srv, "INBOX", 1, now.Add(-24*time.Hour)) // in
	appendAt(t, srv, "INBOX", 2, now.Add(-72*time.Hour)) // out, after an "in" UID
	appendAt(t, srv, "INBOX", 3, now.AddDate(-10, 0, 0)) // out
	appendAt(t, srv, "INBOX", 4, now.Add(-2*time.Hour))  // in
	appendAt(t, srv, "INBOX", 5, now.Add(-49*time.Hour)) // out, just
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Backfill: 48 * time.Hour, IDLE: true, PollInterval: time.Hour, BatchSize: 2}, nil)
	h.expect(t, "request 1", "request 4")
	h.expectNothing(t, 200*time.Millisecond)
	stopWatcher(h)
	if _, last, _ := cp.Load(context.Background(), "INBOX"); last != 5 {
		t.Errorf("checkpoint = UID %d, want 5", last)
	}
	// Backfill is for the first start only.
	appendAt(t, srv, "INBOX", 6, time.Time{})
	h2 := startWatcher(t, srv, cp, MailboxConfig{Backfill: 48 * time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h2.expect(t, "request 6")
	h2.expectNothing(t, 200*time.Millisecond)
}

// TestWatcherUIDValidityRereadsOnlyWithinMaxAge: a renumbered mailbox is
// read again only as far back as max_age; older messages are history.
func TestWatcherUIDValidityRereadsOnlyWithinMaxAge(t *testing.T) {
	srv := newServer(t, imapmem.Options{})
	appendN(t, srv, 1, 1)
	cp := &memCheckpoints{}
	h := startWatcher(t, srv, cp, MailboxConfig{Backfill: time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h.expect(t, "request 1")
	stopWatcher(h)
	oldValidity, _, _ := cp.Load(context.Background(), "INBOX")

	if err := srv.RecreateMailbox("dept", "INBOX"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	appendAt(t, srv, "INBOX", 7, now.AddDate(-3, 0, 0))
	appendAt(t, srv, "INBOX", 1, now.Add(-time.Hour)) // handled before; the handler knows it by Message-ID
	appendAt(t, srv, "INBOX", 8, now.Add(-5*24*time.Hour))
	appendAt(t, srv, "INBOX", 9, now.Add(-3*24*time.Hour))
	h2 := startWatcher(t, srv, cp, MailboxConfig{MaxAge: 4 * 24 * time.Hour, IDLE: true, PollInterval: time.Hour}, nil)
	h2.expect(t, "request 1", "request 9")
	h2.expectNothing(t, 200*time.Millisecond)
	stopWatcher(h2)
	if v, last, _ := cp.Load(context.Background(), "INBOX"); v == oldValidity || last != 4 {
		t.Errorf("checkpoint = (%d, %d); want a new UIDVALIDITY (old %d) and UID 4", v, last, oldValidity)
	}
}

// TestTooOldMailIsRecordedNotAnswered: a message that arrived more than
// max_age ago (moved in, or delivered late with its old date) is recorded
// as too-old, in the INBOX and in Sent, and nothing is mailed about it.
func TestTooOldMailIsRecordedNotAnswered(t *testing.T) {
	w := newWorld(t)
	w.now = at("2026-12-10 10:00")
	o := w.deliver(at("2026-12-01 10:00"), jane, dept, "", "Forgot my password", "", "Please reset it.")
	if o.Action != "skipped" || o.Decision.Refusal != rules.RefuseTooOld || !strings.Contains(o.Decision.Reason, "max_age (4d)") {
		t.Fatalf("nine-day-old message: %s %q %q; want skipped too-old naming max_age", o.Action, o.Decision.Refusal, o.Decision.Reason)
	}
	w.expectMails("too-old request")
	skipped, err := w.st.RecentSkipped(context.Background(), 10)
	if err != nil || len(skipped) != 1 || skipped[0].Refusal != string(rules.RefuseTooOld) || skipped[0].Dept != dept {
		t.Fatalf("skipped = %+v, %v; want one too-old under %s", skipped, err, dept)
	}

	// A fresh request, and a staff answer from the shared account that
	// shows up in Sent with a five-day-old date: it changes nothing.
	o = w.deliver(at("2026-12-10 10:00"), jane, dept, "", "Forgot my password again", "", "Please.")
	if o.Ref != "REQ-1" {
		t.Fatalf("fresh request: %+v", o)
	}
	w.expectMails("receipt", "receipt→jane@example.test")
	id := strings.Trim(w.request("REQ-1").MessageID, "<>")
	o = w.deliverTo("Sent", at("2026-12-05 10:00"), dept, "jane@example.test", "", "Re: Forgot my password again", id, "", "Done.")
	if o.Action != "skipped" || o.Decision.Refusal != rules.RefuseTooOld {
		t.Fatalf("old Sent message: %s %q; want skipped too-old", o.Action, o.Decision.Refusal)
	}
	if r := w.request("REQ-1"); r.State != "acknowledged" {
		t.Errorf("request after the too-old answer: %s, want still acknowledged", r.State)
	}
	w.expectMails("too-old answer")
}

// TestSchedulerSkipsStepsOlderThanMaxAge: after ackd was off for weeks,
// steps whose time lies more than max_age back go out to nobody, are
// written into the history, and are not planned again; a step that is
// late but within max_age still fires.
func TestSchedulerSkipsStepsOlderThanMaxAge(t *testing.T) {
	t.Run("weeks late", func(t *testing.T) {
		w := newWorld(t)
		w.now = at("2026-12-01 10:00")
		w.deliver(w.now, jane, dept, "", "Forgot my password", "", "Please reset it.")
		w.expectMails("receipt", "receipt→jane@example.test")
		if fired, _ := w.tick(at("2026-12-21 10:00")); fired != 3 {
			t.Errorf("fired %d, want the 50%%, 90%% and due steps passed over", fired)
		}
		w.expectMails("weeks late")
		r := w.request("REQ-1")
		if r.State != "overdue" || r.EscalationLevel < 2 || !r.LateNoticeFor.Equal(at("2026-12-01 14:00")) {
			t.Errorf("request after the skipped steps: state %s level %d late notice for %s", r.State, r.EscalationLevel, r.LateNoticeFor)
		}
		skipped := 0
		for _, k := range w.events("REQ-1") {
			if k == EventSkippedTooOld {
				skipped++
			}
		}
		if skipped != 3 {
			t.Errorf("history %v: want 3 %s events", w.events("REQ-1"), EventSkippedTooOld)
		}
		if fired, next := w.tick(at("2026-12-21 10:00")); fired != 0 || !next.After(at("2026-12-21 10:00")) {
			t.Errorf("next pass fired %d, next %s; want nothing until a future time", fired, next)
		}
	})
	t.Run("days late", func(t *testing.T) {
		w := newWorld(t)
		w.now = at("2026-12-01 10:00")
		w.deliver(w.now, jane, dept, "", "Forgot my password", "", "Please reset it.")
		w.expectMails("receipt", "receipt→jane@example.test")
		w.tick(at("2026-12-03 10:00"))
		w.expectMails("two days late", "escalation→alice@example.test,bob@example.test", "escalation→lead@example.test",
			"late-notice→jane@example.test", "escalation→lead@example.test")
	})
}
