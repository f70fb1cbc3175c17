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
				Staff: staff, Away: tc.away, Record: tc.rec})
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
			if f.Present != len(staff)-len(tc.away) {
				t.Errorf("Present = %d", f.Present)
			}
		})
	}
}

// The wait grows with the queue and never shrinks as it lengthens.
func TestWaitMonotone(t *testing.T) {
	prev := time.Duration(0)
	for ahead := 0; ahead < 500; ahead++ {
		w := forecast.Wait(ahead, 10, 2, forecast.DefaultZ)
		if w < prev {
			t.Fatalf("Wait(%d) = %s < Wait(%d) = %s", ahead, w, ahead-1, prev)
		}
		prev = w
	}
	// With many ahead the wait approaches ahead/capacity.
	if w, lin := forecast.Wait(399, 10, 2, forecast.DefaultZ), 20*time.Hour; w < lin || w > lin*11/10 {
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
