package report

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
)

// The fixture calendar: UTC, Monday to Friday 09:00–17:00 (8 business
// hours a day), Wednesday 4 March 2026 a holiday. "Now" is Monday 16 March
// 2026 12:00, the window 30 days (from Saturday 14 February 12:00).
func fixtureDept(t *testing.T) *config.Department {
	t.Helper()
	cal, err := calendar.NewCalendar(calendar.CalendarSpec{
		Location: time.UTC,
		Workdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Hours:    []calendar.Span{{Start: 9 * time.Hour, End: 17 * time.Hour}},
		Holidays: []calendar.Date{{Year: 2026, Month: time.March, Day: 4}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &config.Department{
		Name: "IT Help Desk", Address: "it-help@example.test", Calendar: cal,
		Categories: map[string]*config.Category{
			"access":   {Name: "access", Commitment: calendar.Commitment{Business: 4 * time.Hour}},
			"hardware": {Name: "hardware", Commitment: calendar.Commitment{Days: 1}},
			"default":  {Name: "default", Commitment: calendar.Commitment{Days: 3}},
		},
	}
}

// at is a time in March 2026 (February for month 2), UTC.
func at(month time.Month, day, hour, minute int) time.Time {
	return time.Date(2026, month, day, hour, minute, 0, 0, time.UTC)
}

func mar(day, hour, minute int) time.Time { return at(time.March, day, hour, minute) }

type fixture struct {
	reqs   []store.Request
	events []store.Event
}

func (f *fixture) add(ref, cat string, state store.State, recv, due, first time.Time, evs ...store.Event) *store.Request {
	id := int64(len(f.reqs) + 1)
	r := store.Request{ID: id, Dept: "it-help@example.test", Ref: ref, Subject: "subject of " + ref, Category: cat,
		Requester: "jane@example.test", State: state, ReceivedAt: recv, DueAt: due, FirstResponseAt: first,
		CycleStart: recv}
	if state == store.StateResolved {
		r.ResolvedAt = first
	}
	f.reqs = append(f.reqs, r)
	f.events = append(f.events, store.Event{RequestID: id, Dept: r.Dept, Kind: store.EventReceived, At: recv})
	for _, e := range evs {
		e.RequestID, e.Dept = id, r.Dept
		f.events = append(f.events, e)
	}
	return &f.reqs[len(f.reqs)-1]
}

func ev(kind string, at time.Time, detail string) store.Event {
	return store.Event{Kind: kind, At: at, Detail: detail}
}

func buildFixture(t *testing.T, d *config.Department) fixture {
	cal := d.Calendar
	due := func(recv time.Time, cat string) time.Time { return cal.Due(recv, d.Categories[cat].Commitment) }
	var f fixture
	var zero time.Time
	const (
		res  = store.StateResolved
		ack  = store.StateAcknowledged
		over = store.StateOverdue
	)

	// access, commitment 4h. First response in business time:
	// A1 Mon 2 Mar 09:00 → 10:00 = 1h, due 13:00: kept.
	f.add("REQ-1", "access", res, mar(2, 9, 0), due(mar(2, 9, 0), "access"), mar(2, 10, 0))
	// A2 Mon 10:00 → 12:00 = 2h: kept.
	f.add("REQ-2", "access", res, mar(2, 10, 0), due(mar(2, 10, 0), "access"), mar(2, 12, 0))
	// A3 Tue 3 Mar 09:00 → 12:00 = 3h: kept.
	f.add("REQ-3", "access", res, mar(3, 9, 0), due(mar(3, 9, 0), "access"), mar(3, 12, 0))
	// A4 Tue 14:00 → Thu 5 Mar 10:00 (Wednesday is a holiday) = 3h + 1h =
	// 4h, due Thu 10:00 exactly: kept (at the due time counts).
	f.add("REQ-4", "access", res, mar(3, 14, 0), due(mar(3, 14, 0), "access"), mar(5, 10, 0))
	// A5 Thu 09:00 → 15:00 = 6h, due 13:00: missed. One reminder.
	f.add("REQ-5", "access", res, mar(5, 9, 0), due(mar(5, 9, 0), "access"), mar(5, 15, 0),
		ev(store.EventReminder, mar(5, 12, 0), ""))
	// A6 Fri 6 Mar 16:00 → Mon 9 Mar 11:00 = 1h + 2h = 3h, due Mon 12:00: kept.
	f.add("REQ-6", "access", res, mar(6, 16, 0), due(mar(6, 16, 0), "access"), mar(9, 11, 0))
	// A7 Mon 9 Mar 09:00, late notice at the due time 13:00 with a new
	// time 15:00, answered 14:00 = 5h: missed, although the answer beat
	// the new time.
	a7 := f.add("REQ-7", "access", res, mar(9, 9, 0), mar(9, 15, 0), mar(9, 14, 0),
		ev(store.EventLateNotice, mar(9, 13, 0), "new expected time 2026-03-09T15:00:00Z"))
	a7.LateNoticeFor = mar(9, 13, 0)
	// A8 today Mon 16 Mar 10:00, unanswered, due 14:00: pending, due today.
	f.add("REQ-8", "access", ack, mar(16, 10, 0), due(mar(16, 10, 0), "access"), zero)
	// A9 Fri 13 Mar 13:00, due 17:00, late notice then with the new time
	// Mon 11:00, unanswered: missed, overdue. A reminder today.
	a9 := f.add("REQ-9", "access", over, mar(13, 13, 0), mar(16, 11, 0), zero,
		ev(store.EventLateNotice, mar(13, 17, 0), ""), ev(store.EventReminder, mar(16, 10, 0), ""))
	a9.LateNoticeFor = mar(13, 17, 0)

	// hardware, commitment 1d (8h):
	// H1 Mon 2 Mar 11:00 → 15:00 = 4h: kept.
	f.add("REQ-10", "hardware", res, mar(2, 11, 0), due(mar(2, 11, 0), "hardware"), mar(2, 15, 0))
	// H2 Tue 3 Mar 10:00 → Thu 5 Mar 09:30 = 7h + 30m = 7h30m, due Thu
	// 10:00: kept.
	f.add("REQ-11", "hardware", res, mar(3, 10, 0), due(mar(3, 10, 0), "hardware"), mar(5, 9, 30))
	// H3 Thu 5 Mar 09:00 → Mon 9 Mar 09:00 = 8h + 8h = 16h, due Fri 09:00: missed.
	f.add("REQ-12", "hardware", res, mar(5, 9, 0), due(mar(5, 9, 0), "hardware"), mar(9, 9, 0))
	// H4 Tue 10 Mar 12:00; "#eta 2026-03-13 17:00" at 12:30; answered Fri
	// 13 Mar 16:00 = 5h + 8h + 8h + 7h = 28h, before the eta: kept. The
	// requester reopened it today, so its row's DueAt is the new cycle's;
	// the eta in the history is the due time that held.
	f.add("REQ-13", "hardware", ack, mar(10, 12, 0), due(mar(16, 9, 30), "hardware"), mar(13, 16, 0),
		ev(store.EventETA, mar(10, 12, 30), "#eta 2026-03-13 17:00"),
		ev(store.EventAnswered, mar(13, 16, 0), ""),
		ev(store.EventReopened, mar(16, 9, 30), "requester replied"))
	// H5 Wed 11 Mar 09:00 → 10:00 = 1h: kept.
	f.add("REQ-14", "hardware", res, mar(11, 9, 0), due(mar(11, 9, 0), "hardware"), mar(11, 10, 0))

	// default, commitment 3d (24h):
	// D1 Mon 2 Mar 09:00 → 10:00 = 1h: kept.
	f.add("REQ-15", "default", res, mar(2, 9, 0), due(mar(2, 9, 0), "default"), mar(2, 10, 0))
	// D2 Tue 3 Mar 09:00 → 11:00 = 2h: kept.
	f.add("REQ-16", "default", res, mar(3, 9, 0), due(mar(3, 9, 0), "default"), mar(3, 11, 0))
	// D3 Thu 12 Mar 09:00, answered with #waiting at 09:30 = 30m: kept; waiting.
	f.add("REQ-17", "default", store.StateWaiting, mar(12, 9, 0), due(mar(12, 9, 0), "default"), mar(12, 9, 30),
		ev(store.EventWaiting, mar(12, 9, 30), "#waiting"))
	// D4 Fri 13 Mar 15:00, resolved at 16:00 without an answer: kept (the
	// loop was closed in time) but no first-response time.
	d4 := f.add("REQ-18", "default", res, mar(13, 15, 0), due(mar(13, 15, 0), "default"), zero)
	d4.ResolvedAt = mar(13, 16, 0)
	// D5 today 11:00, unanswered, due Thu: pending; new; unanswered.
	f.add("REQ-19", "default", ack, mar(16, 11, 0), due(mar(16, 11, 0), "default"), zero)
	// D6 Mon 2 Feb, before the window, still unanswered, due 5 Feb:
	// overdue in the lists, absent from the record. Its old reminder is
	// outside the window too.
	f.add("REQ-20", "default", over, at(time.February, 2, 9, 0), at(time.February, 5, 9, 0), zero,
		ev(store.EventReminder, at(time.February, 3, 9, 0), ""))
	// D7 Sun 15 Mar 20:00 → Mon 16 Mar 09:15 = 15m: kept; new.
	f.add("REQ-21", "default", res, mar(15, 20, 0), due(mar(15, 20, 0), "default"), mar(16, 9, 15))
	return f
}

func refs(ls []Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Ref)
	}
	return out
}

func TestComputeFixture(t *testing.T) {
	d := fixtureDept(t)
	f := buildFixture(t, d)
	now := mar(16, 12, 0)
	rep := Compute(f.reqs, f.events, d, now, 30*24*time.Hour)

	h := func(f float64) time.Duration { return time.Duration(f * float64(time.Hour)) }
	type want struct {
		kept, missed, pending, answered int
		median, p80                     time.Duration
		suggest                         string
	}
	// access: times 1,2,3,3,4,5,6 h (n=7); median rank ceil(3.5)=4 → 3h;
	// p80 rank ceil(5.6)=6 → 5h, above 4h → suggest 5h. Kept A1–A4, A6
	// = 5 of 8 judged (62.5 %); A8 pending.
	// hardware: 1, 4, 7.5, 16, 28 h (n=5); median rank 3 → 7h30m; p80
	// rank 4 → 16h = 2 working days, above 1d → suggest 2d. Kept 4 of 5 (80 %).
	// default: 15m, 30m, 1h, 2h (n=4); median rank 2 → 30m; p80 rank
	// ceil(3.2)=4 → 2h, below half of 3d (12h) → suggest 1d. Kept 5 of 5
	// (D4 without a time); D5 pending; D6 outside the window.
	// overall: 16 times 0.25 0.5 1 1 1 2 2 3 3 4 4 5 6 7.5 16 28; median
	// rank 8 → 3h; p80 rank ceil(12.8)=13 → 6h. Kept 14 of 18 (77.8 %).
	wants := map[string]want{
		"access":   {5, 3, 1, 7, 3 * time.Hour, 5 * time.Hour, "5h"},
		"hardware": {4, 1, 0, 5, h(7.5), 16 * time.Hour, "2d"},
		"default":  {5, 0, 1, 4, 30 * time.Minute, 2 * time.Hour, "1d"},
		"":         {14, 4, 2, 16, 3 * time.Hour, 6 * time.Hour, ""},
	}
	check := func(name string, r Record) {
		t.Run("record "+name, func(t *testing.T) {
			w := wants[name]
			if r.Kept != w.kept || r.Missed != w.missed || r.Pending != w.pending || r.Answered != w.answered {
				t.Errorf("kept/missed/pending/answered = %d/%d/%d/%d, want %d/%d/%d/%d",
					r.Kept, r.Missed, r.Pending, r.Answered, w.kept, w.missed, w.pending, w.answered)
			}
			if r.Median != w.median || r.P80 != w.p80 {
				t.Errorf("median/p80 = %v/%v, want %v/%v", r.Median, r.P80, w.median, w.p80)
			}
			got := ""
			if !r.Suggest.IsZero() {
				got = r.Suggest.String()
			}
			if got != w.suggest {
				t.Errorf("suggest = %q (%s), want %q", got, r.Advice, w.suggest)
			}
		})
	}
	check("", rep.Overall)
	if len(rep.Categories) != 3 {
		t.Fatalf("categories = %+v, want access, default, hardware", rep.Categories)
	}
	for _, c := range rep.Categories {
		check(c.Category, c)
	}
	if p := rep.Categories[0].KeptPercent(); p != 62.5 {
		t.Errorf("access kept %% = %v, want 62.5", p)
	}

	lists := map[string]struct{ got, want []string }{
		"new":        {refs(rep.New), []string{"REQ-21", "REQ-8", "REQ-19"}},
		"due today":  {refs(rep.DueToday), []string{"REQ-8"}},
		"overdue":    {refs(rep.Overdue), []string{"REQ-20", "REQ-9"}},
		"unanswered": {refs(rep.Unanswered), []string{"REQ-13", "REQ-19"}},
		"waiting":    {refs(rep.Waiting), []string{"REQ-17"}},
	}
	for name, l := range lists {
		if len(l.got) != len(l.want) {
			t.Errorf("%s = %v, want %v", name, l.got, l.want)
			continue
		}
		for i := range l.got {
			if l.got[i] != l.want[i] {
				t.Errorf("%s = %v, want %v", name, l.got, l.want)
				break
			}
		}
	}
	// Open: REQ-8, 9, 13, 17, 19, 20. Reminders: A5, A9 (D6's is old).
	// Late notices: A7, A9.
	if rep.Open != 6 || rep.Reminders != 2 || rep.LateNotices != 2 || rep.Empty() {
		t.Errorf("open/reminders/late = %d/%d/%d, want 6/2/2", rep.Open, rep.Reminders, rep.LateNotices)
	}
}

func TestComputeEmpty(t *testing.T) {
	rep := Compute(nil, nil, fixtureDept(t), mar(16, 12, 0), 0)
	if !rep.Empty() || rep.Overall.KeptPercent() != -1 || rep.Overall.Median != 0 {
		t.Errorf("empty report = %+v", rep)
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 5}, {80, 8}, {81, 9}, {100, 10}, {1, 1}} {
		t.Run("", func(t *testing.T) {
			if got := Percentile(ds, c.p); got != c.want {
				t.Errorf("Percentile(1..10, %v) = %v, want %v", c.p, got, c.want)
			}
		})
	}
	if Percentile(nil, 50) != 0 {
		t.Error("Percentile of nothing is not 0")
	}
}

// TestAge is the one age format `ackd status` and the status page share.
func TestAge(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Second, "just now"},
		{12 * time.Minute, "12m"},
		{3*time.Hour + 5*time.Minute, "3h 05m"},
		{47*time.Hour + 59*time.Minute, "47h 59m"},
		{4*24*time.Hour + time.Hour, "4d"},
	}
	for _, tt := range tests {
		if got := Age(tt.d); got != tt.want {
			t.Errorf("Age(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

// TestSuggestMovesTowardRecord: a suggestion never moves the commitment
// away from what the department does (issue 15 item 7: a 2m commitment
// with a p80 of 0m was told to become 1h).
func TestSuggestMovesTowardRecord(t *testing.T) {
	cal := fixtureDept(t).Calendar
	now := mar(16, 12, 0)
	biz := func(d time.Duration) calendar.Commitment { return calendar.Commitment{Business: d} }
	days := func(n int) calendar.Commitment { return calendar.Commitment{Days: n} }
	for _, tc := range []struct {
		name string
		cm   calendar.Commitment
		p80  time.Duration
		want string
	}{
		{"2m commitment, p80 0m", biz(2 * time.Minute), 0, "1m"},
		{"1m commitment, p80 0m: nothing shorter", biz(time.Minute), 0, ""},
		{"30m commitment, p80 5m", biz(30 * time.Minute), 5 * time.Minute, "5m"},
		{"30m commitment, p80 45m", biz(30 * time.Minute), 45 * time.Minute, "45m"},
		{"4h commitment, p80 5h", biz(4 * time.Hour), 5 * time.Hour, "5h"},
		{"4h commitment, p80 90m", biz(4 * time.Hour), 90 * time.Minute, "2h"},
		{"4h commitment, p80 3h: fits", biz(4 * time.Hour), 3 * time.Hour, ""},
		{"90m commitment, p80 40m", biz(90 * time.Minute), 40 * time.Minute, "40m"},
		{"3d commitment, p80 2h", days(3), 2 * time.Hour, "1d"},
		{"1d commitment, p80 1h: nothing shorter", days(1), time.Hour, ""},
		{"1d commitment, p80 16h", days(1), 16 * time.Hour, "2d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, why := suggest(cal, Record{Commitment: tc.cm, Answered: 5, P80: tc.p80}, now)
			s := ""
			if !got.IsZero() {
				s = got.String()
			}
			if s != tc.want {
				t.Fatalf("suggest(%s, p80 %s) = %q (%s), want %q", tc.cm, tc.p80, s, why, tc.want)
			}
		})
	}
}

// TestComputeTail: p95, the slowest tenth, reopens and (opt-in) first
// response per staff member (issue 15 item 8). Twelve access requests
// received Monday 16 March 09:00, the first answer at 09:00 + i·20m;
// REQ-3 reopened twice.
func TestComputeTail(t *testing.T) {
	d := fixtureDept(t)
	d.Categories["access"].Commitment = calendar.Commitment{Business: 8 * time.Hour}
	var f fixture
	for i := 1; i <= 12; i++ {
		recv := mar(16, 9, 0)
		first := recv.Add(time.Duration(i) * 20 * time.Minute)
		who := "alice@example.test"
		if i%3 == 0 {
			who = "Bob@example.test"
		}
		evs := []store.Event{{Kind: store.EventAnswered, At: first, Actor: who}}
		if i == 3 {
			evs = append(evs, store.Event{Kind: store.EventReopened, At: first.Add(time.Hour)}, store.Event{Kind: store.EventReopened, At: first.Add(2 * time.Hour)})
		}
		f.add(fmt.Sprintf("REQ-%d", i), "access", store.StateAnswered, recv, recv.Add(8*time.Hour), first, evs...)
	}
	now := mar(16, 17, 0)
	rep := ComputeWith(f.reqs, f.events, d, now, Options{Window: 30 * 24 * time.Hour})
	acc := rep.Categories[0]
	// 12 times 20m..240m: p95 rank ceil(11.4) = 12 → 4h; the slowest
	// tenth is ceil(1.2) = 2 requests.
	if acc.P95 != 4*time.Hour || !slices.Equal(acc.Slowest, []string{"REQ-12", "REQ-11"}) || acc.Reopens != 2 {
		t.Errorf("p95 %v, slowest %v, reopens %d; want 4h, [REQ-12 REQ-11], 2", acc.P95, acc.Slowest, acc.Reopens)
	}
	if rep.Overall.Reopens != 2 || len(rep.Staff) != 0 {
		t.Errorf("overall reopens %d, staff %+v; want 2 and no staff figures unless asked", rep.Overall.Reopens, rep.Staff)
	}
	rep = ComputeWith(f.reqs, f.events, d, now, Options{Window: 30 * 24 * time.Hour, PerStaff: true})
	// alice: 20,40,80,100,140,160,200,220 (8); bob: 60,120,180,240 (4).
	want := []StaffRecord{
		{Address: "alice@example.test", Answered: 8, Median: 100 * time.Minute, P80: 200 * time.Minute},
		{Address: "bob@example.test", Answered: 4, Median: 120 * time.Minute, P80: 240 * time.Minute},
	}
	if !slices.Equal(rep.Staff, want) {
		t.Errorf("staff %+v, want %+v", rep.Staff, want)
	}
}
