package forecast_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/forecast"
)

func berlinCal(t *testing.T) *calendar.Calendar {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	hours, err := calendar.ParseHours("09:00-17:00")
	if err != nil {
		t.Fatal(err)
	}
	c, err := calendar.NewCalendar(calendar.CalendarSpec{Location: loc, Workdays: []time.Weekday{1, 2, 3, 4, 5}, Hours: hours})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var staff = []string{"a@x.test", "b@x.test", "c@x.test", "d@x.test"}

// z95 is the one-sided 95 % normal quantile the worked figures use.
const z95 = 1.645

// record answers 2 per staff-hour.
var record = forecast.Record{Answered: 160, StaffHours: 80}

func TestExpect(t *testing.T) {
	cal := berlinCal(t)
	loc := cal.Location()
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, loc) // Tuesday
	due := cal.Due(arrival, calendar.Commitment{Business: 4 * time.Hour})
	for _, tc := range []struct {
		name      string
		ahead     int
		away      []string
		rec       forecast.Record
		wantLater bool
		want      time.Time // the promise
		wantWait  time.Duration
	}{
		// 4 staff × 2/h = 8/h; k=1: ((1.645+√(2.706+4))/2)² / 8 h = 34 min.
		{name: "empty queue is the commitment", rec: record, want: due, wantWait: 34 * time.Minute},
		// k=41: x=(1.645+√(2.706+164))/2=7.280, x²=52.996, /8 h = 397.5 min
		// → 6h38m after Tue 10:00 = 16:38, past the 14:00 commitment.
		{name: "long queue moves the date", ahead: 40, rec: record, wantLater: true,
			want: time.Date(2026, 12, 1, 16, 38, 0, 0, loc), wantWait: 6*time.Hour + 38*time.Minute},
		// Two of four away: half the capacity, twice the wait: 52.996/4 h =
		// 795 min = 13h15m: 7h on Tuesday, 6h15m on Wednesday = Wed 15:15.
		{name: "away staff lengthen it", ahead: 40, away: []string{"C@x.test", "d@x.test"}, rec: record, wantLater: true,
			want: time.Date(2026, 12, 2, 15, 15, 0, 0, loc), wantWait: 13*time.Hour + 15*time.Minute},
		// A thin record uses DefaultRate 3/h: 12/h, k=41: 52.996/12 h = 265 min.
		{name: "thin record uses the default rate", ahead: 40, rec: forecast.Record{Answered: 5, StaffHours: 80}, wantLater: true,
			want: time.Date(2026, 12, 1, 14, 25, 0, 0, loc), wantWait: 4*time.Hour + 25*time.Minute},
		{name: "nobody in", away: staff, rec: record, wantLater: true, wantWait: forecast.MaxWait},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := forecast.Expect(forecast.Input{Arrival: arrival, Due: due, Calendar: cal, Ahead: tc.ahead,
				Staff: staff, Away: tc.away, Record: tc.rec, Z: z95})
			if f.Later != tc.wantLater {
				t.Errorf("Later = %v, want %v (expected %s, due %s)", f.Later, tc.wantLater, f.Expected, due)
			}
			if f.Wait != tc.wantWait {
				t.Errorf("Wait = %s, want %s", f.Wait, tc.wantWait)
			}
			if !tc.want.IsZero() && !f.Promise.Equal(tc.want) {
				t.Errorf("Promise = %s, want %s", f.Promise.In(loc), tc.want)
			}
			if f.Promise.Before(due) {
				t.Errorf("Promise %s before the commitment %s", f.Promise, due)
			}
			if f.Present != float64(len(staff)-len(tc.away)) {
				t.Errorf("Present = %g", f.Present)
			}
		})
	}
}

// The wait grows with the queue and never shrinks as it lengthens.
func TestWaitMonotone(t *testing.T) {
	prev := time.Duration(0)
	for ahead := 0; ahead < 500; ahead++ {
		w := forecast.Wait(ahead, 10, 2, z95)
		if w < prev {
			t.Fatalf("Wait(%d) = %s < Wait(%d) = %s", ahead, w, ahead-1, prev)
		}
		prev = w
	}
	// With many ahead the wait approaches ahead/capacity.
	if w, lin := forecast.Wait(399, 10, 2, z95), 20*time.Hour; w < lin || w > lin*11/10 {
		t.Errorf("Wait(399) = %s, want within 10%% above %s", w, lin)
	}
}

func TestLines(t *testing.T) {
	cal := berlinCal(t)
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, cal.Location())
	f := forecast.Expect(forecast.Input{Arrival: arrival, Due: arrival.Add(4 * time.Hour), Calendar: cal, Ahead: 3,
		Staff: staff, Away: []string{"a@x.test"}, Record: forecast.Record{FirstResponses: []time.Duration{time.Hour, 3 * time.Hour, 2 * time.Hour}}})
	got := strings.Join(f.Lines(cal.Location()), "\n")
	for _, want := range []string{"queue ahead: 3", "staff in: 3 (away: a@x.test)", "default rate", "median first response: 2h0m0s", "promise: the commitment"} {
		if !strings.Contains(got, want) {
			t.Errorf("Lines lack %q:\n%s", want, got)
		}
	}
}

func TestMeasure(t *testing.T) {
	cal := berlinCal(t)
	loc := cal.Location()
	h := func(day, hour, minute int) time.Time { return time.Date(2026, 12, day, hour, minute, 0, 0, loc) }
	from, to := h(1, 0, 0), h(3, 0, 0) // Tue and Wed
	spans := []forecast.Span{
		{Received: h(1, 9, 0), Answered: h(1, 10, 0)},  // 1h alone
		{Received: h(1, 9, 30), Answered: h(1, 11, 0)}, // overlaps: 2 open 9:30-10:00
		{Received: h(1, 18, 0), Answered: h(2, 9, 30)}, // overnight: 30 min of business time
		{Received: h(2, 16, 0), Answered: time.Time{}}, // still open at the end: 1h
		{Received: h(2, 10, 0), Answered: h(3, 12, 0)}, // answered after the window: 7h open within it
		{Received: h(3, 10, 0), Answered: h(3, 11, 0)}, // after the window: ignored
		{Received: h(1, 8, 0), Answered: h(1, 8, 30)},  // before opening hours: no business time
	}
	rec := forecast.Measure(spans, 2, cal, from, to)
	if rec.Answered != 4 {
		t.Errorf("Answered = %d, want 4", rec.Answered)
	}
	// Tue 9:00-11:00 open counts 1,2,1 → 1×0.5+2×0.5+1×1 = 2.5h; Wed
	// 9:00-9:30 one (overnight) = 0.5h; 10:00-16:00 one = 6h; 16:00-17:00
	// two = 2h. Total 11h.
	if rec.StaffHours != 11 {
		t.Errorf("StaffHours = %v, want 11", rec.StaffHours)
	}
	// With one person present, overlaps count once: 2 + 0.5 + 6 + 1 = 9.5h.
	if rec := forecast.Measure(spans, 1, cal, from, to); rec.StaffHours != 9.5 {
		t.Errorf("StaffHours with one present = %v, want 9.5", rec.StaffHours)
	}
}

// Later requests with shorter commitments overtake a long one: its wait
// grows by their expected number.
func TestExpectOvertake(t *testing.T) {
	cal := berlinCal(t)
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, cal.Location())
	due := cal.Due(arrival, calendar.Commitment{Days: 1})
	in := forecast.Input{Arrival: arrival, Due: due, Calendar: cal, Ahead: 10, Staff: staff, Record: record, Z: z95}
	base := forecast.Expect(in)
	in.Overtake = []forecast.Inflow{{Category: "access", Rate: 4, Within: 4 * time.Hour}}
	f := forecast.Expect(in)
	// base: k=11, x=(1.645+√(2.706+44))/2=4.239, 17.97/8 h = 2h15m; four
	// an hour for 2h15m = 9 overtake → k=20: 30.87/8 h = 3h52m; 15.5 → 16:
	// k=27: 38.3/8 = 4h48m; within caps at 4h: 16 → fixed point.
	if base.Wait != 2*time.Hour+15*time.Minute || base.Overtakers != 0 {
		t.Errorf("base wait %s, overtakers %d", base.Wait, base.Overtakers)
	}
	if f.Overtakers != 16 || f.Wait != forecast.Wait(26, 4, 2, z95) {
		t.Errorf("overtaken wait %s with %d overtakers, want %s with 16", f.Wait, f.Overtakers, forecast.Wait(26, 4, 2, z95))
	}
}

func TestInflows(t *testing.T) {
	cal := berlinCal(t)
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, cal.Location())
	due := cal.Due(arrival, calendar.Commitment{Days: 1}) // 8h of business time
	access := calendar.Commitment{Business: 4 * time.Hour}
	week := forecast.Window{Business: 40 * time.Hour, Arrivals: []forecast.Arrivals{
		{Category: "access", Commitment: access, Count: 80},
		{Category: "hardware", Commitment: calendar.Commitment{Days: 1}, Count: 40},           // same: never overtakes
		{Category: "software", Commitment: calendar.Commitment{Days: 2}, Count: 40},           // longer: never
		{Category: "network", Commitment: calendar.Commitment{Business: time.Hour}, Count: 0}, // none came
	}}
	got := forecast.Inflows(cal, arrival, due, week)
	if len(got) != 1 || got[0].Category != "access" || got[0].Rate != 2 || got[0].Within != 4*time.Hour {
		t.Errorf("Inflows = %+v, want access at 2/h within 4h", got)
	}
	// A busy day: the higher of the two rates counts.
	today := forecast.Window{Business: 4 * time.Hour, Arrivals: []forecast.Arrivals{{Category: "access", Commitment: access, Count: 24}}}
	for _, ws := range [][]forecast.Window{{week, today}, {today, week}} {
		if got := forecast.Inflows(cal, arrival, due, ws...); len(got) != 1 || got[0].Rate != 6 {
			t.Errorf("Inflows with a busy day = %+v, want access at 6/h", got)
		}
	}
}

func TestAssemble(t *testing.T) {
	cal := berlinCal(t)
	loc := cal.Location()
	arrival := time.Date(2026, 12, 1, 10, 0, 0, 0, loc)
	four := calendar.Commitment{Business: 4 * time.Hour}
	due := cal.Due(arrival, four)
	h := func(d time.Duration) time.Time { return arrival.Add(d) }
	record := []forecast.Past{
		{Category: "access", Received: h(-time.Hour), Due: h(3 * time.Hour)},                                // open, due earlier: ahead
		{Category: "access", Received: h(-30 * time.Minute), Due: h(3 * time.Hour), Answered: h(time.Hour)}, // answered later: still ahead now
		{Category: "access", Received: h(-2 * time.Hour), Due: h(2 * time.Hour), Answered: h(-time.Minute)}, // answered: not ahead
		{Category: "hardware", Received: h(-time.Hour), Due: h(30 * time.Hour)},                             // due later: not ahead
		{Category: "access", Received: h(-time.Hour), Due: h(time.Hour), Closed: true},                      // waiting: not ahead
		{Category: "access", Received: h(time.Minute), Due: h(5 * time.Hour)},                               // after it: not known
	}
	desk := forecast.Desk{Calendar: cal, Commitments: map[string]calendar.Commitment{"access": four, "hardware": {Days: 1}},
		Staff: staff, Away: []string{"a@x.test"}, Hours: map[string]float64{"b@x.test": 0.5}}
	in := forecast.Assemble(desk, record, arrival, due)
	if in.Ahead != 2 {
		t.Errorf("Ahead = %d, want 2", in.Ahead)
	}
	if in.Record.Answered != 1 {
		t.Errorf("Record.Answered = %d, want 1 (the later answer is not known yet)", in.Record.Answered)
	}
	if f := forecast.Expect(in); f.Present != 2.5 || len(f.Away) != 1 {
		t.Errorf("Present = %g, away %v; want 2.5 and a@x.test", f.Present, f.Away)
	}
	// A hardware request (1d) is overtaken by access requests (4h) that
	// arrive in its first 4h.
	hw := forecast.Assemble(desk, record, arrival, cal.Due(arrival, calendar.Commitment{Days: 1}))
	if len(hw.Overtake) != 1 || hw.Overtake[0].Category != "access" || hw.Overtake[0].Within != 4*time.Hour {
		t.Errorf("Overtake = %+v, want access within 4h", hw.Overtake)
	}
}
