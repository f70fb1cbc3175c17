package storetest

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// languageTests cover the language a request is answered in (issue 16).
var languageTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"RequestLanguage", testRequestLanguage},
	{"Rating", testRating},
}

// testRequestLanguage: the language is kept as recorded, read back by
// every reader, and no update can change it.
func testRequestLanguage(t *testing.T, s store.Store) {
	ctx := t.Context()
	in := newRequest("it", "german")
	in.Language = "de"
	got := record(t, s, in, receipts("<lang1@ackd>"))
	if got.Language != "de" {
		t.Errorf("RecordRequest returned language %q, want de", got.Language)
	}
	for name, read := range map[string]func() (store.Request, error){
		"RequestByRef": func() (store.Request, error) { return s.RequestByRef(ctx, "it", got.Ref) },
		"RequestByID":  func() (store.Request, error) { return s.RequestByID(ctx, got.ID) },
	} {
		r, err := read()
		if err != nil || !reflect.DeepEqual(r, got) {
			t.Errorf("%s = %+v, %v; want %+v", name, r, err, got)
		}
	}
	open, err := s.OpenRequests(ctx, "it")
	if err != nil || len(open) != 1 || open[0].Language != "de" {
		t.Errorf("OpenRequests = %+v, %v; want the request in de", open, err)
	}
	if none := record(t, s, newRequest("it", "unsaid"), receipts("<lang2@ackd>")); none.Language != "" {
		t.Errorf("request without a language: %q, want empty", none.Language)
	}
	if _, err := s.Apply(ctx, store.Change{RequestID: got.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Language = "fr"
		return nil, nil
	}}); err == nil {
		t.Errorf("Apply let an update change the language")
	}
}

// testRating: the satisfaction columns are lifecycle fields an update
// sets, read back by every reader; LastRatingAsked finds the latest
// question to a requester, whatever the case of the address.
func testRating(t *testing.T, s store.Store) {
	ctx := t.Context()
	if at, err := s.LastRatingAsked(ctx, "it", "jane@example.test"); err != nil || !at.IsZero() {
		t.Fatalf("LastRatingAsked before any = %v, %v; want zero", at, err)
	}
	a := record(t, s, newRequest("it", "rate-a"), receipts("<rate-a@ackd>"))
	b := record(t, s, newRequest("it", "rate-b"), receipts("<rate-b@ackd>"))
	other := newRequest("payroll", "rate-c")
	c := record(t, s, other, receipts("<rate-c@ackd>"))
	ask := func(r store.Request, at time.Time) store.Request {
		t.Helper()
		got, err := s.Apply(ctx, store.Change{RequestID: r.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
			r.State, r.ResolvedAt, r.RatingAskedAt = store.StateResolved, at, at
			return nil, nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	ask(a, base.Add(time.Hour))
	ask(b, base.Add(3*time.Hour))
	ask(c, base.Add(5*time.Hour)) // another department
	if at, err := s.LastRatingAsked(ctx, "it", strings.ToUpper(a.Requester)); err != nil || !at.Equal(base.Add(3*time.Hour)) {
		t.Errorf("LastRatingAsked = %v, %v; want %v", at, err, base.Add(3*time.Hour))
	}
	rated, err := s.Apply(ctx, store.Change{RequestID: a.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Rating, r.RatedAt = 2, base.Add(2*time.Hour)
		return nil, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	back, err := s.RequestByID(ctx, a.ID)
	if err != nil || !reflect.DeepEqual(back, rated) || back.Rating != 2 || !back.RatedAt.Equal(base.Add(2*time.Hour)) ||
		!back.RatingAskedAt.Equal(base.Add(time.Hour)) {
		t.Errorf("read back %+v, %v; want %+v", back, err, rated)
	}
	if _, err := s.Apply(ctx, store.Change{RequestID: b.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.Rating = 6
		return nil, nil
	}}); err == nil {
		t.Errorf("Apply accepted rating 6")
	}
}
