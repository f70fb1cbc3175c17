package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/report"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// digestDept: UTC, Monday to Friday 09:00–17:00, Monday 16 March 2026 a
// holiday, digest at 08:30.
func digestDept(t *testing.T, name string, skipEmpty bool) *config.Department {
	t.Helper()
	cal, err := calendar.NewCalendar(calendar.CalendarSpec{
		Location: time.UTC,
		Workdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Hours:    []calendar.Span{{Start: 9 * time.Hour, End: 17 * time.Hour}},
		Holidays: []calendar.Date{{Year: 2026, Month: time.March, Day: 16}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &config.Department{Name: name, Address: strings.ToLower(name) + "@example.test", Calendar: cal,
		Digest:     config.DigestConfig{To: []string{"alice@example.test", "bob@example.test"}, At: "08:30", SkipEmpty: skipEmpty},
		Categories: map[string]*config.Category{"default": {Name: "default", Commitment: calendar.Commitment{Business: 4 * time.Hour}}}}
}

func TestDigesterOncePerWorkingDay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ackd.db")
	st, err := store.Open(ctx, "sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	it := digestDept(t, "IT", false)
	quiet := digestDept(t, "Quiet", true) // nothing ever arrives: skip_empty sends nothing
	rt := &Runtime{Config: &config.Config{Departments: []*config.Department{it, quiet}}, Templates: templates.Default()}
	if _, err := st.RecordRequest(ctx, store.NewRequest{Dept: "it@example.test", MessageKey: "<a@x>", MessageID: "<a@x>",
		Requester: "jane@example.test", Subject: "Printer jams", Category: "default",
		ReceivedAt: time.Date(2026, 3, 12, 10, 0, 0, 0, time.UTC), DueAt: time.Date(2026, 3, 12, 14, 0, 0, 0, time.UTC)},
		func(string) ([]store.NewMail, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}

	var now time.Time
	clock := func() time.Time { return now }
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	woken := 0
	g := NewDigester(st, func() *Runtime { return rt }, clock, func() { woken++ }, log)
	mar := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, time.UTC) }
	steps := []struct {
		name    string
		at      time.Time
		restart bool
		queued  int
		next    time.Time
	}{
		{"friday before at", mar(13, 8, 0), false, 0, mar(13, 8, 30)},
		{"friday at", mar(13, 8, 30), false, 1, mar(17, 8, 30)},
		{"friday noon", mar(13, 12, 0), false, 0, mar(17, 8, 30)},
		{"friday after a restart", mar(13, 15, 0), true, 0, mar(17, 8, 30)},
		{"saturday", mar(14, 8, 30), false, 0, mar(17, 8, 30)},
		{"sunday after a restart", mar(15, 9, 0), true, 0, mar(17, 8, 30)},
		{"monday holiday", mar(16, 8, 30), false, 0, mar(17, 8, 30)},
		{"tuesday, started late", mar(17, 10, 0), true, 1, mar(18, 8, 30)},
		{"tuesday again", mar(17, 10, 1), false, 0, mar(18, 8, 30)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now = s.at
			if s.restart {
				g = NewDigester(st, func() *Runtime { return rt }, clock, func() { woken++ }, log)
			}
			next, queued, err := g.RunOnce(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if queued != s.queued || !next.Equal(s.next) {
				t.Errorf("queued %d, next %v; want %d, %v", queued, next, s.queued, s.next)
			}
		})
	}
	if woken != 2 {
		t.Errorf("sender woken %d times, want 2", woken)
	}
	due, err := st.DueMail(ctx, time.Now().Add(time.Hour), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 {
		t.Fatalf("outbox holds %d mails, want the two IT digests", len(due))
	}
	for _, m := range due {
		raw := string(m.Raw)
		for _, want := range []string{"Auto-Submitted: auto-generated", "alice@example.test", "bob@example.test",
			"From: \"IT\" <it@example.test>", "1 overdue", "[REQ-1]"} {
			if !strings.Contains(raw, want) {
				t.Errorf("digest lacks %q:\n%s", want, raw)
			}
		}
		if m.Dept != "it@example.test" || m.Kind != "digest" || m.EnvelopeFrom != "it@example.test" {
			t.Errorf("digest row = %s/%s/%s", m.Dept, m.Kind, m.EnvelopeFrom)
		}
	}
}

// TestDigestSkipEmptyStillReportsParked: skip_empty spares staff a digest
// with nothing in it, but a parked message waits for an admin and is news.
func TestDigestSkipEmptyStillReportsParked(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	quiet := digestDept(t, "Quiet", true)
	rt := &Runtime{Config: &config.Config{Departments: []*config.Department{quiet}}, Templates: templates.Default()}
	now := time.Date(2026, 3, 13, 8, 30, 0, 0, time.UTC)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	g := NewDigester(st, func() *Runtime { return rt }, func() time.Time { return now }, nil, log)
	if _, queued, err := g.RunOnce(ctx); err != nil || queued != 0 {
		t.Fatalf("empty day: queued %d, %v; want none", queued, err)
	}
	if err := st.ParkMessage(ctx, store.Parked{Dept: quiet.Key(), Mailbox: "INBOX", UIDValidity: 1, UID: 9,
		Attempts: 5, LastError: "record request: database is locked"}); err != nil {
		t.Fatal(err)
	}
	now = time.Date(2026, 3, 17, 8, 30, 0, 0, time.UTC)
	if _, queued, err := g.RunOnce(ctx); err != nil || queued != 1 {
		t.Fatalf("a parked message: queued %d, %v; want the digest", queued, err)
	}
}

// TestDigestNewAnsweredNotOverdue: an answered, waiting or resolved
// request in "New since" is not marked OVERDUE when its due time has
// passed (issue 15 item 7); an unanswered one is.
func TestDigestNewAnsweredNotOverdue(t *testing.T) {
	d := digestDept(t, "IT", false)
	mar := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, time.UTC) }
	recv, due, now := mar(17, 9, 0), mar(17, 13, 0), mar(18, 8, 30)
	var reqs []store.Request
	for i, state := range []store.State{store.StateAnswered, store.StateWaiting, store.StateResolved, store.StateAcknowledged, store.StateOverdue} {
		reqs = append(reqs, store.Request{ID: int64(i + 1), Dept: d.Key(), Ref: string(state), Subject: string(state), Category: "default",
			Requester: "jane@example.test", State: state, ReceivedAt: recv.Add(time.Duration(i) * time.Minute), DueAt: due,
			FirstResponseAt: mar(17, 10, 0)})
	}
	rep := report.ComputeWith(reqs, nil, d, now, report.Options{NewSince: mar(17, 8, 30)})
	data := DigestData(d, rep)
	want := map[store.State]bool{store.StateAnswered: false, store.StateWaiting: false, store.StateResolved: false,
		store.StateAcknowledged: true, store.StateOverdue: true}
	seen := 0
	for _, it := range data.Sections[0].Items {
		seen++
		if it.Overdue != want[store.State(it.Ref)] {
			t.Errorf("new since: %s marked overdue = %v, want %v", it.Ref, it.Overdue, want[store.State(it.Ref)])
		}
	}
	if seen != len(want) {
		t.Fatalf("new since lists %d requests, want %d", seen, len(want))
	}
	r, err := templates.Default().Digest(data)
	if err != nil {
		t.Fatal(err)
	}
	// The two unanswered requests, in "New since" and in "Overdue".
	if n := strings.Count(r.Text, "OVERDUE"); n != 4 {
		t.Errorf("digest text says OVERDUE %d times, want 4:\n%s", n, r.Text)
	}
}

// TestDigestShowsOwner: the digest names a request's owner (issue 15
// item 1).
func TestDigestShowsOwner(t *testing.T) {
	d := digestDept(t, "IT", false)
	mar := func(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, time.UTC) }
	reqs := []store.Request{{ID: 1, Dept: d.Key(), Ref: "REQ-1", Subject: "Printer", Category: "default", Requester: "jane@example.test",
		State: store.StateAcknowledged, ReceivedAt: mar(17, 9, 0), DueAt: mar(17, 13, 0), AssignedTo: "alice@example.test"}}
	data := DigestData(d, report.ComputeWith(reqs, nil, d, mar(17, 10, 0), report.Options{NewSince: mar(17, 8, 30)}))
	r, err := templates.Default().Digest(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Text, "owner alice@example.test") || !strings.Contains(r.HTML, "owner alice@example.test") {
		t.Errorf("digest does not name the owner:\n%s", r.Text)
	}
}
