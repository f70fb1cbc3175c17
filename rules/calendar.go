package rules

// STUB: owned by the calendar helper; the signatures are the contract.

import (
	"errors"
	"time"
)

// Commitment is a service promise: a business duration ("4h", "90m") or a
// number of working days ("3d"). Exactly one of the two is non-zero.
type Commitment struct {
	Business time.Duration
	Days     int
}

// ParseCommitment reads "4h", "90m", "1h30m" or "3d".
func ParseCommitment(s string) (Commitment, error) {
	return Commitment{}, errors.New("not implemented")
}

// String renders the commitment the way it is written in config ("4h", "3d").
func (c Commitment) String() string { return "" }

// IsZero says no commitment is set.
func (c Commitment) IsZero() bool { return c.Business == 0 && c.Days == 0 }

// Span is a stretch of working hours within a day, as offsets from midnight.
type Span struct{ Start, End time.Duration }

// ParseHours reads "09:00-17:00" or split hours "08:00-12:00,13:00-17:00".
func ParseHours(s string) ([]Span, error) { return nil, errors.New("not implemented") }

// ParseWeekday reads "mon" … "sun" (and full English names), any case.
func ParseWeekday(s string) (time.Weekday, error) { return 0, errors.New("not implemented") }

// Date is a calendar day without a time or zone.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "2026-12-25".
func ParseDate(s string) (Date, error) { return Date{}, errors.New("not implemented") }

// CalendarSpec is the input to NewCalendar, already parsed field by field so
// the config loader can point at the line of any bad value.
type CalendarSpec struct {
	Location *time.Location
	Workdays []time.Weekday
	Hours    []Span
	Holidays []Date
	// Public names a public-holiday set ("DE", "DE-BY", "US", "GB", …);
	// empty for none. ValidPublicHolidays says which exist.
	Public string
}

// ValidPublicHolidays reports whether NewCalendar knows the named set.
func ValidPublicHolidays(code string) bool { return code != "" }

// Calendar is a department's business calendar. All methods are pure and
// safe for concurrent use.
type Calendar struct{}

// NewCalendar builds a calendar.
func NewCalendar(spec CalendarSpec) (*Calendar, error) { return &Calendar{}, nil }

// Location is the calendar's time zone.
func (c *Calendar) Location() *time.Location { return time.UTC }

// IsOpen says whether t falls within working hours on a working day.
func (c *Calendar) IsOpen(t time.Time) bool { return false }

// NextOpen returns t when the calendar is open at t, else the next opening.
func (c *Calendar) NextOpen(t time.Time) time.Time { return t }

// Due is the due time of a request arriving at arrival with commitment cm.
func (c *Calendar) Due(arrival time.Time, cm Commitment) time.Time { return arrival }

// AddBusiness adds d of business time to t.
func (c *Calendar) AddBusiness(t time.Time, d time.Duration) time.Time { return t }

// SubBusiness goes back d of business time from t (for "before_due").
func (c *Calendar) SubBusiness(t time.Time, d time.Duration) time.Time { return t }

// BusinessBetween is the business time between a and b (negative when b < a).
func (c *Calendar) BusinessBetween(a, b time.Time) time.Duration { return 0 }
