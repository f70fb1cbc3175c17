package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// lifecycleTests are the cases for following a thread: Apply, events and
// the queries reports use.
var lifecycleTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"ApplyRoundTrip", testApplyRoundTrip},
	{"ApplyDuplicate", testApplyDuplicate},
	{"ApplyUpdateError", testApplyUpdateError},
	{"ApplyRefusesBadUpdates", testApplyRefusesBadUpdates},
	{"ApplyNoChange", testApplyNoChange},
	{"ApplyMail", testApplyMail},
	{"ApplyConcurrent", testApplyConcurrent},
	{"ApplyUnknownRequest", testApplyUnknownRequest},
	{"ApplyCategory", testApplyCategory},
	{"Events", testEvents},
	{"EventsSince", testEventsSince},
	{"RequestsSince", testRequestsSince},
	{"QueueMail", testQueueMail},
	{"ResolvedLeavesOpenRequests", testResolved},
}

// mail is a valid outbox mail with Message-ID id.
func mail(kind, id string) store.NewMail {
	return store.NewMail{Kind: kind, MessageID: id, EnvelopeFrom: "it-help@example.test",
		Recipients: []string{"alice@example.test"}, Raw: []byte("Subject: " + kind + "\r\n\r\n" + id + "\r\n")}
}

func apply(t *testing.T, s store.Store, c store.Change) store.Request {
	t.Helper()
	r, err := s.Apply(t.Context(), c)
	if err != nil {
		t.Fatalf("Apply(request %d, key %q): %v", c.RequestID, c.MessageKey, err)
	}
	return r
}

func events(t *testing.T, s store.Store, id int64) []store.Event {
	t.Helper()
	evs, err := s.Events(t.Context(), id)
	if err != nil {
		t.Fatalf("Events(%d): %v", id, err)
	}
	return evs
}

func byID(t *testing.T, s store.Store, id int64) store.Request {
	t.Helper()
	r, err := s.RequestByID(t.Context(), id)
	if err != nil {
		t.Fatalf("RequestByID(%d): %v", id, err)
	}
	return r
}

// eventKinds is a history in short: "received reminder escalated".
func eventKinds(evs []store.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return strings.Join(out, " ")
}

// requestState is everything about one request that a refused Apply must
// leave unchanged, besides the global snapshot.
type requestState struct {
	row    store.Request
	events []store.Event
}

func reqState(t *testing.T, s store.Store, id int64) requestState {
	t.Helper()
	return requestState{row: byID(t, s, id), events: events(t, s, id)}
}

func sameRequestState(t *testing.T, what string, before, after requestState) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("%s changed the request:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

// Every mutable field written by Apply comes back the same from every query
// that returns requests.
func testApplyRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "a")
	in.MessageID = "<a@client.example.test>"
	orig := record(t, s, in, receipts("<receipt-a@ackd>"))
	if !orig.CycleStart.Equal(base) || !orig.LastActivityAt.Equal(base) {
		t.Errorf("new request: CycleStart %v, LastActivityAt %v; want both %v (ReceivedAt)", orig.CycleStart, orig.LastActivityAt, base)
	}

	cet := time.FixedZone("CET", 3600)
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour).In(cet) }
	want := orig
	want.State = store.StateWaiting
	want.DueAt = base.Add(96 * time.Hour)
	want.CycleStart = base.Add(5 * time.Hour)
	want.FirstResponseAt = base.Add(time.Hour)
	want.AnsweredAt = base.Add(3 * time.Hour)
	want.EscalationLevel = 2
	want.Reminders = 3
	want.AssignedTo = "bob@example.test"
	want.LateNoticeFor = base.Add(72 * time.Hour)
	want.WaitingSince = base.Add(4 * time.Hour)
	want.ResolvedAt = base.Add(6 * time.Hour)
	want.LastActivityAt = base.Add(7 * time.Hour)
	want.NextWake = base.Add(8 * time.Hour)
	want.Version = orig.Version + 1
	got := apply(t, s, store.Change{
		RequestID: orig.ID, MessageKey: "<reply@staff.example.test>", Mailbox: "Sent", UID: 77,
		ThreadKeys: []string{"<reply@staff.example.test>"},
		Events:     []store.Event{{Kind: store.EventWaiting, At: at(4), Actor: "bob@example.test", Detail: "#waiting"}},
		Update: func(r *store.Request) ([]store.NewMail, error) {
			if !reflect.DeepEqual(*r, orig) {
				t.Errorf("Update saw %+v, want the recorded request %+v", *r, orig)
			}
			r.State = store.StateWaiting
			// Sub-millisecond parts and zones are dropped like everywhere else.
			r.DueAt = base.Add(96*time.Hour + 999*time.Microsecond).In(cet)
			r.CycleStart, r.FirstResponseAt, r.AnsweredAt = at(5), at(1), at(3)
			r.EscalationLevel, r.Reminders, r.AssignedTo = 2, 3, "bob@example.test"
			r.LateNoticeFor, r.WaitingSince, r.ResolvedAt, r.LastActivityAt = at(72), at(4), at(6), at(7)
			r.NextWake = at(8)
			return nil, nil
		},
	})
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Apply returned\n %+v\nwant\n %+v", got, want)
	}
	reads := map[string]func() (store.Request, error){
		"RequestByID":  func() (store.Request, error) { return s.RequestByID(ctx, orig.ID) },
		"RequestByRef": func() (store.Request, error) { return s.RequestByRef(ctx, "it", orig.Ref) },
		"FindThread by the new key": func() (store.Request, error) {
			return s.FindThread(ctx, "it", []string{"reply@staff.example.test"})
		},
		"FindThread by the receipt": func() (store.Request, error) {
			return s.FindThread(ctx, "it", []string{"<receipt-a@ackd>"})
		},
		"OpenRequests": func() (store.Request, error) {
			rs, err := s.OpenRequests(ctx, "it")
			if err != nil || len(rs) != 1 {
				return store.Request{}, fmt.Errorf("%d requests, %v", len(rs), err)
			}
			return rs[0], nil
		},
		"RequestsSince": func() (store.Request, error) {
			rs, err := s.RequestsSince(ctx, "it", base)
			if err != nil || len(rs) != 1 {
				return store.Request{}, fmt.Errorf("%d requests, %v", len(rs), err)
			}
			return rs[0], nil
		},
	}
	for name, read := range reads {
		if r, err := read(); err != nil || !reflect.DeepEqual(r, want) {
			t.Errorf("%s = %+v, %v\nwant %+v", name, r, err, want)
		}
	}
	wantSeen(t, s, "it", "<reply@staff.example.test>", true)
	wantSeen(t, s, "payroll", "<reply@staff.example.test>", false)

	// Clearing works too: zero times come back zero, "" stays "".
	cleared := apply(t, s, store.Change{RequestID: orig.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State = store.StateAcknowledged
		r.DueAt, r.FirstResponseAt, r.AnsweredAt, r.LateNoticeFor = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		r.WaitingSince, r.ResolvedAt, r.LastActivityAt = time.Time{}, time.Time{}, time.Time{}
		r.EscalationLevel, r.Reminders, r.AssignedTo = 0, 0, ""
		r.NextWake = time.Time{}
		return nil, nil
	}})
	wantCleared := orig
	wantCleared.NextWake = time.Time{}
	wantCleared.Version = orig.Version + 2
	wantCleared.CycleStart = want.CycleStart
	wantCleared.LastActivityAt = time.Time{}
	wantCleared.DueAt = time.Time{}
	if read := byID(t, s, orig.ID); !reflect.DeepEqual(read, wantCleared) || !reflect.DeepEqual(cleared, wantCleared) {
		t.Errorf("after clearing: Apply returned %+v\nread back %+v\nwant %+v", cleared, read, wantCleared)
	}
}

// A message already processed changes nothing, whichever way it was
// processed before.
func testApplyDuplicate(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	apply(t, s, store.Change{RequestID: r.ID, MessageKey: "reply-1", Events: []store.Event{{Kind: store.EventReminder, At: base}},
		Update: func(r *store.Request) ([]store.NewMail, error) { r.Reminders++; return nil, nil }})
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "skipped-1", Reason: "auto-reply"}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"reply-1", "a", "skipped-1"} {
		t.Run(key, func(t *testing.T) {
			before, beforeReq := snap(t, s), reqState(t, s, r.ID)
			called := false
			_, err := s.Apply(ctx, store.Change{
				RequestID: r.ID, MessageKey: key, ThreadKeys: []string{"<dup-key@x>"},
				Events: []store.Event{{Kind: store.EventReminder, At: base}},
				Update: func(r *store.Request) ([]store.NewMail, error) {
					called = true
					r.Reminders++
					return []store.NewMail{mail("escalation", "<dup-esc@ackd>")}, nil
				},
			})
			if !errors.Is(err, store.ErrDuplicate) {
				t.Fatalf("err = %v, want ErrDuplicate", err)
			}
			if called {
				t.Error("Update was called for a processed message")
			}
			sameSnapshot(t, "duplicate Apply", before, snap(t, s))
			sameRequestState(t, "duplicate Apply", beforeReq, reqState(t, s, r.ID))
			for _, k := range []string{"<dup-key@x>", "<dup-esc@ackd>"} {
				_, err := s.FindThread(ctx, "it", []string{k})
				wantNotFound(t, "thread key "+k+" of the refused Apply", err)
			}
		})
	}
	// A follow-up mark guards RecordRequest and RecordSkipped as well.
	if _, err := s.RecordRequest(ctx, newRequest("it", "reply-1"), receipts("<x@ackd>")); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordRequest of a follow-up: err = %v, want ErrDuplicate", err)
	}
	if err := s.RecordSkipped(ctx, store.Skipped{Dept: "it", MessageKey: "reply-1"}); !errors.Is(err, store.ErrDuplicate) {
		t.Errorf("RecordSkipped of a follow-up: err = %v, want ErrDuplicate", err)
	}
	// The same key is another message in another department.
	p := record(t, s, newRequest("payroll", "p"), receipts("<receipt-p@ackd>"))
	apply(t, s, store.Change{RequestID: p.ID, MessageKey: "reply-1"})
}

var errUpdate = errors.New("template exploded")

// An Update error, or mail the store cannot keep, writes nothing: no mark,
// no keys, no events, no mail, the row as it was.
func testApplyUpdateError(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	cases := []struct {
		name   string
		update func(r *store.Request) ([]store.NewMail, error)
		is     error // the error Apply must wrap; nil = any error
	}{
		{"update error", func(r *store.Request) ([]store.NewMail, error) {
			r.Reminders++
			return []store.NewMail{mail("escalation", "<e1@ackd>")}, errUpdate
		}, errUpdate},
		{"message-id already queued", func(r *store.Request) ([]store.NewMail, error) {
			r.Reminders++
			return []store.NewMail{mail("escalation", "<e1@ackd>"), mail("late", "<receipt-a@ackd>")}, nil
		}, nil},
		{"message-id twice", func(r *store.Request) ([]store.NewMail, error) {
			return []store.NewMail{mail("escalation", "<e2@ackd>"), mail("escalation", "e2@ackd")}, nil
		}, nil},
		{"mail without recipients", func(r *store.Request) ([]store.NewMail, error) {
			m := mail("escalation", "<e3@ackd>")
			m.Recipients = nil
			return []store.NewMail{m}, nil
		}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeReq := snap(t, s), reqState(t, s, r.ID)
			_, err := s.Apply(ctx, store.Change{
				RequestID: r.ID, MessageKey: "reply", ThreadKeys: []string{"<reply@x>"},
				Events: []store.Event{{Kind: store.EventEscalated, At: base, Level: 1}},
				Update: tc.update,
			})
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want one wrapping %v", err, tc.is)
			}
			sameSnapshot(t, tc.name, before, snap(t, s))
			sameRequestState(t, tc.name, beforeReq, reqState(t, s, r.ID))
			wantSeen(t, s, "it", "reply", false)
			for _, k := range []string{"<reply@x>", "<e1@ackd>", "<e2@ackd>", "<e3@ackd>"} {
				_, err := s.FindThread(ctx, "it", []string{k})
				wantNotFound(t, "thread key "+k+" of the failed Apply", err)
			}
		})
	}
	// The message can be applied once the update works.
	got := apply(t, s, store.Change{RequestID: r.ID, MessageKey: "reply",
		Update: func(r *store.Request) ([]store.NewMail, error) { r.Reminders++; return nil, nil }})
	if got.Reminders != 1 {
		t.Errorf("Reminders = %d after one good Apply, want 1", got.Reminders)
	}
}

// An Update may change only the lifecycle fields, and only to values the
// store can keep.
func testApplyRefusesBadUpdates(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	cases := []struct {
		name   string
		update func(r *store.Request)
	}{
		{"unknown state", func(r *store.Request) { r.State = "lost" }},
		{"zero cycle start", func(r *store.Request) { r.CycleStart = time.Time{} }},
		{"negative reminders", func(r *store.Request) { r.Reminders = -1 }},
		{"subject", func(r *store.Request) { r.Subject = "changed" }},
		{"ref", func(r *store.Request) { r.Ref = "REQ-99" }},
		{"id", func(r *store.Request) { r.ID++ }},
		{"received time", func(r *store.Request) { r.ReceivedAt = r.ReceivedAt.Add(time.Hour) }},
		{"rule", func(r *store.Request) { r.Rule = "another-rule" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, beforeReq := snap(t, s), reqState(t, s, r.ID)
			_, err := s.Apply(ctx, store.Change{RequestID: r.ID, MessageKey: "k", Events: []store.Event{{Kind: "x"}},
				Update: func(r *store.Request) ([]store.NewMail, error) {
					r.Reminders++ // a legal change beside the illegal one
					tc.update(r)
					return nil, nil
				}})
			if err == nil {
				t.Fatal("no error")
			}
			sameSnapshot(t, tc.name, before, snap(t, s))
			sameRequestState(t, tc.name, beforeReq, reqState(t, s, r.ID))
			wantSeen(t, s, "it", "k", false)
		})
	}
	before := reqState(t, s, r.ID)
	if _, err := s.Apply(ctx, store.Change{RequestID: r.ID, Events: []store.Event{{Kind: "ok"}, {Kind: " "}}}); err == nil {
		t.Error("event without kind: no error")
	}
	sameRequestState(t, "event without kind", before, reqState(t, s, r.ID))
}

// ErrNoChange, or no Update at all, records the message, its keys and events
// but leaves the row alone and queues nothing.
func testApplyNoChange(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	cases := []struct {
		name   string
		update func(r *store.Request) ([]store.NewMail, error)
	}{
		{"ErrNoChange", func(r *store.Request) ([]store.NewMail, error) {
			r.Reminders = 42 // ignored: the row is not written
			return []store.NewMail{mail("escalation", "<nochange@ackd>")}, fmt.Errorf("nothing to do: %w", store.ErrNoChange)
		}},
		{"nil Update", nil},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snap(t, s)
			beforeEvents := events(t, s, r.ID)
			key := fmt.Sprintf("<cmd%d@staff.example.test>", i)
			ev := store.Event{Kind: store.EventCommandRefused, At: base.Add(time.Hour), Actor: "bob@example.test", Detail: "#frobnicate"}
			got, err := s.Apply(ctx, store.Change{RequestID: r.ID, MessageKey: key, ThreadKeys: []string{key},
				Events: []store.Event{ev}, Update: tc.update})
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if !reflect.DeepEqual(got, r) {
				t.Errorf("Apply returned %+v, want the request unchanged %+v", got, r)
			}
			if read := byID(t, s, r.ID); !reflect.DeepEqual(read, r) {
				t.Errorf("row = %+v, want unchanged %+v", read, r)
			}
			sameSnapshot(t, tc.name, before, snap(t, s)) // no mail, no skips, the row as it was
			wantSeen(t, s, "it", key, true)
			if f, err := s.FindThread(ctx, "it", []string{key}); err != nil || f.ID != r.ID {
				t.Errorf("FindThread(%s) = %d, %v; want %d", key, f.ID, err, r.ID)
			}
			_, err = s.FindThread(ctx, "it", []string{"<nochange@ackd>"})
			wantNotFound(t, "Message-ID of a discarded mail", err)
			after := events(t, s, r.ID)
			ev.RequestID, ev.Dept = r.ID, "it"
			if len(after) != len(beforeEvents)+1 {
				t.Fatalf("events = %+v, want one more than %+v", after, beforeEvents)
			}
			last := after[len(after)-1]
			ev.ID = last.ID
			if !reflect.DeepEqual(last, ev) {
				t.Errorf("appended event = %+v, want %+v", last, ev)
			}
		})
	}
}

// Mail queued by Apply belongs to the request, and its Message-IDs find the
// thread when someone replies to it.
func testApplyMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	other := record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	for _, m := range dueMail(t, s, 10) {
		if err := s.MarkSent(ctx, m.ID, base); err != nil {
			t.Fatal(err)
		}
	}
	apply(t, s, store.Change{RequestID: r.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.EscalationLevel = 1
		return []store.NewMail{mail("escalation", "<esc-1@ackd>"), mail("late", "late-1@ackd")}, nil
	}, ThreadKeys: []string{"<receipt-b@ackd>"}}) // owned by b: stays there
	due := dueMail(t, s, 10)
	if len(due) != 2 {
		t.Fatalf("due = %+v, want the 2 mails of Apply", due)
	}
	for i, want := range []store.NewMail{mail("escalation", "<esc-1@ackd>"), mail("late", "late-1@ackd")} {
		m := due[i]
		if m.RequestID != r.ID || m.Dept != "it" || m.Kind != want.Kind || m.MessageID != want.MessageID ||
			m.EnvelopeFrom != want.EnvelopeFrom || !reflect.DeepEqual(m.Recipients, want.Recipients) ||
			!reflect.DeepEqual(m.Raw, want.Raw) || m.State != store.MailPending {
			t.Errorf("mail %d = %+v, want %+v of request %d", i, m, want, r.ID)
		}
	}
	for _, k := range []string{"<esc-1@ackd>", "esc-1@ackd", "<late-1@ackd>"} {
		if f, err := s.FindThread(ctx, "it", []string{k}); err != nil || f.ID != r.ID {
			t.Errorf("FindThread(%s) = %d, %v; want %d", k, f.ID, err, r.ID)
		}
	}
	if f, err := s.FindThread(ctx, "it", []string{"<receipt-b@ackd>"}); err != nil || f.ID != other.ID {
		t.Errorf("FindThread(<receipt-b@ackd>) = %d, %v; want its first owner %d", f.ID, err, other.ID)
	}
	_, err := s.FindThread(ctx, "payroll", []string{"<esc-1@ackd>"})
	wantNotFound(t, "FindThread in another department", err)
}

// Applies on one request take turns: none loses another's increment.
func testApplyConcurrent(t *testing.T, s store.Store) {
	const n = 8
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, err := s.Apply(t.Context(), store.Change{
				RequestID: r.ID, MessageKey: fmt.Sprintf("reminder-%d", i),
				Events: []store.Event{{Kind: store.EventReminder, At: base.Add(time.Hour)}},
				Update: func(r *store.Request) ([]store.NewMail, error) {
					r.Reminders++
					r.EscalationLevel++
					return []store.NewMail{mail("escalation", fmt.Sprintf("<esc-%d@ackd>", i))}, nil
				},
			})
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Apply: %v", err)
		}
	}
	got := byID(t, s, r.ID)
	if got.Reminders != n || got.EscalationLevel != n {
		t.Errorf("after %d concurrent increments: Reminders %d, EscalationLevel %d; want %d", n, got.Reminders, got.EscalationLevel, n)
	}
	if k := eventKinds(events(t, s, r.ID)); k != "received"+strings.Repeat(" reminder", n) {
		t.Errorf("events = %q, want received and %d reminders", k, n)
	}
	if p := pending(t, s); p != n+2 {
		t.Errorf("pending = %d, want %d", p, n+2)
	}
}

func testApplyUnknownRequest(t *testing.T, s store.Store) {
	before := snap(t, s)
	called := false
	_, err := s.Apply(t.Context(), store.Change{RequestID: 999999, MessageKey: "k", Events: []store.Event{{Kind: "x"}},
		Update: func(*store.Request) ([]store.NewMail, error) { called = true; return nil, nil }})
	wantNotFound(t, "Apply to an unknown request", err)
	if called {
		t.Error("Update called for an unknown request")
	}
	sameSnapshot(t, "Apply to an unknown request", before, snap(t, s))
	_, err = s.RequestByID(t.Context(), 999999)
	wantNotFound(t, "RequestByID(999999)", err)
	_, err = s.Events(t.Context(), 999999)
	wantNotFound(t, "Events(999999)", err)
}

// A history starts with "received" and is ordered by time, then by the order
// events were appended, whatever order they were applied in.
func testEvents(t *testing.T, s store.Store) {
	in := newRequest("it", "a")
	in.Category, in.Rule = "access", "password-reset"
	r := record(t, s, in, receipts("<receipt-a@ackd>"))
	evs := events(t, s, r.ID)
	want := []store.Event{{ID: evs[0].ID, RequestID: r.ID, Dept: "it", Kind: store.EventReceived, At: base,
		Actor: "carol@example.test", Detail: "category access, rule password-reset"}}
	if !reflect.DeepEqual(evs, want) {
		t.Fatalf("history of a new request = %+v, want %+v", evs, want)
	}
	apply(t, s, store.Change{RequestID: r.ID, Events: []store.Event{
		{Kind: store.EventEscalated, At: base.Add(2 * time.Hour), Detail: "level 1 to staff", Level: 1},
		{Kind: store.EventAnswered, At: base.Add(3 * time.Hour), Actor: "bob@example.test"},
	}})
	apply(t, s, store.Change{RequestID: r.ID, Events: []store.Event{
		// Applied later but earlier in time (a message read late).
		{Kind: store.EventReminder, At: base.Add(time.Hour), Actor: "carol@example.test"},
		// Same time as the answer: after it, in the order appended.
		{Kind: store.EventResolved, At: base.Add(3 * time.Hour), Actor: "bob@example.test", Detail: "#resolved"},
		// NUL and invalid UTF-8 are stored as U+FFFD on every backend.
		{Kind: store.EventCommandRefused, At: base.Add(4 * time.Hour), Actor: "x\x00y@example.test", Detail: "bad \xff byte"},
	}})
	evs = events(t, s, r.ID)
	if k := eventKinds(evs); k != "received reminder escalated answered resolved command-refused" {
		t.Errorf("history = %q", k)
	}
	if len(evs) == 6 {
		if e := evs[2]; e.Level != 1 || e.Detail != "level 1 to staff" || e.Actor != "" || !e.At.Equal(base.Add(2*time.Hour)) || e.Dept != "it" || e.RequestID != r.ID {
			t.Errorf("escalated event = %+v", e)
		}
		if e := evs[5]; e.Actor != "x\uFFFDy@example.test" || e.Detail != "bad \uFFFD byte" {
			t.Errorf("cleaned event = %+v", e)
		}
	}
	// A zero At is the store's clock at the time of the Apply.
	before := time.Now().Truncate(time.Millisecond)
	apply(t, s, store.Change{RequestID: r.ID, Events: []store.Event{{Kind: store.EventWaiting}}})
	after := time.Now()
	evs = events(t, s, r.ID)
	if last := evs[len(evs)-1]; last.Kind != store.EventWaiting || last.At.Before(before) || last.At.After(after) {
		t.Errorf("event without At = %+v, want At within [%v, %v]", last, before, after)
	}
	// Other requests' histories are their own.
	o := record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	if k := eventKinds(events(t, s, o.ID)); k != "received" {
		t.Errorf("history of another request = %q, want received", k)
	}
}

func testEventsSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(dept, key string, received time.Duration) store.Request {
		r := newRequest(dept, key)
		r.ReceivedAt = base.Add(received)
		return record(t, s, r, receipts("<receipt-"+dept+key+"@ackd>"))
	}
	a, p := mk("it", "a", 0), mk("payroll", "p", 30*time.Minute)
	apply(t, s, store.Change{RequestID: a.ID, Events: []store.Event{
		{Kind: store.EventEscalated, At: base.Add(2 * time.Hour), Level: 1},
		{Kind: store.EventAnswered, At: base.Add(time.Hour)},
	}})
	apply(t, s, store.Change{RequestID: p.ID, Events: []store.Event{{Kind: store.EventReminder, At: base.Add(time.Hour)}}})
	b := mk("it", "b", 90*time.Minute)
	desc := func(evs []store.Event) string {
		var out []string
		for _, e := range evs {
			out = append(out, fmt.Sprintf("%s/%s/%s", e.Dept, map[int64]string{a.ID: "a", p.ID: "p", b.ID: "b"}[e.RequestID], e.Kind))
		}
		return strings.Join(out, " ")
	}
	cases := []struct {
		dept  string
		since time.Time
		want  string
	}{
		{"", time.Time{}, "it/a/received payroll/p/received it/a/answered payroll/p/reminder it/b/received it/a/escalated"},
		{"", base.Add(time.Hour), "it/a/answered payroll/p/reminder it/b/received it/a/escalated"},
		{"it", base, "it/a/received it/a/answered it/b/received it/a/escalated"},
		{"it", base.Add(time.Hour + time.Millisecond), "it/b/received it/a/escalated"},
		{"payroll", base.Add(30 * time.Minute), "payroll/p/received payroll/p/reminder"},
		{"payroll", base.Add(time.Hour + time.Millisecond), ""},
		{"facilities", time.Time{}, ""},
		{"", base.Add(3 * time.Hour), ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q since %v", tc.dept, tc.since), func(t *testing.T) {
			evs, err := s.EventsSince(ctx, tc.dept, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			if got := desc(evs); got != tc.want {
				t.Errorf("EventsSince = %q\nwant %q", got, tc.want)
			}
		})
	}
}

func testRequestsSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	mk := func(dept, key string, received time.Duration, state store.State) {
		r := newRequest(dept, key)
		r.ReceivedAt, r.State = base.Add(received), state
		record(t, s, r, receipts("<receipt-"+dept+key+"@ackd>"))
	}
	mk("it", "late", 3*time.Hour, "")
	mk("it", "early", time.Hour, store.StateResolved)
	mk("payroll", "mid", 2*time.Hour, store.StateWaiting)
	mk("it", "before", -time.Hour, "")
	mk("it", "same-time", time.Hour, store.StateAnswered)
	cases := []struct {
		dept  string
		since time.Time
		want  string
	}{
		{"", time.Time{}, "it/before it/early it/same-time payroll/mid it/late"},
		{"", base.Add(time.Hour), "it/early it/same-time payroll/mid it/late"},
		{"it", base, "it/early it/same-time it/late"},
		{"it", base.Add(time.Hour + time.Millisecond), "it/late"},
		{"payroll", base, "payroll/mid"},
		{"payroll", base.Add(2*time.Hour + time.Millisecond), ""},
		{"facilities", time.Time{}, ""},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%q since %v", tc.dept, tc.since), func(t *testing.T) {
			rs, err := s.RequestsSince(ctx, tc.dept, tc.since)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rs {
				got = append(got, r.Dept+"/"+r.MessageKey)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("RequestsSince = %q\nwant %q", g, tc.want)
			}
		})
	}
}

func testQueueMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	digests := []store.NewMail{mail("digest", "<digest-1@ackd>"), mail("digest", "<digest-2@ackd>")}
	if err := s.QueueMail(ctx, "it", digests); err != nil {
		t.Fatal(err)
	}
	due := dueMail(t, s, 10)
	if len(due) != 3 {
		t.Fatalf("due = %+v, want the receipt and 2 digests", due)
	}
	if due[0].RequestID != r.ID {
		t.Errorf("receipt RequestID = %d, want %d", due[0].RequestID, r.ID)
	}
	for i, m := range due[1:] {
		want := digests[i]
		if m.RequestID != 0 || m.Dept != "it" || m.Kind != "digest" || m.MessageID != want.MessageID ||
			!reflect.DeepEqual(m.Raw, want.Raw) || !reflect.DeepEqual(m.Recipients, want.Recipients) ||
			m.EnvelopeFrom != want.EnvelopeFrom || m.State != store.MailPending {
			t.Errorf("digest %d = %+v, want %+v without a request", i, m, want)
		}
		if got, err := s.MailByID(ctx, m.ID); err != nil || !reflect.DeepEqual(got, m) {
			t.Errorf("MailByID(%d) = %+v, %v", m.ID, got, err)
		}
	}
	_, err := s.FindThread(ctx, "it", []string{"<digest-1@ackd>"})
	wantNotFound(t, "a digest's Message-ID as thread key", err)

	// All or none.
	noRcpt := mail("digest", "<digest-4@ackd>")
	noRcpt.Recipients = nil
	for name, mails := range map[string][]store.NewMail{
		"message-id already queued": {mail("digest", "<digest-3@ackd>"), mail("digest", "<digest-1@ackd>")},
		"message-id twice":          {mail("digest", "<digest-3@ackd>"), mail("digest", "<digest-3@ackd>")},
		"no recipients":             {mail("digest", "<digest-3@ackd>"), noRcpt},
	} {
		before := snap(t, s)
		if err := s.QueueMail(ctx, "it", mails); err == nil {
			t.Errorf("%s: no error", name)
		}
		sameSnapshot(t, name, before, snap(t, s))
	}
	if err := s.QueueMail(ctx, "", digests); err == nil {
		t.Error("no department: no error")
	}
	if err := s.QueueMail(ctx, "it", nil); err != nil {
		t.Errorf("nothing to queue: %v", err)
	}
	if n := pending(t, s); n != 3 {
		t.Errorf("pending = %d, want 3", n)
	}
}

// Resolving through Apply takes a request out of OpenRequests; it stays
// readable everywhere else.
func testResolved(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	b := record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	resolvedAt := base.Add(time.Hour)
	apply(t, s, store.Change{RequestID: a.ID, Events: []store.Event{{Kind: store.EventResolved, At: resolvedAt}},
		Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State, r.ResolvedAt = store.StateResolved, resolvedAt
			return nil, nil
		}})
	if open := openRequests(t, s, ""); len(open) != 1 || open[0].ID != b.ID {
		t.Errorf("open = %v, want only %s", refs(open), b.Ref)
	}
	if open := openRequests(t, s, "it"); len(open) != 1 || open[0].ID != b.ID {
		t.Errorf("open in it = %v, want only %s", refs(open), b.Ref)
	}
	got := byID(t, s, a.ID)
	if got.State != store.StateResolved || !got.ResolvedAt.Equal(resolvedAt) {
		t.Errorf("resolved request = %+v", got)
	}
	if f, err := s.FindThread(ctx, "it", []string{"<receipt-a@ackd>"}); err != nil || f.ID != a.ID {
		t.Errorf("FindThread of a resolved request = %d, %v", f.ID, err)
	}
	if rs, err := s.RequestsSince(ctx, "it", time.Time{}); err != nil || len(rs) != 2 {
		t.Errorf("RequestsSince = %v, %v; want both", refs(rs), err)
	}
	// Reopening brings it back.
	apply(t, s, store.Change{RequestID: a.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.ResolvedAt, r.CycleStart = store.StateAcknowledged, time.Time{}, base.Add(2*time.Hour)
		return nil, nil
	}})
	if open := openRequests(t, s, "it"); len(open) != 2 {
		t.Errorf("open after reopening = %v, want both", refs(open))
	}
}

// testApplyCategory: #category moves a request to another category; the
// store keeps the new one (issue 15 item 3).
func testApplyCategory(t *testing.T, s store.Store) {
	r := record(t, s, newRequest("it", "cat"), receipts("<receipt-cat@ackd>"))
	got := apply(t, s, store.Change{RequestID: r.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Category = "hardware"
		return nil, nil
	}})
	if got.Category != "hardware" {
		t.Errorf("Apply returned category %q, want hardware", got.Category)
	}
	if back := byID(t, s, r.ID); back.Category != "hardware" || back.Version != r.Version+1 {
		t.Errorf("stored category %q version %d; want hardware, version %d", back.Category, back.Version, r.Version+1)
	}
}
