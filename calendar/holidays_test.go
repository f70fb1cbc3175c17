package calendar_test

import (
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

func TestValidPublicHolidays(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{"DE", true}, {"de", true}, {"DE-BY", true}, {"de-by", true}, {"DE-BE", true},
		{"US", true}, {"GB", true}, {"FR", true}, {"AT", true}, {"CH", true}, {"ch-zh", true},
		{"NL", true}, {"AU-NSW", true}, {" us ", true},
		{"", false}, {"XX", false}, {"DE-XX", false}, {"DE BY", false}, {"DE_BY", false},
		{"AU", false}, // the library has only state lists for Australia
		{"UK", false}, {"JP", false}, {"ECB", false},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			if got := calendar.ValidPublicHolidays(tt.code); got != tt.ok {
				t.Errorf("ValidPublicHolidays(%q) = %v, want %v", tt.code, got, tt.ok)
			}
		})
	}
	for _, code := range calendar.PublicHolidaySets() {
		if !calendar.ValidPublicHolidays(code) {
			t.Errorf("PublicHolidaySets lists %q, which ValidPublicHolidays rejects", code)
		}
	}
}

// Each listed public-holiday set builds a calendar that knows New Year's Day
// or Christmas, the two days every set here observes.
func TestPublicHolidaySetsBuild(t *testing.T) {
	for _, code := range calendar.PublicHolidaySets() {
		c := newCal(t, calendar.CalendarSpec{Location: time.UTC, Workdays: weekdays,
			Hours: []calendar.Span{{Start: 9 * time.Hour, End: 17 * time.Hour}}, Public: code})
		jan1 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
		dec25 := time.Date(2026, 12, 25, 12, 0, 0, 0, time.UTC)
		if !c.IsHoliday(jan1) && !c.IsHoliday(dec25) {
			t.Errorf("%s: neither 2026-01-01 nor 2026-12-25 is a holiday", code)
		}
		if c.IsHoliday(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)) && code != "CH" {
			t.Errorf("%s: 2026-03-10 is a holiday", code)
		}
	}
}

func TestPublicHolidays(t *testing.T) {
	tests := []struct {
		code, day string
		holiday   bool
	}{
		{"DE-BY", "2026-01-06", true}, // Heilige Drei Könige
		{"DE-BE", "2026-01-06", false},
		{"DE-BE", "2026-03-09", false},
		{"DE-BE", "2027-03-08", true}, // Frauentag
		{"DE", "2026-10-03", true},
		{"DE", "2026-06-04", false}, // Fronleichnam is regional
		{"DE-BY", "2026-06-04", true},
		{"DE-SN", "2026-11-18", true}, // Buß- und Bettag
		{"DE", "2026-04-03", true},    // Good Friday, from Easter
		{"DE", "2027-03-26", true},
		{"US", "2026-11-26", true}, // Thanksgiving
		{"US", "2027-11-25", true},
		{"US", "2026-11-27", false},
		{"US", "2026-07-03", true}, // Independence Day observed
		{"US", "2021-12-31", true}, // New Year 2022 observed in the old year
		{"GB", "2026-12-28", true}, // Boxing Day observed
		{"GB", "2026-12-26", true}, // and the day itself
		{"FR", "2026-07-14", true}, // Fête Nationale
		{"AT", "2026-10-26", true}, // Nationalfeiertag
		{"NL", "2026-04-27", true}, // Koningsdag
		{"CH-ZH", "2026-01-06", false},
		{"CH-ZH", "2026-08-01", true},
		{"DE", "2150-12-25", true}, // outside the precomputed years
		{"DE", "1999-10-03", true},
		{"DE", "1999-12-27", false},
		{"US", "2150-11-26", true}, // fourth Thursday of November 2150
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.day, func(t *testing.T) {
			loc := time.UTC
			c := newCal(t, calendar.CalendarSpec{Location: loc, Workdays: weekdays,
				Hours: []calendar.Span{{Start: 9 * time.Hour, End: 17 * time.Hour}}, Public: tt.code})
			d, err := time.ParseInLocation(time.DateOnly, tt.day, loc)
			if err != nil {
				t.Fatal(err)
			}
			for _, h := range []int{0, 12, 23} {
				if got := c.IsHoliday(d.Add(time.Duration(h) * time.Hour)); got != tt.holiday {
					t.Errorf("IsHoliday(%s %02d:00) = %v, want %v", tt.day, h, got, tt.holiday)
				}
			}
		})
	}
}

// Explicit holidays add to the public set, inside and outside the
// precomputed years, and are read in the calendar's zone.
func TestExplicitAndPublicHolidays(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	c := newCal(t, calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"),
		Public: "DE-BE", Holidays: dates(t, "2026-12-24", "2026-12-31", "2200-01-07")})
	tests := []struct {
		t       time.Time
		holiday bool
	}{
		{at(t, berlin, "2026-12-24 10:00"), true},
		{at(t, berlin, "2026-12-25 10:00"), true},
		{at(t, berlin, "2026-12-31 10:00"), true},
		{at(t, berlin, "2026-12-30 10:00"), false},
		{at(t, berlin, "2200-01-07 10:00"), true},
		{at(t, berlin, "2200-01-01 10:00"), true},
		{at(t, berlin, "2200-01-08 10:00"), false},
		// 23:30 UTC on the 23rd is already the 24th in Berlin.
		{time.Date(2026, 12, 23, 23, 30, 0, 0, time.UTC), true},
		{time.Date(2026, 12, 23, 22, 30, 0, 0, time.UTC), false},
	}
	for _, tt := range tests {
		if got := c.IsHoliday(tt.t); got != tt.holiday {
			t.Errorf("IsHoliday(%s) = %v, want %v", tt.t, got, tt.holiday)
		}
	}
	// 2026-12-23 is the last working day of the year.
	if got, want := c.Due(at(t, berlin, "2026-12-23 16:00"), calendar.Commitment{Business: 2 * time.Hour}),
		at(t, berlin, "2026-12-28 10:00"); !got.Equal(want) {
		t.Errorf("Due = %s, want %s", got, want)
	}
}
