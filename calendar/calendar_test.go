package calendar_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

var weekdays = []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}

func loadLoc(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load location %s: %v", name, err)
	}
	return loc
}

func hours(t testing.TB, s string) []calendar.Span {
	t.Helper()
	sp, err := calendar.ParseHours(s)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func dates(t testing.TB, ss ...string) []calendar.Date {
	t.Helper()
	var ds []calendar.Date
	for _, s := range ss {
		d, err := calendar.ParseDate(s)
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	return ds
}

func newCal(t testing.TB, spec calendar.CalendarSpec) *calendar.Calendar {
	t.Helper()
	c, err := calendar.NewCalendar(spec)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// at reads "2026-03-10 15:00" as wall-clock time in loc.
func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// The named calendars the table tests share. 2026-03-10 is a Tuesday.
func calendars(t testing.TB) map[string]*calendar.Calendar {
	berlin := loadLoc(t, "Europe/Berlin")
	ny := loadLoc(t, "America/New_York")
	all := []time.Weekday{time.Sunday, time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday}
	return map[string]*calendar.Calendar{
		"office": newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00")}),
		// Monday 2026-03-16 is a holiday.
		"office-mon-holiday": newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays,
			Hours: hours(t, "09:00-17:00"), Holidays: dates(t, "2026-03-16")}),
		"christmas": newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"),
			Holidays: dates(t, "2026-12-24", "2026-12-25", "2026-12-26", "2026-12-31", "2027-01-01")}),
		"split":    newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "08:00-12:00,13:00-17:00")}),
		"24h":      newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: all, Hours: hours(t, "00:00-24:00")}),
		"ny":       newCal(t, calendar.CalendarSpec{Location: ny, Workdays: weekdays, Hours: hours(t, "09:00-17:00"), Public: "US"}),
		"ny24h":    newCal(t, calendar.CalendarSpec{Location: ny, Workdays: all, Hours: hours(t, "00:00-24:00")}),
		"saturday": newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: append(weekdays[:5:5], time.Saturday), Hours: hours(t, "09:00-13:00")}),
		"de-by":    newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"), Public: "de-by"}),
		"de-be":    newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"), Public: "DE-BE"}),
		"gb":       newCal(t, calendar.CalendarSpec{Location: loadLoc(t, "Europe/London"), Workdays: weekdays, Hours: hours(t, "09:00-17:00"), Public: "GB"}),
	}
}

func TestDue(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		name, cal, arrival, commitment, want string
	}{
		{"afternoon runs into next morning", "office", "2026-03-10 15:00", "4h", "2026-03-11 11:00"},
		{"friday afternoon runs into monday", "office", "2026-03-13 16:00", "4h", "2026-03-16 12:00"},
		{"saturday night starts monday", "office", "2026-03-14 03:00", "4h", "2026-03-16 13:00"},
		{"due on span end is that end", "office", "2026-03-10 13:00", "4h", "2026-03-10 17:00"},
		{"whole day", "office", "2026-03-10 09:00", "8h", "2026-03-10 17:00"},
		{"arrival at closing", "office", "2026-03-10 17:00", "1h", "2026-03-11 10:00"},
		{"last minute", "office", "2026-03-10 16:59", "1m", "2026-03-10 17:00"},
		{"night", "office", "2026-03-10 23:00", "2h", "2026-03-11 11:00"},
		{"early morning", "office", "2026-03-11 06:30", "90m", "2026-03-11 10:30"},
		{"hours and minutes", "office", "2026-03-10 16:00", "1h30m", "2026-03-11 09:30"},
		{"over a weekend", "office", "2026-03-12 12:00", "16h", "2026-03-16 12:00"},
		{"days same time", "office", "2026-03-10 10:00", "3d", "2026-03-13 10:00"},
		{"days over weekend", "office", "2026-03-13 10:00", "1d", "2026-03-16 10:00"},
		{"days from evening", "office", "2026-03-10 20:00", "1d", "2026-03-12 09:00"},
		{"days from friday evening", "office", "2026-03-13 18:00", "1d", "2026-03-17 09:00"},
		{"days from friday evening, monday holiday", "office-mon-holiday", "2026-03-13 18:00", "1d", "2026-03-18 09:00"},
		{"days over holiday", "office-mon-holiday", "2026-03-13 10:00", "1d", "2026-03-17 10:00"},
		{"hours over holiday", "office-mon-holiday", "2026-03-13 16:00", "4h", "2026-03-17 12:00"},
		{"christmas hours", "christmas", "2026-12-23 15:00", "4h", "2026-12-28 11:00"},
		{"christmas days", "christmas", "2026-12-23 10:00", "3d", "2026-12-30 10:00"},
		{"christmas to new year", "christmas", "2026-12-23 10:00", "5d", "2027-01-05 10:00"},
		{"christmas eve arrival", "christmas", "2026-12-24 10:00", "1d", "2026-12-29 09:00"},
		{"split before lunch", "split", "2026-03-10 11:00", "2h", "2026-03-10 14:00"},
		{"split due at lunch", "split", "2026-03-10 11:00", "1h", "2026-03-10 12:00"},
		{"split arrival at lunch", "split", "2026-03-10 12:30", "1h", "2026-03-10 14:00"},
		{"split days from lunch", "split", "2026-03-10 12:30", "1d", "2026-03-11 13:00"},
		{"split over night", "split", "2026-03-10 16:00", "3h", "2026-03-11 10:00"},
		{"24h", "24h", "2026-03-10 15:00", "4h", "2026-03-10 19:00"},
		{"24h over midnight", "24h", "2026-03-14 23:00", "2h", "2026-03-15 01:00"},
		{"24h days", "24h", "2026-03-14 15:00", "1d", "2026-03-15 15:00"},
		{"saturday workday", "saturday", "2026-03-13 12:00", "2h", "2026-03-14 10:00"},
		{"saturday to monday", "saturday", "2026-03-14 12:00", "2h", "2026-03-16 10:00"},
		{"saturday days", "saturday", "2026-03-13 10:00", "1d", "2026-03-14 10:00"},
		{"berlin spring forward, office", "office", "2026-03-27 16:00", "4h", "2026-03-30 12:00"},
		{"berlin spring forward, days", "office", "2026-03-27 10:00", "1d", "2026-03-30 10:00"},
		{"berlin spring forward, 24h", "24h", "2026-03-28 23:00", "4h", "2026-03-29 04:00"},
		{"berlin fall back, office", "office", "2026-10-23 16:00", "4h", "2026-10-26 12:00"},
		{"berlin fall back, days", "24h", "2026-10-24 10:00", "1d", "2026-10-25 10:00"},
		{"berlin fall back, 24h", "24h", "2026-10-25 00:00", "4h", "2026-10-25 03:00"},
		{"new york spring forward", "ny", "2026-03-06 16:00", "4h", "2026-03-09 12:00"},
		{"new york spring forward, 24h", "ny24h", "2026-03-07 23:00", "4h", "2026-03-08 04:00"},
		{"new york fall back", "ny", "2026-10-30 16:00", "4h", "2026-11-02 12:00"},
		{"new york fall back, 24h", "ny24h", "2026-10-31 23:00", "4h", "2026-11-01 02:00"},
		{"new york fall back, days", "ny", "2026-10-30 10:00", "1d", "2026-11-02 10:00"},
		{"thanksgiving", "ny", "2026-11-25 15:00", "4h", "2026-11-27 11:00"},
		{"independence day observed on friday", "ny", "2026-07-02 15:00", "4h", "2026-07-06 11:00"},
		{"epiphany in bavaria", "de-by", "2026-01-05 15:00", "4h", "2026-01-07 11:00"},
		{"no epiphany in berlin", "de-be", "2026-01-05 15:00", "4h", "2026-01-06 11:00"},
		{"boxing day observed on monday", "gb", "2026-12-24 15:00", "4h", "2026-12-29 11:00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cals[tt.cal]
			cm, err := calendar.ParseCommitment(tt.commitment)
			if err != nil {
				t.Fatal(err)
			}
			arrival := at(t, c.Location(), tt.arrival)
			want := at(t, c.Location(), tt.want)
			got := c.Due(arrival, cm)
			if !got.Equal(want) {
				t.Errorf("Due(%s, %s) = %s, want %s", arrival, cm, got, want)
			}
			if got.Location() != c.Location() {
				t.Errorf("Due in %s, want the calendar's zone %s", got.Location(), c.Location())
			}
		})
	}
}

// The 24h calendar's Sunday 2026-03-29 in Berlin is 23 hours long and its
// 2026-10-25 25 hours: spans are wall clock, time within them is real.
func TestDSTDayLength(t *testing.T) {
	c := calendars(t)["24h"]
	loc := c.Location()
	tests := []struct {
		day, next string
		want      time.Duration
	}{
		{"2026-03-28 00:00", "2026-03-29 00:00", 24 * time.Hour},
		{"2026-03-29 00:00", "2026-03-30 00:00", 23 * time.Hour},
		{"2026-10-25 00:00", "2026-10-26 00:00", 25 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.day, func(t *testing.T) {
			if got := c.BusinessBetween(at(t, loc, tt.day), at(t, loc, tt.next)); got != tt.want {
				t.Errorf("BusinessBetween = %s, want %s", got, tt.want)
			}
		})
	}
	// In the repeated hour on 2026-10-25 real time still passes: 4h after
	// 00:00 CEST is 03:00 CET, a wall-clock distance of 3h.
	start := at(t, loc, "2026-10-25 00:00")
	if got, want := c.AddBusiness(start, 4*time.Hour), start.Add(4*time.Hour); !got.Equal(want) {
		t.Errorf("AddBusiness over fall back = %s, want %s", got, want)
	}
}

func TestDSTSpanEdgeInGap(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	ny := loadLoc(t, "America/New_York")
	sunday := []time.Weekday{time.Sunday}
	tests := []struct {
		name     string
		loc      *time.Location
		hours    string
		arrival  string
		wantOpen time.Time
	}{
		// 02:30 does not exist on these days; the span opens when the clock
		// jumps to 03:00, in both zones, though time.Date resolves the
		// missing time forward in Berlin and backward in New York.
		{"berlin", berlin, "02:30-05:00", "2026-03-29 00:00", time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"new york", ny, "02:30-05:00", "2026-03-08 00:00", time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCal(t, calendar.CalendarSpec{Location: tt.loc, Workdays: sunday, Hours: hours(t, tt.hours)})
			arrival := at(t, tt.loc, tt.arrival)
			if got := c.NextOpen(arrival); !got.Equal(tt.wantOpen) {
				t.Errorf("NextOpen = %s, want %s", got, tt.wantOpen)
			}
			if got, want := c.BusinessBetween(arrival, arrival.Add(24*time.Hour)), 2*time.Hour; got != want {
				t.Errorf("span length = %s, want %s (03:00-05:00)", got, want)
			}
		})
	}
}

func TestIsOpenNextOpen(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		cal, t   string
		open     bool
		nextOpen string
	}{
		{"office", "2026-03-10 09:00", true, "2026-03-10 09:00"},
		{"office", "2026-03-10 08:59", false, "2026-03-10 09:00"},
		{"office", "2026-03-10 16:59", true, "2026-03-10 16:59"},
		{"office", "2026-03-10 17:00", false, "2026-03-11 09:00"},
		{"office", "2026-03-13 17:00", false, "2026-03-16 09:00"},
		{"office", "2026-03-14 12:00", false, "2026-03-16 09:00"},
		{"office-mon-holiday", "2026-03-16 12:00", false, "2026-03-17 09:00"},
		{"split", "2026-03-10 12:00", false, "2026-03-10 13:00"},
		{"split", "2026-03-10 12:59", false, "2026-03-10 13:00"},
		{"split", "2026-03-10 13:00", true, "2026-03-10 13:00"},
		{"24h", "2026-03-15 00:00", true, "2026-03-15 00:00"},
		{"de-by", "2026-01-06 10:00", false, "2026-01-07 09:00"},
		{"de-be", "2026-01-06 10:00", true, "2026-01-06 10:00"},
		{"ny", "2026-11-26 10:00", false, "2026-11-27 09:00"},
	}
	for _, tt := range tests {
		t.Run(tt.cal+" "+tt.t, func(t *testing.T) {
			c := cals[tt.cal]
			tm := at(t, c.Location(), tt.t)
			if got := c.IsOpen(tm); got != tt.open {
				t.Errorf("IsOpen = %v, want %v", got, tt.open)
			}
			if got, want := c.NextOpen(tm), at(t, c.Location(), tt.nextOpen); !got.Equal(want) {
				t.Errorf("NextOpen = %s, want %s", got, want)
			}
		})
	}
}

func TestIsWorkdayIsHoliday(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		cal, day         string
		workday, holiday bool
	}{
		{"office", "2026-03-10 20:00", true, false},
		{"office", "2026-03-14 10:00", false, false},
		{"office-mon-holiday", "2026-03-16 10:00", false, true},
		{"christmas", "2026-12-26 10:00", false, true}, // a Saturday
		{"saturday", "2026-03-14 10:00", true, false},
		{"gb", "2026-12-28 10:00", false, true}, // Boxing Day observed
		{"ny", "2026-07-03 10:00", false, true}, // Independence Day observed
		{"ny", "2026-07-04 10:00", false, true}, // and the day itself
	}
	for _, tt := range tests {
		t.Run(tt.cal+" "+tt.day, func(t *testing.T) {
			c := cals[tt.cal]
			tm := at(t, c.Location(), tt.day)
			if got := c.IsWorkday(tm); got != tt.workday {
				t.Errorf("IsWorkday = %v, want %v", got, tt.workday)
			}
			if got := c.IsHoliday(tm); got != tt.holiday {
				t.Errorf("IsHoliday = %v, want %v", got, tt.holiday)
			}
		})
	}
}

func TestSubBusiness(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		cal, from string
		d         time.Duration
		want      string
	}{
		{"office", "2026-03-11 11:00", 2 * time.Hour, "2026-03-11 09:00"}, // latest, not Tue 17:00
		{"office", "2026-03-11 10:00", 2 * time.Hour, "2026-03-10 16:00"},
		{"office", "2026-03-16 10:00", 2 * time.Hour, "2026-03-13 16:00"},
		{"office", "2026-03-11 20:00", time.Hour, "2026-03-11 16:00"},
		{"office", "2026-03-11 17:00", 8 * time.Hour, "2026-03-11 09:00"},
		{"office-mon-holiday", "2026-03-17 10:00", 2 * time.Hour, "2026-03-13 16:00"},
		{"split", "2026-03-10 14:00", 2 * time.Hour, "2026-03-10 11:00"},
		{"office", "2026-03-11 11:00", 0, "2026-03-11 11:00"},
		{"office", "2026-03-11 11:00", -2 * time.Hour, "2026-03-11 13:00"},
	}
	for _, tt := range tests {
		t.Run(tt.cal+" "+tt.from+" "+tt.d.String(), func(t *testing.T) {
			c := cals[tt.cal]
			if got, want := c.SubBusiness(at(t, c.Location(), tt.from), tt.d), at(t, c.Location(), tt.want); !got.Equal(want) {
				t.Errorf("SubBusiness = %s, want %s", got, want)
			}
		})
	}
}

func TestBusinessBetween(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		cal, a, b string
		want      time.Duration
	}{
		{"office", "2026-03-10 15:00", "2026-03-11 11:00", 4 * time.Hour},
		{"office", "2026-03-11 11:00", "2026-03-10 15:00", -4 * time.Hour},
		{"office", "2026-03-13 16:00", "2026-03-16 12:00", 4 * time.Hour},
		{"office", "2026-03-14 00:00", "2026-03-16 00:00", 0},
		{"office", "2026-03-10 12:00", "2026-03-10 12:00", 0},
		{"office", "2026-03-09 00:00", "2026-03-16 00:00", 40 * time.Hour},
		{"split", "2026-03-10 00:00", "2026-03-11 00:00", 8 * time.Hour},
		{"christmas", "2026-12-21 00:00", "2027-01-04 00:00", 6 * 8 * time.Hour},
		{"de-by", "2026-01-05 00:00", "2026-01-08 00:00", 2 * 8 * time.Hour},
		{"de-be", "2026-01-05 00:00", "2026-01-08 00:00", 3 * 8 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.cal+" "+tt.a+" "+tt.b, func(t *testing.T) {
			c := cals[tt.cal]
			if got := c.BusinessBetween(at(t, c.Location(), tt.a), at(t, c.Location(), tt.b)); got != tt.want {
				t.Errorf("BusinessBetween = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestAtShareExtend(t *testing.T) {
	c := calendars(t)["office"]
	loc := c.Location()
	arrival := at(t, loc, "2026-03-10 20:00") // Tuesday evening
	due := c.Due(arrival, calendar.Commitment{Days: 1})
	if want := at(t, loc, "2026-03-12 09:00"); !due.Equal(want) {
		t.Fatalf("due = %s, want %s", due, want)
	}
	tests := []struct {
		share float64
		want  string
	}{
		{0, "2026-03-11 09:00"},
		{-1, "2026-03-11 09:00"},
		{0.5, "2026-03-11 13:00"},
		{0.9, "2026-03-11 16:12"},
		{1, "2026-03-12 09:00"}, // the due time, not Wednesday 17:00
		{2, "2026-03-12 09:00"},
	}
	for _, tt := range tests {
		if got, want := c.AtShare(arrival, due, tt.share), at(t, loc, tt.want); !got.Equal(want) {
			t.Errorf("AtShare(%v) = %s, want %s", tt.share, got, want)
		}
	}
	if got, want := c.Extend(at(t, loc, "2026-03-13 15:00"), 4*time.Hour), at(t, loc, "2026-03-16 11:00"); !got.Equal(want) {
		t.Errorf("Extend = %s, want %s", got, want)
	}
}

// A calendar closed by holidays for four years must answer, not hang: the
// search gives up after ClosedHorizon, and opens normally once the holidays
// end within reach.
func TestClosedForYears(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	var hol []calendar.Date
	for d := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC); d.Year() < 2030; d = d.AddDate(0, 0, 1) {
		hol = append(hol, calendar.DateOf(d, time.UTC))
	}
	c := newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"), Holidays: hol})
	arrival := at(t, berlin, "2026-03-10 15:00")
	windowDays := int(calendar.ClosedHorizon/(24*time.Hour)) + 1
	giveUp := time.Date(2026, 3, 10+windowDays, 0, 0, 0, 0, berlin)

	if got := c.NextOpen(arrival); !got.Equal(giveUp) {
		t.Errorf("NextOpen = %s, want give-up %s", got, giveUp)
	}
	if got := c.Due(arrival, calendar.Commitment{Business: 4 * time.Hour}); !got.Equal(giveUp) {
		t.Errorf("Due(4h) = %s, want give-up %s", got, giveUp)
	}
	if got := c.Due(arrival, calendar.Commitment{Days: 3}); got.Before(giveUp) {
		t.Errorf("Due(3d) = %s, want at least %s", got, giveUp)
	}
	if got, want := c.SubBusiness(arrival, time.Hour), at(t, berlin, "2025-12-31 16:00"); !got.Equal(want) {
		t.Errorf("SubBusiness = %s, want %s, before the holidays", got, want)
	}
	late := at(t, berlin, "2029-06-01 10:00")
	if got, want := c.SubBusiness(late, time.Hour), time.Date(2029, 6, 1-windowDays+1, 0, 0, 0, 0, berlin); !got.Equal(want) {
		t.Errorf("SubBusiness = %s, want give-up %s", got, want)
	}
	// From mid-2029 the first opening, 2030-01-01, lies within the horizon.
	if got, want := c.NextOpen(late), at(t, berlin, "2030-01-01 09:00"); !got.Equal(want) {
		t.Errorf("NextOpen = %s, want %s", got, want)
	}
	// A zero Calendar is never open; it must answer too.
	var zero calendar.Calendar
	if got := zero.NextOpen(arrival); !got.After(arrival) || zero.IsOpen(arrival) {
		t.Errorf("zero calendar: NextOpen = %s, IsOpen = %v", got, zero.IsOpen(arrival))
	}
	// A hand-built commitment far beyond ParseCommitment's limit ends.
	if got := calendars(t)["office"].Due(arrival, calendar.Commitment{Days: math.MaxInt}); !got.After(arrival) {
		t.Errorf("huge Days: Due = %s", got)
	}
}

func TestParseCommitment(t *testing.T) {
	tests := []struct {
		in      string
		want    calendar.Commitment
		str     string
		wantErr string
	}{
		{in: "4h", want: calendar.Commitment{Business: 4 * time.Hour}, str: "4h"},
		{in: "90m", want: calendar.Commitment{Business: 90 * time.Minute}, str: "1h30m"},
		{in: "1h30m", want: calendar.Commitment{Business: 90 * time.Minute}, str: "1h30m"},
		{in: "30m", want: calendar.Commitment{Business: 30 * time.Minute}, str: "30m"},
		{in: " 4H ", want: calendar.Commitment{Business: 4 * time.Hour}, str: "4h"},
		{in: "1.5h", want: calendar.Commitment{Business: 90 * time.Minute}, str: "1h30m"},
		{in: "90s", want: calendar.Commitment{Business: 90 * time.Second}, str: "1m30s"},
		{in: "3d", want: calendar.Commitment{Days: 3}, str: "3d"},
		{in: "365d", want: calendar.Commitment{Days: 365}, str: "365d"},
		{in: "8760h", want: calendar.Commitment{Business: 8760 * time.Hour}, str: "8760h"},
		{in: "", wantErr: "empty"},
		{in: "0", wantErr: "missing unit"},
		{in: "4", wantErr: "write 4h for business hours or 4d"},
		{in: "0h", wantErr: "must be positive"},
		{in: "0d", wantErr: "must be positive"},
		{in: "-4h", wantErr: "must be positive"},
		{in: "-3d", wantErr: "must be positive"},
		{in: "1d4h", wantErr: "cannot mix"},
		{in: "4h1d", wantErr: "cannot mix"},
		{in: "1.5d", wantErr: "want business time"},
		{in: "soon", wantErr: "want business time"},
		{in: "4 hours", wantErr: "want business time"},
		{in: "d", wantErr: "want business time"},
		{in: "366d", wantErr: "at most 365d"},
		{in: "99999999999999999999d", wantErr: "at most 365d"},
		{in: "8761h", wantErr: "at most 8760h"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := calendar.ParseCommitment(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "parse commitment") {
					t.Fatalf("ParseCommitment(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseCommitment(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			back, err := calendar.ParseCommitment(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q: %v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseHours(t *testing.T) {
	tests := []struct {
		in      string
		want    string // FormatHours of the result
		wantErr string
	}{
		{in: "09:00-17:00", want: "09:00-17:00"},
		{in: "9:00-17:30", want: "09:00-17:30"},
		{in: "08:00-12:00,13:00-17:00", want: "08:00-12:00,13:00-17:00"},
		{in: " 08:00 - 12:00 , 13:00-17:00 ", want: "08:00-12:00,13:00-17:00"},
		{in: "08:00-12:00,12:00-17:00", want: "08:00-12:00,12:00-17:00"},
		{in: "00:00-24:00", want: "00:00-24:00"},
		{in: "", wantErr: "want HH:MM-HH:MM"},
		{in: "9-17", wantErr: "bad clock time"},
		{in: "09:00", wantErr: "want HH:MM-HH:MM"},
		{in: "17:00-09:00", wantErr: "ends before it starts"},
		{in: "09:00-09:00", wantErr: "ends before it starts"},
		{in: "13:00-17:00,08:00-12:00", wantErr: "from morning to evening"},
		{in: "08:00-12:00,11:00-17:00", wantErr: "overlaps"},
		{in: "08:00-12:00,08:00-12:00", wantErr: "overlaps"},
		{in: "25:00-26:00", wantErr: "hours past 23"},
		{in: "09:60-17:00", wantErr: "minutes past 59"},
		{in: "24:00-24:00", wantErr: "24:00 can only end a span"},
		{in: "09:00-24:30", wantErr: "bad clock time"},
		{in: "09:00-17:00,", wantErr: "want HH:MM-HH:MM"},
		{in: "0900-1700", wantErr: "bad clock time"},
		{in: "-9:00-17:00", wantErr: "bad clock time"},
		{in: "09:0a-17:00", wantErr: "bad clock time"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := calendar.ParseHours(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseHours(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s := calendar.FormatHours(got); s != tt.want {
				t.Errorf("ParseHours(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestParseWeekday(t *testing.T) {
	tests := []struct {
		in   string
		want time.Weekday
		ok   bool
	}{
		{"mon", time.Monday, true}, {"Tue", time.Tuesday, true}, {"WED", time.Wednesday, true},
		{"thursday", time.Thursday, true}, {"Friday", time.Friday, true}, {" sat ", time.Saturday, true},
		{"SUNDAY", time.Sunday, true}, {"sun", time.Sunday, true},
		{"", 0, false}, {"mo", 0, false}, {"tues", 0, false}, {"montag", 0, false}, {"1", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := calendar.ParseWeekday(tt.in)
			if (err == nil) != tt.ok || (tt.ok && got != tt.want) {
				t.Errorf("ParseWeekday(%q) = %v, %v; want %v, ok %v", tt.in, got, err, tt.want, tt.ok)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-12-25", true}, {"2028-02-29", true},
		{"2026-02-29", false}, {"2026-02-30", false}, {"2026-13-01", false}, {"2026-2-5", false},
		{"26-12-25", false}, {"2026-12-25T00:00:00Z", false}, {" 2026-12-25", false},
		{"25.12.2026", false}, {"", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := calendar.ParseDate(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("ParseDate(%q) = %v, %v; want ok %v", tt.in, got, err, tt.ok)
			}
			if tt.ok && got.String() != tt.in {
				t.Errorf("String() = %q, want %q", got.String(), tt.in)
			}
		})
	}
}

func TestNewCalendarErrors(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	good := calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: []calendar.Span{{9 * time.Hour, 17 * time.Hour}}}
	tests := []struct {
		name   string
		edit   func(*calendar.CalendarSpec)
		errors []string
	}{
		{"no location", func(s *calendar.CalendarSpec) { s.Location = nil }, []string{"no time zone"}},
		{"no workdays", func(s *calendar.CalendarSpec) { s.Workdays = nil }, []string{"no workdays"}},
		{"bad weekday", func(s *calendar.CalendarSpec) { s.Workdays = []time.Weekday{9} }, []string{"bad weekday 9", "no workdays"}},
		{"no hours", func(s *calendar.CalendarSpec) { s.Hours = nil }, []string{"no working hours"}},
		{"inverted span", func(s *calendar.CalendarSpec) { s.Hours = []calendar.Span{{17 * time.Hour, 9 * time.Hour}} }, []string{"ends before it starts"}},
		{"span past midnight", func(s *calendar.CalendarSpec) { s.Hours = []calendar.Span{{20 * time.Hour, 26 * time.Hour}} }, []string{"outside 00:00-24:00"}},
		{"bad holiday", func(s *calendar.CalendarSpec) { s.Holidays = []calendar.Date{{2026, 2, 30}} }, []string{"2026-02-30 is not a real day"}},
		{"unknown public", func(s *calendar.CalendarSpec) { s.Public = "XX" }, []string{`unknown public holidays "XX"`, "DE-BY"}},
		{"all at once", func(s *calendar.CalendarSpec) { s.Location, s.Workdays, s.Public = nil, nil, "AU" },
			[]string{"no time zone", "no workdays", `unknown public holidays "AU"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := good
			tt.edit(&spec)
			c, err := calendar.NewCalendar(spec)
			if err == nil {
				t.Fatalf("NewCalendar = %v, want error", c)
			}
			for _, want := range append(tt.errors, "new calendar") {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
	if _, err := calendar.NewCalendar(good); err != nil {
		t.Errorf("good spec: %v", err)
	}
}

// NewCalendar copies the spec: changing the caller's slices afterwards must
// not change the calendar.
func TestNewCalendarCopies(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	spec := calendar.CalendarSpec{Location: berlin, Workdays: []time.Weekday{time.Tuesday},
		Hours: hours(t, "09:00-17:00"), Holidays: dates(t, "2026-03-17")}
	c := newCal(t, spec)
	spec.Workdays[0] = time.Saturday
	spec.Hours[0] = calendar.Span{Start: 0, End: 24 * time.Hour}
	spec.Holidays[0] = calendar.Date{Year: 2026, Month: 3, Day: 10}
	if !c.IsOpen(at(t, berlin, "2026-03-10 10:00")) || c.IsOpen(at(t, berlin, "2026-03-17 10:00")) ||
		c.IsOpen(at(t, berlin, "2026-03-10 08:00")) {
		t.Error("calendar changed with the spec it was built from")
	}
}

func TestCommitmentStringOddValues(t *testing.T) {
	tests := []struct {
		cm   calendar.Commitment
		want string
		zero bool
	}{
		{calendar.Commitment{}, "0h", true},
		{calendar.Commitment{Business: 1500 * time.Millisecond}, "1.5s", false},
		{calendar.Commitment{Business: -time.Hour}, "-1h0m0s", false},
		{calendar.Commitment{Days: 1, Business: 2 * time.Hour}, "1d2h", false},
	}
	for _, tt := range tests {
		if got := tt.cm.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.cm, got, tt.want)
		}
		if got := tt.cm.IsZero(); got != tt.zero {
			t.Errorf("%#v.IsZero() = %v, want %v", tt.cm, got, tt.zero)
		}
	}
}
