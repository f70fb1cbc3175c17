package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// teamTests cover who is away and the round-robin cursor (issue 15).
var teamTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"Away", testAway},
	{"AwayDuring", testAwayDuring},
	{"AssignCursor", testAssignCursor},
	{"LinkedRequests", testLinkedRequests},
	{"LatestRequestsAndEventsOfKinds", testLatestRequests},
	{"LatestRequestsInBatches", testLatestRequestsInBatches},
}

func awayAddrs(t *testing.T, s store.Store, dept string, at time.Time) []string {
	t.Helper()
	list, err := s.AwayAt(t.Context(), dept, at)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Address+" "+a.Until.UTC().Format(time.RFC3339))
	}
	return out
}

func testAway(t *testing.T, s store.Store) {
	ctx := t.Context()
	until := base.Add(48 * time.Hour)
	for _, a := range []store.Away{
		{Dept: "it", Address: "Alice@Example.test", Until: until, Reason: "out-of-office reply", SetAt: base},
		{Dept: "it", Address: "bob@example.test", Until: base.Add(time.Hour), Reason: "#away", SetAt: base},
		{Dept: "payroll", Address: "carl@example.test", Until: until, SetAt: base},
	} {
		if err := s.SetAway(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	want := func(at time.Time, w ...string) {
		t.Helper()
		got := awayAddrs(t, s, "it", at)
		if len(got) != len(w) {
			t.Fatalf("away at %v: %q, want %q", at, got, w)
		}
		for i := range w {
			if got[i] != w[i] {
				t.Fatalf("away at %v: %q, want %q", at, got, w)
			}
		}
	}
	u := until.UTC().Format(time.RFC3339)
	want(base, "alice@example.test "+u, "bob@example.test "+base.Add(time.Hour).UTC().Format(time.RFC3339))
	want(base.Add(2*time.Hour), "alice@example.test "+u) // bob's time is over
	// Setting again replaces; #back clears, for that department only.
	if err := s.SetAway(ctx, store.Away{Dept: "it", Address: "alice@example.test", Until: base.Add(3 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	want(base.Add(4 * time.Hour))
	if err := s.SetAway(ctx, store.Away{Dept: "it", Address: "alice@example.test", Until: until}); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearAway(ctx, "it", "ALICE@example.test"); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearAway(ctx, "it", "nobody@example.test"); err != nil {
		t.Fatal(err)
	}
	want(base, "bob@example.test "+base.Add(time.Hour).UTC().Format(time.RFC3339))
	if got := awayAddrs(t, s, "payroll", base); len(got) != 1 {
		t.Errorf("payroll away: %q, want carl", got)
	}
	if err := s.SetAway(ctx, store.Away{Dept: "it", Address: "x@example.test"}); err == nil {
		t.Error("SetAway without until: no error")
	}
}

// testAwayDuring: the log of absences keeps what AwayAt forgets: a new
// absence ends a running one of the same person where it starts, #back
// ends the open one now, and AwayDuring returns those that overlap the
// span, of that department only.
func testAwayDuring(t *testing.T, s store.Store) {
	ctx := t.Context()
	set := func(dept, addr string, from, until time.Time) {
		t.Helper()
		if err := s.SetAway(ctx, store.Away{Dept: dept, Address: addr, SetAt: from, Until: until, Reason: "out-of-office reply"}); err != nil {
			t.Fatal(err)
		}
	}
	set("it", "alice@example.test", base, base.Add(48*time.Hour))
	set("it", "alice@example.test", base.Add(24*time.Hour), base.Add(72*time.Hour)) // a new reply: the first ends here
	set("it", "bob@example.test", base.Add(-48*time.Hour), base.Add(-24*time.Hour))
	set("payroll", "carl@example.test", base, base.Add(48*time.Hour))
	got, err := s.AwayDuring(ctx, "it", base.Add(-time.Hour), base.Add(96*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var spans []string
	for _, a := range got {
		spans = append(spans, fmt.Sprintf("%s %s..%s", a.Address, a.SetAt.Sub(base), a.Until.Sub(base)))
	}
	if want := []string{"alice@example.test 0s..24h0m0s", "alice@example.test 24h0m0s..72h0m0s"}; !slices.Equal(spans, want) {
		t.Fatalf("AwayDuring(it) = %q, want %q", spans, want)
	}
	// #back ends the open absence now (the store's clock), the earlier one
	// stays as it was.
	future := time.Now().Add(24 * time.Hour)
	set("it", "dana@example.test", time.Now().Add(-time.Hour), future)
	before := time.Now().Add(-time.Second)
	if err := s.ClearAway(ctx, "it", "Dana@example.test"); err != nil {
		t.Fatal(err)
	}
	got, err = s.AwayDuring(ctx, "it", time.Now().Add(-2*time.Hour), future)
	if err != nil || len(got) != 1 || got[0].Address != "dana@example.test" || got[0].Until.Before(before) || !got[0].Until.Before(future) {
		t.Fatalf("after #back: %+v, %v; want dana's absence ended now", got, err)
	}
}

func testAssignCursor(t *testing.T, s store.Store) {
	ctx := t.Context()
	if got, err := s.AssignCursor(ctx, "it"); err != nil || got != "" {
		t.Fatalf("fresh cursor %q, %v; want empty", got, err)
	}
	for _, a := range []string{"alice@example.test", "Bob@example.test"} {
		if err := s.SetAssignCursor(ctx, "it", a); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.AssignCursor(ctx, "it"); err != nil || got != "bob@example.test" {
		t.Errorf("cursor %q, %v; want bob@example.test", got, err)
	}
	if got, err := s.AssignCursor(ctx, "payroll"); err != nil || got != "" {
		t.Errorf("payroll cursor %q, %v; want empty", got, err)
	}
}

func testLinkedRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	parent := record(t, s, newRequest("it", "p"), receipts("<receipt-p@ackd>"))
	var kids []store.Request
	for _, k := range []string{"c1", "c2", "c3"} {
		kids = append(kids, record(t, s, newRequest("it", k), receipts("<receipt-"+k+"@ackd>")))
	}
	for i, k := range kids {
		apply(t, s, store.Change{RequestID: k.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
			r.ParentRef = parent.Ref
			if i == 2 {
				r.State, r.ResolvedAt = store.StateResolved, base.Add(time.Hour)
			}
			return nil, nil
		}})
	}
	got, err := s.LinkedRequests(ctx, "it", parent.Ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != kids[0].ID || got[1].ID != kids[1].ID || got[0].ParentRef != parent.Ref {
		t.Errorf("linked under %s: %+v, want the two open children", parent.Ref, got)
	}
	if none, err := s.LinkedRequests(ctx, "it", ""); err != nil || len(none) != 0 {
		t.Errorf("linked under \"\": %d, %v; want none", len(none), err)
	}
	if back := byID(t, s, kids[0].ID); back.ParentRef != parent.Ref {
		t.Errorf("stored parent %q, want %s", back.ParentRef, parent.Ref)
	}
}

// A burst check reads the newest few requests of the last minutes and only
// the incident events of those alike, never the whole window.
func testLatestRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	var reqs []store.Request
	for i, k := range []string{"l1", "l2", "l3", "l4"} {
		r := newRequest("it", k)
		r.ReceivedAt = base.Add(time.Duration(i) * time.Minute)
		r.Rule, r.Subject = "rule-"+k, "Subject "+k
		reqs = append(reqs, record(t, s, r, receipts("<receipt-"+k+"@ackd>")))
	}
	// The burst check's fields are filled in (the rest may not be).
	linked, err := s.Apply(ctx, store.Change{RequestID: reqs[3].ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.ParentRef, r.State = reqs[0].Ref, store.StateResolved
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	reqs[3] = linked
	other := newRequest("payroll", "l5")
	other.ReceivedAt = base.Add(time.Hour)
	record(t, s, other, receipts("<receipt-l5@ackd>"))
	got, err := s.LatestRequests(ctx, "it", base.Add(time.Minute), 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != reqs[3].ID || got[1].ID != reqs[2].ID {
		t.Errorf("latest 2 since +1m: %+v, want l4 then l3", got)
	} else {
		for i, want := range []store.Request{reqs[3], reqs[2]} {
			g := got[i]
			if g.Dept != want.Dept || g.Ref != want.Ref || g.Requester != want.Requester || g.Subject != want.Subject ||
				g.Rule != want.Rule || g.State != want.State || !g.ReceivedAt.Equal(want.ReceivedAt) || g.ParentRef != want.ParentRef {
				t.Errorf("latest %d: %+v, want the fields of %+v", i, g, want)
			}
		}
	}
	if all, err := s.LatestRequests(ctx, "it", base.Add(time.Minute), 10, nil); err != nil || len(all) != 3 {
		t.Errorf("latest 10 since +1m: %d, %v; want 3 (l1 is older, l5 another department)", len(all), err)
	}
	if _, err := s.LatestRequests(ctx, "it", base, 0, nil); err == nil {
		t.Error("LatestRequests with limit 0: no error")
	}
	for i, kind := range []string{"incident", "incident-alert", "reminder"} {
		apply(t, s, store.Change{RequestID: reqs[i].ID, MessageKey: "ev-" + kind,
			Events: []store.Event{{Kind: kind, At: base.Add(2 * time.Hour), Detail: kind}}})
	}
	evs, err := s.EventsOfKinds(ctx, []int64{reqs[0].ID, reqs[1].ID, reqs[2].ID, 999999}, []string{"incident", "incident-alert"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].RequestID != reqs[0].ID || evs[0].Kind != "incident" || evs[1].Kind != "incident-alert" {
		t.Errorf("incident events: %+v, want the incident of l1 and the alert of l2", evs)
	}
	if none, err := s.EventsOfKinds(ctx, nil, []string{"incident"}); err != nil || len(none) != 0 {
		t.Errorf("no ids: %d, %v", len(none), err)
	}
}

// latestSays is what LatestRequests returns, as "ref state" in order.
func latestSays(t *testing.T, s store.Store, ctx context.Context, since time.Time, limit int, keep func(store.Request) bool) []string {
	t.Helper()
	got, err := s.LatestRequests(ctx, "it", since, limit, keep)
	if err != nil {
		t.Fatalf("LatestRequests: %v", err)
	}
	var out []string
	for _, r := range got {
		out = append(out, r.Ref+" "+string(r.State))
	}
	return out
}

// Inside a batch the burst check's read may be answered from what the
// store keeps (SQLite keeps each department's newest requests): it must
// say what the table says, with the batch's own new requests in it, none
// of a batch that rolled back or of a call that failed, and every change
// to a request.
func testLatestRequestsInBatches(t *testing.T, s store.Store) {
	ctx := t.Context()
	since := base.Add(-time.Hour)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	req := func(key string, m int, rule string) store.NewRequest {
		r := newRequest("it", key)
		r.ReceivedAt, r.Rule, r.Subject = at(m), rule, "Subject "+key
		return r
	}
	var refs []string
	for i, k := range []string{"b1", "b2", "b3"} {
		refs = append(refs, record(t, s, req(k, i, "printer"), receipts("<receipt-"+k+"@ackd>")).Ref)
	}
	other := newRequest("payroll", "b-other")
	other.ReceivedAt = at(10)
	record(t, s, other, receipts("<receipt-b-other@ackd>"))
	want := func(what string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %q, want %q", what, got, want)
		}
	}
	inBatch := func(what string, fn func(ctx context.Context) error) error {
		t.Helper()
		err := s.Batch(ctx, fn)
		if err != nil && !errors.Is(err, errRollBack) {
			t.Fatalf("%s: %v", what, err)
		}
		return err
	}
	acked := func(refs ...string) []string {
		var out []string
		for _, r := range refs {
			out = append(out, r+" "+string(store.StateAcknowledged))
		}
		return out
	}
	printer := func(r store.Request) bool { return r.Rule == "printer" }

	// A first batch reads the table; its own requests join, in order of
	// arrival (b0 arrived before b1) whatever order they are recorded in.
	var b4, b0 string
	inBatch("first batch", func(ctx context.Context) error {
		want("first read", latestSays(t, s, ctx, since, 10, nil), acked(refs[2], refs[1], refs[0])...)
		r4, err := s.RecordRequest(ctx, req("b4", 4, "vpn"), receipts("<receipt-b4@ackd>"))
		if err != nil {
			return err
		}
		r0, err := s.RecordRequest(ctx, req("b0", -1, "printer"), receipts("<receipt-b0@ackd>"))
		if err != nil {
			return err
		}
		b4, b0 = r4.Ref, r0.Ref
		want("with the batch's own", latestSays(t, s, ctx, since, 10, nil), acked(b4, refs[2], refs[1], refs[0], b0)...)
		want("limit 2", latestSays(t, s, ctx, since, 2, nil), acked(b4, refs[2])...)
		// keep picks among the limit newest, not the limit newest kept.
		want("printer among the newest 3", latestSays(t, s, ctx, since, 3, printer), acked(refs[2], refs[1])...)
		want("since b2", latestSays(t, s, ctx, at(1), 10, nil), acked(b4, refs[2], refs[1])...)
		return nil
	})
	all := acked(b4, refs[2], refs[1], refs[0], b0)
	want("after the commit, outside", latestSays(t, s, ctx, since, 10, nil), all...)

	// A batch that rolls back leaves nothing, nor does a failed call.
	errRolled := inBatch("rolled back", func(ctx context.Context) error {
		want("second batch", latestSays(t, s, ctx, since, 10, nil), all...)
		if _, err := s.RecordRequest(ctx, req("b5", 5, "printer"), receipts("<receipt-b5@ackd>")); err != nil {
			return err
		}
		if got := latestSays(t, s, ctx, since, 10, nil); len(got) != 6 {
			t.Errorf("with b5: %q, want 6", got)
		}
		return errRollBack
	})
	if !errors.Is(errRolled, errRollBack) {
		t.Fatalf("rolled-back batch: %v", errRolled)
	}
	var b6 string
	inBatch("failed call", func(ctx context.Context) error {
		want("after the rollback", latestSays(t, s, ctx, since, 10, nil), all...)
		if _, err := s.RecordRequest(ctx, req("b7", 7, "printer"), failBuild); !errors.Is(err, errBuild) {
			t.Errorf("RecordRequest with a failing build: %v, want errBuild", err)
		}
		r6, err := s.RecordRequest(ctx, req("b6", 6, "printer"), receipts("<receipt-b6@ackd>"))
		if err != nil {
			return err
		}
		b6 = r6.Ref
		want("after a failed call", latestSays(t, s, ctx, since, 10, nil), append(acked(b6), all...)...)
		return nil
	})
	all = append(acked(b6), all...)
	want("after the failed call's batch, outside", latestSays(t, s, ctx, since, 10, nil), all...)

	// Changes to a request show, made outside a batch or inside one, and
	// one undone with its batch is undone.
	setState := func(ctx context.Context, ref string, state store.State) error {
		r, err := s.RequestByRef(ctx, "it", ref)
		if err != nil {
			return err
		}
		_, err = s.Apply(ctx, store.Change{RequestID: r.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State = state
			return nil, nil
		}})
		return err
	}
	if err := setState(ctx, b6, store.StateAnswered); err != nil {
		t.Fatal(err)
	}
	all[0] = b6 + " answered"
	inBatch("after Apply", func(ctx context.Context) error {
		want("after an Apply outside", latestSays(t, s, ctx, since, 10, nil), all...)
		if err := setState(ctx, b4, store.StateResolved); err != nil {
			return err
		}
		moved := slices.Clone(all)
		moved[1] = b4 + " resolved"
		want("after an Apply inside", latestSays(t, s, ctx, since, 10, nil), moved...)
		return errRollBack
	})
	inBatch("after an undone Apply", func(ctx context.Context) error {
		want("after an Apply undone", latestSays(t, s, ctx, since, 10, nil), all...)
		if _, err := s.RecordRequest(ctx, req("b8", 8, "printer"), receipts("<receipt-b8@ackd>")); err != nil {
			return err
		}
		return setState(ctx, refs[0], store.StateAnswered)
	})
	got := latestSays(t, s, ctx, since, 10, nil)
	inBatch("last", func(ctx context.Context) error {
		want("a batch after a committed Apply inside one", latestSays(t, s, ctx, since, 10, nil), got...)
		return nil
	})
	if len(got) != 7 || !slices.Contains(got, refs[0]+" answered") {
		t.Errorf("after b8 and answering b1: %q", got)
	}
}

var errRollBack = errors.New("roll this batch back")
