package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// moveTests cover #forward's move of a request to another department.
var moveTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Move", testMove},
	{"MoveRefused", testMoveRefused},
}

func moveOf(old store.Request, at time.Time) store.Move {
	to := newRequest("payroll", "forward:it/"+old.Ref)
	to.MessageID = old.MessageID
	return store.Move{RequestID: old.ID, Version: old.Version, MessageKey: "cmd-1", Mailbox: "INBOX", UID: 9, At: at,
		To: to, CycleStart: at, EscalationLevel: 1,
		Events: func(ref string) ([]store.Event, []store.Event) {
			return []store.Event{{Kind: "forwarded", At: at, Actor: "bob@example.test", Detail: "to Payroll " + ref}},
				[]store.Event{{Kind: "forwarded", At: at, Actor: "bob@example.test", Detail: "from IT " + old.Ref}}
		}}
}

func testMove(t *testing.T, s store.Store) {
	ctx := t.Context()
	record(t, s, newRequest("payroll", "p1"), receipts("<p1-r@ackd>")) // payroll's REQ-1
	old := record(t, s, newRequest("it", "k1"), receipts("<k1-r@ackd>"))
	old = apply(t, s, store.Change{RequestID: old.ID, MessageKey: "reply-1", ThreadKeys: []string{"<reply-1@x>"},
		Events: []store.Event{{Kind: store.EventReminder, At: base.Add(time.Hour), Actor: "carol@example.test"}}})
	at := base.Add(2 * time.Hour)
	gone, moved, err := s.Move(ctx, moveOf(old, at), receipts("<handover@ackd>"))
	if err != nil {
		t.Fatal(err)
	}
	if moved.Dept != "payroll" || moved.Ref != "REQ-2" || moved.State != store.StateAcknowledged {
		t.Fatalf("moved = %s %s %s, want payroll REQ-2 acknowledged", moved.Dept, moved.Ref, moved.State)
	}
	if gone.State != store.StateResolved || gone.MovedTo != moved.ID || !gone.ResolvedAt.Equal(at) || !gone.NextWake.IsZero() {
		t.Fatalf("old = %+v, want resolved at %v, moved to %d", gone, at, moved.ID)
	}
	if got, err := s.RequestByID(ctx, moved.ID); err != nil || !got.CycleStart.Equal(at) || got.EscalationLevel != 1 || moved.CycleStart != got.CycleStart {
		t.Fatalf("moved request's cycle: %+v, %v; want it to start at %v, level 1", got, err, at)
	}
	if got, err := s.RequestByRef(ctx, "it", old.Ref); err != nil || got.MovedTo != moved.ID || got.Version != old.Version+1 {
		t.Fatalf("RequestByRef(it, %s) = %+v, %v", old.Ref, got, err)
	}
	// Mail on the old thread finds the old request in the old department
	// (the caller follows MovedTo) and the new one in the new department.
	if got, err := s.FindThread(ctx, "it", []string{"<reply-1@x>"}); err != nil || got.ID != old.ID {
		t.Fatalf("FindThread(it) = %d, %v; want the old request %d", got.ID, err, old.ID)
	}
	for _, k := range []string{"<reply-1@x>", "<k1-r@ackd>", "<handover@ackd>"} {
		if got, err := s.FindThread(ctx, "payroll", []string{k}); err != nil || got.ID != moved.ID {
			t.Fatalf("FindThread(payroll, %s) = %d, %v; want %d", k, got.ID, err, moved.ID)
		}
	}
	// The history stays with it.
	h, err := s.Events(ctx, moved.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range h {
		kinds = append(kinds, e.Kind+" "+e.Detail)
	}
	want := []string{"received category default", "reminder ", "forwarded from IT REQ-1"}
	if len(kinds) != len(want) {
		t.Fatalf("history of the moved request = %q, want %q", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("history of the moved request = %q, want %q", kinds, want)
		}
	}
	oh, err := s.Events(ctx, old.ID)
	if err != nil || oh[len(oh)-1].Detail != "to Payroll REQ-2" {
		t.Fatalf("history of the old request = %+v, %v", oh, err)
	}
	// The handover mail is queued with the new request.
	ms, err := s.RequestMail(ctx, moved.ID)
	if err != nil || len(ms) != 1 || ms[0].MessageID != "<handover@ackd>" || ms[0].Dept != "payroll" {
		t.Fatalf("mail of the moved request = %+v, %v", ms, err)
	}
	// The same command mail again moves nothing.
	if _, _, err := s.Move(ctx, moveOf(gone, at), receipts("<handover-2@ackd>")); !errors.Is(err, store.ErrDuplicate) {
		t.Fatalf("second Move with the same key: %v, want ErrDuplicate", err)
	}
}

func testMoveRefused(t *testing.T, s store.Store) {
	ctx := t.Context()
	old := record(t, s, newRequest("it", "k1"), receipts("<k1-r@ackd>"))
	at := base.Add(time.Hour)
	m := moveOf(old, at)
	m.Version = old.Version + 5
	if _, _, err := s.Move(ctx, m, receipts("<h1@ackd>")); !errors.Is(err, store.ErrStale) {
		t.Fatalf("Move at a stale version: %v, want ErrStale", err)
	}
	failing := func(string) ([]store.NewMail, error) { return nil, errors.New("template broken") }
	if _, _, err := s.Move(ctx, moveOf(old, at), failing); err == nil {
		t.Fatal("Move with a failing build: no error")
	}
	if got, err := s.RequestByID(ctx, old.ID); err != nil || got.State != store.StateAcknowledged || got.MovedTo != 0 {
		t.Fatalf("after a failed move the request is %+v, %v; want it untouched", got, err)
	}
	if _, err := s.RequestByRef(ctx, "payroll", "REQ-1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after a failed move payroll has REQ-1: %v", err)
	}
	apply(t, s, store.Change{RequestID: old.ID, MessageKey: "done", Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.ResolvedAt = store.StateResolved, at
		return nil, nil
	}})
	m = moveOf(old, at)
	m.Version, m.MessageKey = 0, "cmd-2"
	if _, _, err := s.Move(ctx, m, receipts("<h2@ackd>")); !errors.Is(err, store.ErrResolved) {
		t.Fatalf("Move of a resolved request: %v, want ErrResolved", err)
	}
}
