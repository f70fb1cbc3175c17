package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// wakeTests are the cases for the store doing the scheduler's waiting:
// versions, NextWake, NextWake's query and the due requests.
var wakeTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"VersionRefusesStalePlans", testVersion},
	{"NextWakeRoundTrip", testNextWakeRoundTrip},
	{"DueRequests", testDueRequests},
	{"OpenRequestsAfter", testOpenRequestsAfter},
	{"WakePlans", testWakePlans},
}

func setWake(at time.Time) func(r *store.Request) ([]store.NewMail, error) {
	return func(r *store.Request) ([]store.NewMail, error) { r.NextWake = at; return nil, nil }
}

// A change planned from an old version is refused whole, and every write
// of the row moves the version on; a change without a version is not
// checked.
func testVersion(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "k1"), receipts("<r1@ackd>"))
	if r.Version != 1 || byID(t, s, r.ID).Version != 1 {
		t.Fatalf("new request: version %d (read back %d), want 1", r.Version, byID(t, s, r.ID).Version)
	}
	r2 := apply(t, s, store.Change{RequestID: r.ID, Version: 1, Update: func(q *store.Request) ([]store.NewMail, error) {
		q.Reminders = 1
		return nil, nil
	}})
	if r2.Version != 2 || byID(t, s, r.ID).Version != 2 {
		t.Fatalf("after one write: version %d (read back %d), want 2", r2.Version, byID(t, s, r.ID).Version)
	}
	before := reqState(t, s, r.ID)
	called := false
	_, err := s.Apply(ctx, store.Change{RequestID: r.ID, Version: 1, MessageKey: "stale-reply", ThreadKeys: []string{"<stale@x>"},
		Events: []store.Event{{Kind: store.EventReminder, At: base}},
		Update: func(q *store.Request) ([]store.NewMail, error) {
			called = true
			q.Reminders = 9
			return []store.NewMail{mail("escalation", "<stale-esc@ackd>")}, nil
		}})
	if !errors.Is(err, store.ErrStale) || called {
		t.Fatalf("stale change: err %v, Update called %v; want ErrStale before Update", err, called)
	}
	sameRequestState(t, "stale change", before, reqState(t, s, r.ID))
	if seen, err := s.Seen(ctx, "it", "stale-reply"); err != nil || seen {
		t.Errorf("stale change marked its message processed: %v, %v", seen, err)
	}
	if _, err := s.FindThread(ctx, "it", []string{"<stale@x>"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stale change attached its thread key: %v", err)
	}
	// A no-change Update leaves the version where it is.
	if got := apply(t, s, store.Change{RequestID: r.ID, Version: 2, Events: []store.Event{{Kind: "note", At: base}}}); got.Version != 2 {
		t.Errorf("no-change apply: version %d, want 2", got.Version)
	}
	// Without a version the change is applied to whatever is there.
	if got := apply(t, s, store.Change{RequestID: r.ID, Update: setWake(base)}); got.Version != 3 {
		t.Errorf("unversioned write: version %d, want 3", got.Version)
	}
	// The version is the store's: an Update may not set it.
	_, err = s.Apply(ctx, store.Change{RequestID: r.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
		q.Version = 42
		return nil, nil
	}})
	if err == nil || errors.Is(err, store.ErrStale) {
		t.Errorf("update that set the version: err %v, want a refusal", err)
	}
}

// NextWake is written by RecordRequest and Apply and read back by every
// query; a new request that names none wakes at once, a resolved one
// never.
func testNextWakeRoundTrip(t *testing.T, s store.Store) {
	nr := newRequest("it", "k1")
	r := record(t, s, nr, receipts("<r1@ackd>"))
	if want := base.Truncate(time.Millisecond); !r.NextWake.Equal(want) || !byID(t, s, r.ID).NextWake.Equal(want) {
		t.Errorf("request recorded without a wake-up: NextWake %v (read back %v), want its arrival %v", r.NextWake, byID(t, s, r.ID).NextWake, want)
	}
	nr = newRequest("it", "k2")
	nr.NextWake = base.Add(90 * time.Minute)
	r2 := record(t, s, nr, receipts("<r2@ackd>"))
	if want := base.Add(90 * time.Minute).Truncate(time.Millisecond); !byID(t, s, r2.ID).NextWake.Equal(want) {
		t.Errorf("NextWake read back %v, want %v", byID(t, s, r2.ID).NextWake, want)
	}
	at := base.Add(5*time.Hour + 7*time.Millisecond)
	got := apply(t, s, store.Change{RequestID: r2.ID, Version: r2.Version, Update: setWake(at)})
	read := byID(t, s, r2.ID)
	if !got.NextWake.Equal(at) || !reflect.DeepEqual(got, read) {
		t.Errorf("after Apply: returned %+v\nread back %+v; want NextWake %v", got, read, at)
	}
	// Cleared: nothing due.
	got = apply(t, s, store.Change{RequestID: r2.ID, Update: setWake(time.Time{})})
	if !got.NextWake.IsZero() || !byID(t, s, r2.ID).NextWake.IsZero() {
		t.Errorf("cleared NextWake reads back %v", byID(t, s, r2.ID).NextWake)
	}
	// Resolved requests never wake, whatever the Update says.
	got = apply(t, s, store.Change{RequestID: r.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
		q.State, q.ResolvedAt, q.NextWake = store.StateResolved, base.Add(time.Hour), base.Add(2*time.Hour)
		return nil, nil
	}})
	if !got.NextWake.IsZero() || !byID(t, s, r.ID).NextWake.IsZero() {
		t.Errorf("resolved request: NextWake %v (read back %v), want zero", got.NextWake, byID(t, s, r.ID).NextWake)
	}
	nr = newRequest("it", "k3")
	nr.State = store.StateResolved
	if r3 := record(t, s, nr, receipts("<r3@ackd>")); !r3.NextWake.IsZero() || !byID(t, s, r3.ID).NextWake.IsZero() {
		t.Errorf("request recorded resolved wakes at %v", byID(t, s, r3.ID).NextWake)
	}
}

// DueRequests returns the requests whose wake-up came, earliest first, at
// most limit, of the departments asked for; NextWake is the earliest of
// those departments.
func testDueRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	wakes := map[string][]time.Duration{
		"it": {3 * time.Hour, time.Hour, 2 * time.Hour, 5 * time.Hour},
		"hr": {90 * time.Minute, 4 * time.Hour},
	}
	ids := map[string][]int64{}
	n := 0
	for _, dept := range []string{"it", "hr"} {
		for _, w := range wakes[dept] {
			n++
			nr := newRequest(dept, fmt.Sprintf("k%d", n))
			nr.NextWake = base.Add(w)
			r := record(t, s, nr, receipts(fmt.Sprintf("<r%d@ackd>", n)))
			ids[dept] = append(ids[dept], r.ID)
		}
	}
	// One more in it with nothing due, and one resolved.
	quiet := record(t, s, newRequest("it", "quiet"), receipts("<quiet@ackd>"))
	apply(t, s, store.Change{RequestID: quiet.ID, Update: setWake(time.Time{})})
	done := record(t, s, newRequest("it", "done"), receipts("<done@ackd>"))
	apply(t, s, store.Change{RequestID: done.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
		q.State, q.ResolvedAt = store.StateResolved, base
		return nil, nil
	}})

	due := func(depts []string, now time.Duration, limit int) []int64 {
		t.Helper()
		rs, err := s.DueRequests(ctx, depts, base.Add(now), limit)
		if err != nil {
			t.Fatalf("DueRequests(%v, +%v, %d): %v", depts, now, limit, err)
		}
		var out []int64
		for _, r := range rs {
			out = append(out, r.ID)
		}
		return out
	}
	it, hr := ids["it"], ids["hr"]
	for _, tc := range []struct {
		depts []string
		now   time.Duration
		limit int
		want  []int64
	}{
		{nil, 0, 10, nil},
		{nil, time.Hour, 10, []int64{it[1]}},                                    // not after now: due
		{nil, 3 * time.Hour, 10, []int64{it[1], hr[0], it[2], it[0]}},           // earliest first
		{nil, 3 * time.Hour, 2, []int64{it[1], hr[0]}},                          // limit
		{[]string{"hr"}, 10 * time.Hour, 10, []int64{hr[0], hr[1]}},             // one department
		{[]string{"it", "hr"}, 10 * time.Hour, 3, []int64{it[1], hr[0], it[2]}}, // several
		{[]string{}, 10 * time.Hour, 10, nil},                                   // none
		{[]string{"nowhere"}, 10 * time.Hour, 10, nil},
	} {
		if got := due(tc.depts, tc.now, tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DueRequests(%v, +%v, %d) = %v, want %v", tc.depts, tc.now, tc.limit, got, tc.want)
		}
	}
	for _, tc := range []struct {
		depts []string
		want  time.Duration // 0: none
	}{
		{nil, time.Hour},
		{[]string{"hr"}, 90 * time.Minute},
		{[]string{"it", "hr"}, time.Hour},
		{[]string{}, 0},
		{[]string{"nowhere"}, 0},
	} {
		at, ok, err := s.NextWake(ctx, tc.depts)
		if err != nil {
			t.Fatalf("NextWake(%v): %v", tc.depts, err)
		}
		if ok != (tc.want != 0) || ok && !at.Equal(base.Add(tc.want).Truncate(time.Millisecond)) {
			t.Errorf("NextWake(%v) = %v, %v; want +%v", tc.depts, at, ok, tc.want)
		}
	}
	if _, err := s.DueRequests(ctx, nil, base, 0); err == nil {
		t.Error("DueRequests with limit 0: no error")
	}
}

// OpenRequestsAfter walks the open requests a page at a time, by ID.
func testOpenRequestsAfter(t *testing.T, s store.Store) {
	ctx := t.Context()
	var want []int64
	for i := range 7 {
		dept := "it"
		if i%3 == 2 {
			dept = "hr"
		}
		r := record(t, s, newRequest(dept, fmt.Sprintf("k%d", i)), receipts(fmt.Sprintf("<r%d@ackd>", i)))
		if i == 4 {
			apply(t, s, store.Change{RequestID: r.ID, Update: func(q *store.Request) ([]store.NewMail, error) {
				q.State, q.ResolvedAt = store.StateResolved, base
				return nil, nil
			}})
			continue
		}
		if dept == "it" {
			want = append(want, r.ID)
		}
	}
	var got []int64
	after := int64(0)
	for {
		page, err := s.OpenRequestsAfter(ctx, "it", after, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 2 {
			t.Fatalf("page of %d, limit 2", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			got = append(got, r.ID)
		}
		after = page[len(page)-1].ID
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walk over it's open requests = %v, want %v", got, want)
	}
	all, err := s.OpenRequestsAfter(ctx, "", 0, 100)
	if err != nil || len(all) != 6 {
		t.Errorf("all open requests: %d, %v; want 6", len(all), err)
	}
}

// A department's wake-up plan is recorded, replaced, kept per department,
// survives nothing else and moves with AdoptDepartment.
func testWakePlans(t *testing.T, s store.Store) {
	ctx := t.Context()
	plans := func() map[string]string {
		t.Helper()
		got, err := s.WakePlans(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := plans(); len(got) != 0 {
		t.Fatalf("fresh store: plans %v, want none", got)
	}
	for _, p := range [][2]string{{"it", "a1"}, {"hr", "b1"}, {"it", "a2"}} {
		if err := s.SetWakePlan(ctx, p[0], p[1]); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := plans(), map[string]string{"it": "a2", "hr": "b1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("plans %v, want %v", got, want)
	}
	record(t, s, newRequest("old-name", "k1"), receipts("<r1@ackd>"))
	if err := s.SetWakePlan(ctx, "old-name", "c1"); err != nil {
		t.Fatal(err)
	}
	if moved, err := s.AdoptDepartment(ctx, "old-name", "new@example.test"); err != nil || !moved {
		t.Fatalf("adopt: %v, %v", moved, err)
	}
	if got, want := plans(), map[string]string{"it": "a2", "hr": "b1", "new@example.test": "c1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after adopting: plans %v, want %v", got, want)
	}
}
