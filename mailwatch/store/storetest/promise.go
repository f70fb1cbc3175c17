package storetest

import (
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

var promiseTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"PromisedAtRoundTrip", testPromisedAt},
	{"RecordSince", testRecordSince},
}

// A forecast promise is kept as recorded, changed by Apply like the other
// lifecycle fields, and cleared.
func testPromisedAt(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "k-promise")
	in.DueAt = base.Add(4 * time.Hour)
	in.PromisedAt = base.Add(26 * time.Hour)
	r := record(t, s, in, receipts("<r-promise@ackd>"))
	if !r.PromisedAt.Equal(in.PromisedAt) {
		t.Errorf("recorded PromisedAt = %v, want %v", r.PromisedAt, in.PromisedAt)
	}
	got, err := s.RequestByRef(ctx, "it", r.Ref)
	if err != nil || !got.PromisedAt.Equal(in.PromisedAt) {
		t.Fatalf("read back PromisedAt = %v, %v; want %v", got.PromisedAt, err, in.PromisedAt)
	}
	next, err := s.Apply(ctx, store.Change{RequestID: r.ID, Version: got.Version,
		Update: func(r *store.Request) ([]store.NewMail, error) {
			r.DueAt, r.PromisedAt = r.PromisedAt, time.Time{}
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.RequestByRef(ctx, "it", r.Ref)
	if err != nil || !got.PromisedAt.IsZero() || !got.DueAt.Equal(in.PromisedAt) || !next.PromisedAt.IsZero() {
		t.Errorf("after Apply: due %v promised %v (%v); want due %v, no promise", got.DueAt, got.PromisedAt, err, in.PromisedAt)
	}
	if plain := record(t, s, newRequest("it", "k-plain"), receipts("<r-plain@ackd>")); !plain.PromisedAt.IsZero() {
		t.Errorf("a request without a promise reads back %v", plain.PromisedAt)
	}
}

// RecordSince: everything received since, and every older request still
// open and unanswered; not older answered or resolved ones, nor another
// department's.
func testRecordSince(t *testing.T, s store.Store) {
	ctx := t.Context()
	at := func(key string, received time.Duration, dept string) store.Request {
		in := newRequest(dept, key)
		in.ReceivedAt = base.Add(received)
		in.DueAt = in.ReceivedAt.Add(4 * time.Hour)
		return record(t, s, in, receipts("<r-"+key+"@ackd>"))
	}
	oldOpen := at("old-open", -10*24*time.Hour, "it")
	oldAnswered := at("old-answered", -9*24*time.Hour, "it")
	apply(t, s, store.Change{RequestID: oldAnswered.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.FirstResponseAt, r.AnsweredAt = store.StateAnswered, base.Add(-8*24*time.Hour), base.Add(-8*24*time.Hour)
		return nil, nil
	}})
	recent := at("recent", -time.Hour, "it")
	recentAnswered := at("recent-answered", -30*time.Minute, "it")
	apply(t, s, store.Change{RequestID: recentAnswered.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.State, r.FirstResponseAt, r.AnsweredAt = store.StateAnswered, base, base
		return nil, nil
	}})
	at("other-dept", -time.Hour, "payroll")

	got, err := s.RecordSince(ctx, "it", base.Add(-7*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range got {
		refs = append(refs, r.Ref)
	}
	want := []string{oldOpen.Ref, recent.Ref, recentAnswered.Ref}
	if len(refs) != len(want) {
		t.Fatalf("RecordSince = %v, want %v", refs, want)
	}
	for i := range want {
		if refs[i] != want[i] {
			t.Fatalf("RecordSince = %v, want %v", refs, want)
		}
	}
	if r := got[2]; r.Category != "default" || !r.FirstResponseAt.Equal(base) || !r.ReceivedAt.Equal(base.Add(-30*time.Minute)) ||
		!r.DueAt.Equal(base.Add(-30*time.Minute+4*time.Hour)) || r.State != store.StateAnswered {
		t.Errorf("RecordSince row = %+v", r)
	}
}
