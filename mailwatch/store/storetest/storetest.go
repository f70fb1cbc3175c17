// Package storetest is the behavioural test suite every store.Store backend
// must pass. A backend's test calls Run with a function that opens a fresh,
// empty store, and Durability with a way to reopen the same database.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// base is a fixed arrival time; its millisecond part checks that times keep
// millisecond precision.
var base = time.Date(2026, 11, 24, 9, 30, 0, 123_000_000, time.UTC)

// Run runs the whole suite; open must return a new empty store each call and
// arrange for it to be closed when the test ends.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SyncState", testSyncState},
		{"RefsPerDepartment", testRefsPerDepartment},
		{"RequestFieldsRoundTrip", testRequestFields},
		{"Duplicate", testDuplicate},
		{"DuplicateAcrossSkipped", testDuplicateAcrossSkipped},
		{"BuildError", testBuildError},
		{"StoreErrorAfterBuild", testStoreErrorAfterBuild},
		{"InvalidInput", testInvalidInput},
		{"CanceledContext", testCanceledContext},
		{"ConcurrentSameKey", testConcurrentSameKey},
		{"ConcurrentDistinctKeys", testConcurrentDistinctKeys},
		{"Outbox", testOutbox},
		{"OutboxOrderAndLimit", testOutboxOrder},
		{"FindThread", testFindThread},
		{"OpenRequests", testOpenRequests},
		{"Skipped", testSkipped},
		{"Parked", testParked},
		{"AdoptDepartment", testAdoptDepartment},
	}
	tests = append(tests, lifecycleTests...)
	tests = append(tests, authorityTests...)
	tests = append(tests, limitsTests...)
	tests = append(tests, wakeTests...)
	tests = append(tests, promiseTests...)
	tests = append(tests, replayTests...)
	tests = append(tests, batchTests...)
	tests = append(tests, languageTests...)
	tests = append(tests, teamTests...)
	tests = append(tests, moveTests...)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// Durability fills s, closes it, reopens the database with reopen and checks
// that everything is still there and the counters go on where they stopped.
func Durability(t *testing.T, s store.Store, reopen func(t *testing.T) store.Store) {
	ctx := t.Context()
	if err := s.SaveSyncState(ctx, "it", "INBOX", store.SyncState{UIDValidity: 7, LastUID: 42}); err != nil {
		t.Fatal(err)
	}
	r1 := record(t, s, newRequest("it", "k1"), receipts("<r1@ackd>"))
	r1, err := s.Apply(ctx, store.Change{RequestID: r1.ID, MessageKey: "reply-1", ThreadKeys: []string{"<reply-1@x>"},
		Events: []store.Event{{Kind: store.EventAnswered, At: base.Add(time.Hour), Actor: "bob@example.test"}},
		Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State, r.FirstResponseAt, r.AnsweredAt, r.LastActivityAt = store.StateAnswered, base.Add(time.Hour), base.Add(time.Hour), base.Add(time.Hour)
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	history, err := s.Events(ctx, r1.ID)
	if err != nil || len(history) != 2 {
		t.Fatalf("history before reopen = %+v, %v; want 2 events", history, err)
	}
	if _, err := s.RecordRequest(ctx, newRequest("it", "k-fail"), failBuild); err == nil {
		t.Fatal("failing build: no error")
	}
	r2 := record(t, s, newRequest("it", "k2"), receipts("<r2@ackd>"))
	skip := store.Skipped{Dept: "it", Mailbox: "INBOX", UID: 9, MessageKey: "k-skip", From: "list@example.test", Reason: "List-Id present", Refusal: "list", At: base}
	if err := s.RecordSkipped(ctx, skip); err != nil {
		t.Fatal(err)
	}
	due := dueMail(t, s, 10)
	if err := s.MarkSent(ctx, due[0].ID, base); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	s = reopen(t)
	if st, err := s.SyncState(ctx, "it", "INBOX"); err != nil || st != (store.SyncState{UIDValidity: 7, LastUID: 42}) {
		t.Errorf("sync state after reopen = %+v, %v", st, err)
	}
	for _, want := range []store.Request{r1, r2} {
		got, err := s.RequestByRef(ctx, "it", want.Ref)
		if err != nil {
			t.Fatalf("request %s after reopen: %v", want.Ref, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("request after reopen:\n got %+v\nwant %+v", got, want)
		}
	}
	if got, err := s.Events(ctx, r1.ID); err != nil || !reflect.DeepEqual(got, history) {
		t.Errorf("history after reopen = %+v, %v; want %+v", got, err, history)
	}
	if got, err := s.FindThread(ctx, "it", []string{"<reply-1@x>"}); err != nil || got.ID != r1.ID {
		t.Errorf("thread key added by Apply after reopen: request %d, %v; want %d", got.ID, err, r1.ID)
	}
	for _, key := range []string{"k1", "k2", "k-skip", "reply-1"} {
		if seen, err := s.Seen(ctx, "it", key); err != nil || !seen {
			t.Errorf("Seen(%s) after reopen = %v, %v", key, seen, err)
		}
	}
	if got := skippedList(t, s, 10); len(got) != 1 || !reflect.DeepEqual(got[0], skip) {
		t.Errorf("skipped after reopen = %+v, want [%+v]", got, skip)
	}
	sent, err := s.MailByID(ctx, due[0].ID)
	if err != nil || sent.State != store.MailSent || !sent.SentAt.Equal(base) {
		t.Errorf("sent mail after reopen = %+v, %v", sent, err)
	}
	if n := pending(t, s); n != 1 {
		t.Errorf("pending after reopen = %d, want 1", n)
	}
	// The sending limits count from the store: a restart forgets nothing.
	if got, err := s.SentTimes(ctx, store.SentFilter{Since: base.Add(-time.Hour), To: "carol@example.test"}, 10); err != nil ||
		len(got) != 1 || !got[0].Equal(base) {
		t.Errorf("mail sent to carol after reopen = %v, %v; want the one at %v", got, err, base)
	}
	if _, err := s.RecordRequest(ctx, newRequest("it", "k1"), receipts("<r9@ackd>")); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("re-recording k1 after reopen: err = %v, want ErrDuplicate", err)
	}
	// REQ-1, REQ-2 (spent by the failed build), REQ-3: the next is REQ-4.
	if r := record(t, s, newRequest("it", "k3"), receipts("<r3@ackd>")); r.Ref != "REQ-4" {
		t.Errorf("ref after reopen = %s, want REQ-4", r.Ref)
	}
}

// --- helpers ---

func newRequest(dept, key string) store.NewRequest {
	return store.NewRequest{
		Dept:          dept,
		MessageKey:    key,
		MessageID:     "<" + key + "@client.example.test>",
		Mailbox:       "INBOX",
		UID:           1,
		Requester:     "carol@example.test",
		RequesterName: "Carol",
		Subject:       "Printer on 3rd floor",
		Category:      "default",
		Rule:          "",
		ReceivedAt:    base,
		DueAt:         base.Add(72 * time.Hour),
		Text:          "It jams.",
	}
}

// receipts returns a build that queues one receipt per Message-ID.
func receipts(ids ...string) func(string) ([]store.NewMail, error) {
	return func(ref string) ([]store.NewMail, error) {
		var ms []store.NewMail
		for _, id := range ids {
			ms = append(ms, store.NewMail{
				Kind:       "receipt",
				MessageID:  id,
				Recipients: []string{"carol@example.test"},
				Raw:        []byte("Subject: [" + ref + "] received\r\n\r\nThanks.\r\n"),
			})
		}
		return ms, nil
	}
}

var errBuild = errors.New("template exploded")

func failBuild(string) ([]store.NewMail, error) { return nil, errBuild }

func record(t *testing.T, s store.Store, r store.NewRequest, build func(string) ([]store.NewMail, error)) store.Request {
	t.Helper()
	req, err := s.RecordRequest(t.Context(), r, build)
	if err != nil {
		t.Fatalf("RecordRequest(%s/%s): %v", r.Dept, r.MessageKey, err)
	}
	return req
}

func dueMail(t *testing.T, s store.Store, limit int) []store.Mail {
	t.Helper()
	// Mail is due from its creation, which uses the store's clock; an hour
	// ahead covers it without depending on how fast the test runs.
	ms, err := s.DueMail(t.Context(), time.Now().Add(time.Hour), limit)
	if err != nil {
		t.Fatalf("DueMail: %v", err)
	}
	return ms
}

func pending(t *testing.T, s store.Store) int {
	t.Helper()
	n, err := s.PendingMail(t.Context())
	if err != nil {
		t.Fatalf("PendingMail: %v", err)
	}
	return n
}

func openRequests(t *testing.T, s store.Store, dept string) []store.Request {
	t.Helper()
	rs, err := s.OpenRequests(t.Context(), dept)
	if err != nil {
		t.Fatalf("OpenRequests(%q): %v", dept, err)
	}
	return rs
}

func skippedList(t *testing.T, s store.Store, limit int) []store.Skipped {
	t.Helper()
	sk, err := s.RecentSkipped(t.Context(), limit)
	if err != nil {
		t.Fatalf("RecentSkipped: %v", err)
	}
	return sk
}

func refs(rs []store.Request) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Ref)
	}
	return out
}

// snapshot is everything a failed write must leave unchanged.
type snapshot struct {
	open    []store.Request
	pending int
	skipped []store.Skipped
}

func snap(t *testing.T, s store.Store) snapshot {
	t.Helper()
	return snapshot{open: openRequests(t, s, ""), pending: pending(t, s), skipped: skippedList(t, s, 1000)}
}

func sameSnapshot(t *testing.T, what string, before, after snapshot) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("%s changed the store:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("%s: err = %v, want ErrNotFound", what, err)
	}
}

func wantSeen(t *testing.T, s store.Store, dept, key string, want bool) {
	t.Helper()
	got, err := s.Seen(t.Context(), dept, key)
	if err != nil {
		t.Fatalf("Seen(%s, %s): %v", dept, key, err)
	}
	if got != want {
		t.Errorf("Seen(%s, %s) = %v, want %v", dept, key, got, want)
	}
}

// --- tests ---

func testSyncState(t *testing.T, s store.Store) {
	ctx := t.Context()
	if st, err := s.SyncState(ctx, "it", "INBOX"); err != nil || st != (store.SyncState{}) {
		t.Fatalf("unknown mailbox: %+v, %v; want zero value", st, err)
	}
	steps := []struct {
		dept, mailbox string
		st            store.SyncState
	}{
		{"it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: 10}},
		{"it", "Sent", store.SyncState{UIDValidity: 2, LastUID: 3}},
		{"payroll", "INBOX", store.SyncState{UIDValidity: 5, LastUID: 6}},
		{"it", "INBOX", store.SyncState{UIDValidity: 1, LastUID: 11}},
		{"it", "INBOX", store.SyncState{UIDValidity: 4294967295, LastUID: 4294967295}},
	}
	want := map[[2]string]store.SyncState{}
	for _, step := range steps {
		if err := s.SaveSyncState(ctx, step.dept, step.mailbox, step.st); err != nil {
			t.Fatalf("SaveSyncState(%+v): %v", step, err)
		}
		want[[2]string{step.dept, step.mailbox}] = step.st
		for k, w := range want {
			got, err := s.SyncState(ctx, k[0], k[1])
			if err != nil || got != w {
				t.Errorf("after saving %+v: SyncState(%s, %s) = %+v, %v; want %+v", step, k[0], k[1], got, err, w)
			}
		}
	}
}

func testRefsPerDepartment(t *testing.T, s store.Store) {
	ctx := t.Context()
	steps := []struct{ dept, key, want string }{
		{"it", "a", "REQ-1"},
		{"it", "b", "REQ-2"},
		{"payroll", "a", "REQ-1"},
		{"it", "c", "REQ-3"},
		{"payroll", "b", "REQ-2"},
	}
	for _, step := range steps {
		r := record(t, s, newRequest(step.dept, step.key), receipts("<"+step.dept+"-"+step.key+"@ackd>"))
		if r.Ref != step.want {
			t.Errorf("%s/%s: ref %s, want %s", step.dept, step.key, r.Ref, step.want)
		}
		got, err := s.RequestByRef(ctx, step.dept, step.want)
		if err != nil {
			t.Fatalf("RequestByRef(%s, %s): %v", step.dept, step.want, err)
		}
		if got.ID != r.ID || got.MessageKey != step.key {
			t.Errorf("RequestByRef(%s, %s) = request %d key %s, want %d key %s", step.dept, step.want, got.ID, got.MessageKey, r.ID, step.key)
		}
	}
	_, err := s.RequestByRef(ctx, "it", "REQ-4")
	wantNotFound(t, "RequestByRef(it, REQ-4)", err)
	_, err = s.RequestByRef(ctx, "facilities", "REQ-1")
	wantNotFound(t, "RequestByRef(facilities, REQ-1)", err)
}

func testRequestFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	before := time.Now().Truncate(time.Millisecond)
	in := store.NewRequest{
		Dept: "it", MessageKey: "key-1", MessageID: "<m1@example.test>", Mailbox: "Shared/IT", UID: 4294967295,
		Requester: "dörte@example.test", RequesterName: "Dörte Müller", Subject: "Zugang gesperrt — bitte 🙏",
		Category: "access", Rule: "password-reset",
		ReceivedAt: base.In(time.FixedZone("CET", 3600)), DueAt: base.Add(4*time.Hour + 999*time.Microsecond),
		Text: "line 1\nline 2\x00after NUL", State: store.StateNew,
		NextWake: base.Add(2*time.Hour + 999*time.Microsecond),
	}
	got := record(t, s, in, receipts("<r@ackd>"))
	after := time.Now()
	want := store.Request{
		ID: got.ID, Dept: "it", Ref: "REQ-1", MessageKey: "key-1", MessageID: "<m1@example.test>",
		Mailbox: "Shared/IT", UID: 4294967295,
		Requester: in.Requester, RequesterName: in.RequesterName, Subject: in.Subject,
		Category: "access", Rule: "password-reset", State: store.StateNew,
		ReceivedAt: base, DueAt: base.Add(4 * time.Hour), CreatedAt: got.CreatedAt, Text: in.Text,
		CycleStart: base, LastActivityAt: base, NextWake: base.Add(2 * time.Hour), Version: 1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecordRequest returned\n %+v\nwant\n %+v", got, want)
	}
	if got.CreatedAt.Before(before) || got.CreatedAt.After(after) {
		t.Errorf("CreatedAt %v not between %v and %v", got.CreatedAt, before, after)
	}
	read, err := s.RequestByRef(ctx, "it", "REQ-1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, got) {
		t.Errorf("read back\n %+v\nwant what RecordRequest returned\n %+v", read, got)
	}

	// Defaults: no due date stays zero, no state means acknowledged.
	in2 := newRequest("it", "key-2")
	in2.DueAt = time.Time{}
	r2 := record(t, s, in2, receipts())
	read2, err := s.RequestByRef(ctx, "it", r2.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if !read2.DueAt.IsZero() || !read2.FirstResponseAt.IsZero() || read2.State != store.StateAcknowledged ||
		read2.EscalationLevel != 0 || read2.Reminders != 0 {
		t.Errorf("defaults: got %+v", read2)
	}
	if n := pending(t, s); n != 1 {
		t.Errorf("request without mail queued something: pending = %d, want 1", n)
	}
}

func testDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := record(t, s, newRequest("it", "dup"), receipts("<r1@ackd>"))
	before := snap(t, s)
	called := false
	_, err := s.RecordRequest(ctx, newRequest("it", "dup"), func(ref string) ([]store.NewMail, error) {
		called = true
		return receipts("<r2@ackd>")(ref)
	})
	if !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second RecordRequest: err = %v, want ErrDuplicate", err)
	}
	if called {
		t.Error("build was called for a duplicate")
	}
	sameSnapshot(t, "duplicate RecordRequest", before, snap(t, s))
	_, err = s.FindThread(ctx, "it", []string{"<r2@ackd>"})
	wantNotFound(t, "thread key of the refused duplicate", err)
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "dup", Reason: "x"}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordSkipped of a recorded request: err = %v, want ErrDuplicate", err)
	}
	sameSnapshot(t, "duplicate RecordSkipped", before, snap(t, s))
	// A duplicate spends no reference.
	if r := record(t, s, newRequest("it", "next"), receipts("<r3@ackd>")); r.Ref != "REQ-2" {
		t.Errorf("after a duplicate: ref %s, want REQ-2 (first was %s)", r.Ref, first.Ref)
	}
	// The same key is a different message in another department.
	if r := record(t, s, newRequest("payroll", "dup"), receipts("<r4@ackd>")); r.Ref != "REQ-1" {
		t.Errorf("same key in payroll: ref %s, want REQ-1", r.Ref)
	}
}

func testDuplicateAcrossSkipped(t *testing.T, s store.Store) {
	ctx := t.Context()
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "s", Reason: "auto-reply"}); err != nil {
		t.Fatal(err)
	}
	wantSeen(t, s, "it", "s", true)
	wantSeen(t, s, "payroll", "s", false)
	before := snap(t, s)
	if _, err := s.RecordRequest(ctx, newRequest("it", "s"), receipts("<r@ackd>")); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordRequest of a skipped key: err = %v, want ErrDuplicate", err)
	}
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "s", Reason: "again"}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordSkipped twice: err = %v, want ErrDuplicate", err)
	}
	sameSnapshot(t, "duplicates of a skipped key", before, snap(t, s))
}

// A build error writes nothing: no request, no processed mark, no thread
// keys, no mail. The reference it was shown is spent (never handed out
// again), so the next request skips that number.
func testBuildError(t *testing.T, s store.Store) {
	ctx := t.Context()
	record(t, s, newRequest("it", "a"), receipts("<ra@ackd>"))
	before := snap(t, s)
	var shown string
	_, err := s.RecordRequest(ctx, newRequest("it", "b"), func(ref string) ([]store.NewMail, error) {
		shown = ref
		return nil, errBuild
	})
	if !errors.Is(err, errBuild) {
		t.Fatalf("err = %v, want it to wrap the build error", err)
	}
	if shown != "REQ-2" {
		t.Errorf("build saw %q, want REQ-2", shown)
	}
	sameSnapshot(t, "failed build", before, snap(t, s))
	wantSeen(t, s, "it", "b", false)
	_, err = s.RequestByRef(ctx, "it", "REQ-2")
	wantNotFound(t, "request of the failed build", err)
	_, err = s.FindThread(ctx, "it", []string{newRequest("it", "b").MessageID})
	wantNotFound(t, "thread key of the failed build", err)

	// The message can be recorded once the build works, under a new number.
	r := record(t, s, newRequest("it", "b"), receipts("<rb@ackd>"))
	if r.Ref != "REQ-3" {
		t.Errorf("retry after failed build: ref %s, want REQ-3 (REQ-2 was shown to the failed build)", r.Ref)
	}
	// Other departments are not affected.
	if r := record(t, s, newRequest("payroll", "b"), receipts("<rp@ackd>")); r.Ref != "REQ-1" {
		t.Errorf("payroll after it's failed build: ref %s, want REQ-1", r.Ref)
	}
}

// Mail the store cannot keep (here: a Message-ID already in the outbox,
// which the unique constraint refuses) fails like a build error.
func testStoreErrorAfterBuild(t *testing.T, s store.Store) {
	ctx := t.Context()
	first := record(t, s, newRequest("it", "a"), receipts("<same@ackd>"))
	cases := []struct {
		name  string
		build func(string) ([]store.NewMail, error)
	}{
		{"message-id already queued", receipts("<same@ackd>")},
		{"message-id twice in one build", receipts("<new@ackd>", "<new@ackd>")},
		{"message-id differing only in brackets", receipts("<br@ackd>", "br@ackd")},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, s)
			if _, err := s.RecordRequest(ctx, newRequest("it", "b"), tc.build); err == nil {
				t.Fatal("no error")
			}
			sameSnapshot(t, tc.name, before, snap(t, s))
			wantSeen(t, s, "it", "b", false)
			_, err := s.RequestByRef(ctx, "it", fmt.Sprintf("REQ-%d", i+2))
			wantNotFound(t, "request of the failed record", err)
		})
	}
	if r, err := s.FindThread(ctx, "it", []string{"<same@ackd>"}); err != nil || r.ID != first.ID {
		t.Errorf("the first owner of <same@ackd> = %+v, %v; want request %d", r, err, first.ID)
	}
	if r := record(t, s, newRequest("it", "b"), receipts("<other@ackd>")); r.Ref != fmt.Sprintf("REQ-%d", len(cases)+2) {
		t.Errorf("after %d failed records: ref %s, want REQ-%d", len(cases), r.Ref, len(cases)+2)
	}
}

func testInvalidInput(t *testing.T, s store.Store) {
	ctx := t.Context()
	mail := func(m store.NewMail) func(string) ([]store.NewMail, error) {
		return func(string) ([]store.NewMail, error) { return []store.NewMail{m}, nil }
	}
	good := store.NewMail{Kind: "receipt", MessageID: "<g@ackd>", Recipients: []string{"a@example.test"}, Raw: []byte("x")}
	noID, noRcpt, noRaw := good, good, good
	noID.MessageID = "<>"
	noRcpt.Recipients = nil
	noRaw.Raw = nil
	badState := newRequest("it", "x")
	badState.State = "lost"
	noDept := newRequest("", "x")
	noKey := newRequest("it", "")
	noTime := newRequest("it", "x")
	noTime.ReceivedAt = time.Time{}
	cases := []struct {
		name  string
		r     store.NewRequest
		build func(string) ([]store.NewMail, error)
	}{
		{"no department", noDept, receipts()},
		{"no key", noKey, receipts()},
		{"no received time", noTime, receipts()},
		{"unknown state", badState, receipts()},
		{"nil build", newRequest("it", "x"), nil},
		{"mail without Message-ID", newRequest("it", "x"), mail(noID)},
		{"mail without recipients", newRequest("it", "x"), mail(noRcpt)},
		{"empty mail", newRequest("it", "x"), mail(noRaw)},
	}
	before := snap(t, s)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.RecordRequest(ctx, tc.r, tc.build); err == nil {
				t.Error("no error")
			}
		})
	}
	sameSnapshot(t, "invalid requests", before, snap(t, s))
	wantSeen(t, s, "it", "x", false)
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it"}); err == nil {
		t.Error("RecordSkipped without key: no error")
	}
	if _, err := s.DueMail(ctx, time.Now(), 0); err == nil {
		t.Error("DueMail limit 0: no error")
	}
	if _, err := s.RecentSkipped(ctx, 0); err == nil {
		t.Error("RecentSkipped limit 0: no error")
	}
}

func testCanceledContext(t *testing.T, s store.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	before := snap(t, s)
	if _, err := s.RecordRequest(ctx, newRequest("it", "c"), receipts("<c@ackd>")); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordRequest with canceled context: err = %v, want context.Canceled", err)
	}
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "c"}); err == nil {
		t.Error("RecordSkipped with canceled context: no error")
	}
	sameSnapshot(t, "canceled calls", before, snap(t, s))
	wantSeen(t, s, "it", "c", false)
	if r := record(t, s, newRequest("it", "c"), receipts("<c@ackd>")); r.Ref != "REQ-1" {
		t.Errorf("after canceled call: ref %s, want REQ-1", r.Ref)
	}
}

func testConcurrentSameKey(t *testing.T, s store.Store) {
	const n = 8
	errs := make([]error, n)
	reqs := make([]store.Request, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			reqs[i], errs[i] = s.RecordRequest(t.Context(), newRequest("it", "same"), receipts(fmt.Sprintf("<r%d@ackd>", i)))
		})
	}
	close(start)
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Errorf("goroutines %d and %d both recorded the request", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrDuplicate):
			t.Errorf("goroutine %d: err = %v, want nil or ErrDuplicate", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no goroutine recorded the request")
	}
	open := openRequests(t, s, "")
	if len(open) != 1 || open[0].ID != reqs[won].ID || open[0].Ref != "REQ-1" {
		t.Errorf("open requests = %v, want only REQ-1", refs(open))
	}
	if mails := dueMail(t, s, 100); len(mails) != 1 || mails[0].MessageID != fmt.Sprintf("<r%d@ackd>", won) {
		t.Errorf("outbox = %+v, want only the winner's receipt", mails)
	}
}

func testConcurrentDistinctKeys(t *testing.T, s store.Store) {
	const workers, each = 8, 5
	errs := make(chan error, workers*each)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range each {
				key := fmt.Sprintf("w%d-%d", w, i)
				_, err := s.RecordRequest(t.Context(), newRequest("it", key), receipts("<"+key+"@ackd>"))
				if err != nil {
					errs <- err
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("RecordRequest: %v", err)
	}
	open := openRequests(t, s, "it")
	got := map[string]bool{}
	for _, r := range open {
		got[r.Ref] = true
	}
	for i := 1; i <= workers*each; i++ {
		if !got[fmt.Sprintf("REQ-%d", i)] {
			t.Errorf("REQ-%d missing", i)
		}
	}
	if len(open) != workers*each || len(got) != workers*each {
		t.Errorf("%d requests with %d distinct refs, want %d", len(open), len(got), workers*each)
	}
	if n := pending(t, s); n != workers*each {
		t.Errorf("pending = %d, want %d", n, workers*each)
	}
}

func testOutbox(t *testing.T, s store.Store) {
	ctx := t.Context()
	if _, ok, err := s.NextMailAttempt(ctx); err != nil || ok {
		t.Fatalf("empty outbox: NextMailAttempt ok=%v err=%v, want false", ok, err)
	}
	before := time.Now().Truncate(time.Millisecond)
	req := record(t, s, newRequest("it", "a"), func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{
			{Kind: "receipt", MessageID: "<receipt@ackd>", Recipients: []string{"carol@example.test"}, Raw: []byte("receipt " + ref)},
			{Kind: "escalation", MessageID: "<esc@ackd>", EnvelopeFrom: "it-help@example.test",
				Recipients: []string{"alice@example.test", "bob@example.test"}, Raw: []byte{0, 1, 2, 0xff}},
		}, nil
	})
	after := time.Now()
	mails := dueMail(t, s, 10)
	if len(mails) != 2 {
		t.Fatalf("due mail = %+v, want 2", mails)
	}
	r, e := mails[0], mails[1]
	if r.CreatedAt.Before(before) || r.CreatedAt.After(after) || !r.NextAttempt.Equal(r.CreatedAt) {
		t.Errorf("receipt times: created %v next %v, want created within [%v, %v] and due at once", r.CreatedAt, r.NextAttempt, before, after)
	}
	wantR := store.Mail{ID: r.ID, RequestID: req.ID, Dept: "it", Kind: "receipt", MessageID: "<receipt@ackd>",
		Recipients: []string{"carol@example.test"}, Raw: []byte("receipt REQ-1"), State: store.MailPending,
		NextAttempt: r.NextAttempt, CreatedAt: r.CreatedAt}
	if !reflect.DeepEqual(r, wantR) {
		t.Errorf("receipt\n %+v\nwant\n %+v", r, wantR)
	}
	if e.Kind != "escalation" || e.EnvelopeFrom != "it-help@example.test" || !reflect.DeepEqual(e.Raw, []byte{0, 1, 2, 0xff}) ||
		!reflect.DeepEqual(e.Recipients, []string{"alice@example.test", "bob@example.test"}) || e.ID <= r.ID {
		t.Errorf("escalation = %+v", e)
	}
	if got, err := s.MailByID(ctx, e.ID); err != nil || !reflect.DeepEqual(got, e) {
		t.Errorf("MailByID = %+v, %v; want %+v", got, err, e)
	}
	if early, err := s.DueMail(ctx, r.CreatedAt.Add(-time.Millisecond), 10); err != nil || len(early) != 0 {
		t.Errorf("due before creation: %+v, %v; want none", early, err)
	}
	if next, ok, err := s.NextMailAttempt(ctx); err != nil || !ok || !next.Equal(r.NextAttempt) {
		t.Errorf("NextMailAttempt = %v %v %v, want %v", next, ok, err, r.NextAttempt)
	}

	// Retry: not due until its time, attempts counted, error kept.
	retryAt := base.Add(24 * time.Hour * 365 * 10) // far beyond any test run
	if err := s.MarkRetry(ctx, r.ID, retryAt, "421 try later"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkRetry(ctx, r.ID, retryAt.Add(time.Minute), "421 still busy"); err != nil {
		t.Fatal(err)
	}
	if due := dueMail(t, s, 10); len(due) != 1 || due[0].ID != e.ID {
		t.Errorf("due after retry = %+v, want only the escalation", due)
	}
	got, err := s.MailByID(ctx, r.ID)
	if err != nil || got.Attempts != 2 || got.LastError != "421 still busy" || got.State != store.MailPending ||
		!got.NextAttempt.Equal(retryAt.Add(time.Minute)) {
		t.Errorf("after two retries = %+v, %v", got, err)
	}
	if due, err := s.DueMail(ctx, retryAt.Add(time.Minute), 10); err != nil || len(due) != 2 || due[1].ID != r.ID {
		t.Errorf("due at retry time = %+v, %v; want both, the receipt last", due, err)
	}

	// Sent: leaves the queue, cannot be retried or failed afterwards.
	sentAt := base.Add(time.Second)
	if err := s.MarkSent(ctx, e.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	if got, err := s.MailByID(ctx, e.ID); err != nil || got.State != store.MailSent || !got.SentAt.Equal(sentAt) || got.Attempts != 1 {
		t.Errorf("after MarkSent = %+v, %v", got, err)
	}
	if next, ok, err := s.NextMailAttempt(ctx); err != nil || !ok || !next.Equal(retryAt.Add(time.Minute)) {
		t.Errorf("NextMailAttempt after send = %v %v %v, want the retry time", next, ok, err)
	}
	if n := pending(t, s); n != 1 {
		t.Errorf("pending = %d, want 1", n)
	}
	for name, err := range map[string]error{
		"MarkSent twice":        s.MarkSent(ctx, e.ID, sentAt),
		"MarkRetry after sent":  s.MarkRetry(ctx, e.ID, retryAt, "x"),
		"MarkFailed after sent": s.MarkFailed(ctx, e.ID, sentAt, "x"),
	} {
		if !errors.Is(err, store.ErrNotPending) {
			t.Errorf("%s: err = %v, want ErrNotPending", name, err)
		}
	}

	// Failed: final.
	failedAt := base.Add(2 * time.Second)
	if err := s.MarkFailed(ctx, r.ID, failedAt, "550 no such user"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.MailByID(ctx, r.ID); err != nil || got.State != store.MailFailed || !got.FailedAt.Equal(failedAt) ||
		!got.SentAt.IsZero() || got.Attempts != 3 || got.LastError != "550 no such user" {
		t.Errorf("after MarkFailed = %+v, %v", got, err)
	}
	if err := s.MarkSent(ctx, r.ID, failedAt); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("MarkSent after failed: err = %v, want ErrNotPending", err)
	}
	if _, ok, err := s.NextMailAttempt(ctx); err != nil || ok {
		t.Errorf("NextMailAttempt with nothing pending: ok=%v err=%v", ok, err)
	}
	if n := pending(t, s); n != 0 {
		t.Errorf("pending = %d, want 0", n)
	}
	if due, err := s.DueMail(ctx, retryAt.Add(time.Hour), 10); err != nil || len(due) != 0 {
		t.Errorf("due with nothing pending = %+v, %v", due, err)
	}

	// Unknown ids.
	for name, err := range map[string]error{
		"MarkSent":   s.MarkSent(ctx, 999999, sentAt),
		"MarkRetry":  s.MarkRetry(ctx, 999999, sentAt, "x"),
		"MarkFailed": s.MarkFailed(ctx, 999999, sentAt, "x"),
	} {
		wantNotFound(t, name+" of unknown mail", err)
	}
	_, err = s.MailByID(ctx, 999999)
	wantNotFound(t, "MailByID of unknown mail", err)
}

func testOutboxOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	var ids []int64
	for i := range 5 {
		record(t, s, newRequest("it", fmt.Sprint(i)), receipts(fmt.Sprintf("<m%d@ackd>", i)))
	}
	for _, m := range dueMail(t, s, 10) {
		ids = append(ids, m.ID)
	}
	if len(ids) != 5 {
		t.Fatalf("due = %v, want 5 mails", ids)
	}
	// Give them attempts in an order different from creation:
	// ids[3] first, then ids[1], then ids[0], ids[2], ids[4] at the same time.
	t0 := base.Add(100 * 365 * 24 * time.Hour)
	times := []time.Time{t0.Add(2 * time.Minute), t0.Add(time.Minute), t0.Add(2 * time.Minute), t0, t0.Add(2 * time.Minute)}
	for i, id := range ids {
		if err := s.MarkRetry(ctx, id, times[i], "busy"); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{ids[3], ids[1], ids[0], ids[2], ids[4]}
	tests := []struct {
		now   time.Time
		limit int
		want  []int64
	}{
		{t0.Add(-time.Millisecond), 10, nil},
		{t0, 10, want[:1]},
		{t0.Add(time.Minute), 10, want[:2]},
		{t0.Add(time.Hour), 10, want},
		{t0.Add(time.Hour), 3, want[:3]},
		{t0.Add(time.Hour), 1, want[:1]},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("now+%v/limit%d", tc.now.Sub(t0), tc.limit), func(t *testing.T) {
			ms, err := s.DueMail(ctx, tc.now, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, m := range ms {
				got = append(got, m.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("due ids = %v, want %v", got, tc.want)
			}
		})
	}
	if next, ok, err := s.NextMailAttempt(ctx); err != nil || !ok || !next.Equal(t0) {
		t.Errorf("NextMailAttempt = %v %v %v, want %v", next, ok, err, t0)
	}
}

func testFindThread(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "a")
	in.MessageID = "<orig@client.example.test>"
	in.ThreadKeys = []string{"<parent@client.example.test>", " <spaced@client.example.test> ", ""}
	a := record(t, s, in, receipts("<receipt-a@ackd>"))
	b := record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	p := record(t, s, newRequest("payroll", "a"), receipts("<receipt-p@ackd>"))
	if err := s.AddThreadKeys(ctx, a.ID, []string{"<reply1@staff.example.test>", "<receipt-b@ackd>"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddThreadKeys(ctx, 999999, []string{"<x@y>"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AddThreadKeys to unknown request: err = %v, want ErrNotFound", err)
	}
	cases := []struct {
		name string
		dept string
		keys []string
		want int64 // 0 = ErrNotFound
	}{
		{"request Message-ID", "it", []string{"<orig@client.example.test>"}, a.ID},
		{"without brackets", "it", []string{"orig@client.example.test"}, a.ID},
		{"given thread key", "it", []string{"<parent@client.example.test>"}, a.ID},
		{"trimmed thread key", "it", []string{"<spaced@client.example.test>"}, a.ID},
		{"receipt Message-ID", "it", []string{"<unknown@x>", "<receipt-a@ackd>"}, a.ID},
		{"added key", "it", []string{"<reply1@staff.example.test>"}, a.ID},
		{"added key owned by another request stays there", "it", []string{"<receipt-b@ackd>"}, b.ID},
		{"first matching key wins (b)", "it", []string{"<nope@x>", "<receipt-b@ackd>", "<receipt-a@ackd>"}, b.ID},
		{"first matching key wins (a)", "it", []string{"<receipt-a@ackd>", "<receipt-b@ackd>"}, a.ID},
		{"other department", "payroll", []string{"<receipt-a@ackd>"}, 0},
		{"own department", "payroll", []string{"<receipt-p@ackd>"}, p.ID},
		{"unknown", "it", []string{"<unknown@x>"}, 0},
		{"no keys", "it", nil, 0},
		{"empty keys", "it", []string{"", "<>"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.FindThread(ctx, tc.dept, tc.keys)
			if tc.want == 0 {
				wantNotFound(t, "FindThread", err)
				return
			}
			if err != nil || got.ID != tc.want {
				t.Errorf("FindThread = request %d, %v; want %d", got.ID, err, tc.want)
			}
		})
	}
	// Many keys, the match near the end: beyond any single IN list.
	var many []string
	for i := range 1200 {
		many = append(many, fmt.Sprintf("<filler%d@x>", i))
	}
	many = append(many, "<receipt-b@ackd>")
	if got, err := s.FindThread(ctx, "it", many); err != nil || got.ID != b.ID {
		t.Errorf("FindThread over %d keys = %d, %v; want %d", len(many), got.ID, err, b.ID)
	}
	if got, err := s.FindThread(ctx, "it", []string{"<orig@client.example.test>"}); err != nil || !reflect.DeepEqual(got, a) {
		t.Errorf("FindThread = %+v, %v; want the whole request %+v", got, err, a)
	}
}

func testOpenRequests(t *testing.T, s store.Store) {
	mk := func(dept, key string, offset time.Duration, state store.State) store.NewRequest {
		r := newRequest(dept, key)
		r.ReceivedAt = base.Add(offset)
		r.State = state
		return r
	}
	for _, r := range []store.NewRequest{
		mk("it", "late", 3*time.Hour, ""),
		mk("it", "early", time.Hour, store.StateOverdue),
		mk("payroll", "mid", 2*time.Hour, store.StateWaiting),
		mk("it", "done", 0, store.StateResolved),
		mk("it", "answered", 4*time.Hour, store.StateAnswered),
	} {
		record(t, s, r, receipts("<"+r.Dept+r.MessageKey+"@ackd>"))
	}
	keys := func(rs []store.Request) string {
		var out []string
		for _, r := range rs {
			out = append(out, r.Dept+"/"+r.MessageKey)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ dept, want string }{
		{"", "it/early payroll/mid it/late it/answered"},
		{"it", "it/early it/late it/answered"},
		{"payroll", "payroll/mid"},
		{"facilities", ""},
	} {
		if got := keys(openRequests(t, s, tc.dept)); got != tc.want {
			t.Errorf("OpenRequests(%q) = %q, want %q", tc.dept, got, tc.want)
		}
	}
}

func testSkipped(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := []store.Skipped{
		{Dept: "it", Mailbox: "INBOX", UID: 1, MessageKey: "k1", MessageID: "<k1@x>", From: "MAILER-DAEMON@example.test",
			Subject: "Undelivered", Reason: "multipart/report", Refusal: "bounce", At: base},
		{Dept: "it", Mailbox: "INBOX", UID: 2, MessageKey: "k2", MessageID: "<k2@x>", From: "news@lists.example.test",
			Subject: "Weekly", Reason: "List-Id present", Refusal: "list", At: base.Add(2 * time.Minute)},
		{Dept: "payroll", Mailbox: "INBOX", UID: 4294967295, MessageKey: "k3", From: "x@example.test",
			Subject: "", Reason: "parse: bad header", Refusal: "malformed", At: base.Add(time.Minute)},
	}
	for _, sk := range in {
		if err := s.RecordSkipped(ctx, sk); err != nil {
			t.Fatal(err)
		}
		wantSeen(t, s, sk.Dept, sk.MessageKey, true)
	}
	got := skippedList(t, s, 10)
	want := []store.Skipped{in[1], in[2], in[0]}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RecentSkipped =\n %+v\nwant\n %+v", got, want)
	}
	if got := skippedList(t, s, 2); !reflect.DeepEqual(got, want[:2]) {
		t.Errorf("RecentSkipped(2) = %+v", got)
	}
	before := time.Now().Truncate(time.Millisecond)
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "now", Reason: "x"}); err != nil {
		t.Fatal(err)
	}
	if got := skippedList(t, s, 1); len(got) != 1 || got[0].MessageKey != "now" || got[0].At.Before(before) {
		t.Errorf("skip with zero At: %+v, want At set to now", got)
	}
	if n := len(openRequests(t, s, "")); n != 0 {
		t.Errorf("skips created %d requests", n)
	}
}
