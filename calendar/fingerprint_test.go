package calendar_test

import (
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

// The fingerprint is the same for the same calendar however its holidays
// were listed, and differs when anything the arithmetic reads changes.
func TestFingerprint(t *testing.T) {
	berlin := loadLoc(t, "Europe/Berlin")
	spec := func(change func(*calendar.CalendarSpec)) calendar.CalendarSpec {
		s := calendar.CalendarSpec{Location: berlin, Workdays: weekdays, Hours: hours(t, "09:00-17:00"),
			Holidays: dates(t, "2026-12-24", "2026-12-31")}
		if change != nil {
			change(&s)
		}
		return s
	}
	base := newCal(t, spec(nil)).Fingerprint()
	if again := newCal(t, spec(func(s *calendar.CalendarSpec) { s.Holidays = dates(t, "2026-12-31", "2026-12-24") })).Fingerprint(); again != base {
		t.Errorf("same calendar, holidays listed in another order: fingerprint %s, want %s", again, base)
	}
	for _, tc := range []struct {
		name   string
		change func(*calendar.CalendarSpec)
	}{
		{"time zone", func(s *calendar.CalendarSpec) { s.Location = loadLoc(t, "Europe/Paris") }},
		{"workdays", func(s *calendar.CalendarSpec) { s.Workdays = append(weekdays, time.Saturday) }},
		{"hours", func(s *calendar.CalendarSpec) { s.Hours = hours(t, "09:00-18:00") }},
		{"explicit holiday", func(s *calendar.CalendarSpec) { s.Holidays = dates(t, "2026-12-24") }},
		{"explicit holiday outside the precomputed years", func(s *calendar.CalendarSpec) { s.Holidays = append(s.Holidays, dates(t, "2199-01-02")...) }},
		{"public holidays", func(s *calendar.CalendarSpec) { s.Public = "DE" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newCal(t, spec(tc.change)).Fingerprint(); got == base {
				t.Errorf("changed %s: fingerprint unchanged", tc.name)
			}
		})
	}
	if de, by := newCal(t, spec(func(s *calendar.CalendarSpec) { s.Public = "DE" })).Fingerprint(),
		newCal(t, spec(func(s *calendar.CalendarSpec) { s.Public = "DE-BY" })).Fingerprint(); de == by {
		t.Error("public holidays DE and DE-BY: same fingerprint")
	}
}
