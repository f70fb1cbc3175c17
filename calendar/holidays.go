package calendar

import (
	"time"

	"github.com/rickar/cal/v2"
)

// The years whose holidays NewCalendar precomputes into a bitmap; Due and
// friends look days up there, and only fall back to evaluating the holiday
// rules for dates outside this window.
const (
	holidayBaseYear = 2000
	holidayYears    = 101
)

// holidaySet answers whether a day is closed for a holiday. It is built once
// and only read afterwards, so it is safe for concurrent use.
type holidaySet struct {
	explicit map[Date]struct{}
	public   []*cal.Holiday
	// years[y-holidayBaseYear] has bit YearDay-1 set for each closed day.
	years [holidayYears][6]uint64
}

func newHolidaySet(explicit []Date, public []*cal.Holiday) *holidaySet {
	hs := &holidaySet{explicit: make(map[Date]struct{}, len(explicit)), public: public}
	for _, d := range explicit {
		hs.explicit[d] = struct{}{}
		hs.mark(d)
	}
	// Observed days may fall into the neighbouring year (New Year's Day on a
	// Saturday is observed on 31 December in the US), hence the margin.
	for y := holidayBaseYear - 1; y <= holidayBaseYear+holidayYears; y++ {
		for _, h := range public {
			act, obs := h.Calc(y)
			if !act.IsZero() {
				hs.mark(dateOfWall(act))
			}
			if !obs.IsZero() {
				hs.mark(dateOfWall(obs))
			}
		}
	}
	return hs
}

func (hs *holidaySet) mark(d Date) {
	i := d.Year - holidayBaseYear
	if i < 0 || i >= holidayYears {
		return
	}
	yd := d.yearDay() - 1
	hs.years[i][yd/64] |= 1 << (yd % 64)
}

// closed reports whether d is an explicit or public holiday. A public holiday
// closes both its actual day and its observed (substitute) day: a department
// that works Saturdays is still closed on a Saturday Christmas.
func (hs *holidaySet) closed(d Date) bool {
	hc := holidayCursor{hs: hs}
	return hc.closed(d)
}

// dateOfWall is the calendar day printed on t in its own location; the
// library returns holidays as midnight in cal.DefaultLoc.
func dateOfWall(t time.Time) Date {
	y, m, d := t.Date()
	return Date{Year: y, Month: m, Day: d}
}

// yearBits returns the closed-day bitmap of year y: precomputed inside the
// window, evaluated from the rules outside it.
func (hs *holidaySet) yearBits(y int) [6]uint64 {
	var bits [6]uint64
	if hs == nil {
		return bits
	}
	if i := y - holidayBaseYear; i >= 0 && i < holidayYears {
		return hs.years[i]
	}
	set := func(d Date) {
		if d.Year == y {
			yd := d.yearDay() - 1
			bits[yd/64] |= 1 << (yd % 64)
		}
	}
	for d := range hs.explicit {
		set(d)
	}
	for _, h := range hs.public {
		for py := y - 1; py <= y+1; py++ {
			act, obs := h.Calc(py)
			if !act.IsZero() {
				set(dateOfWall(act))
			}
			if !obs.IsZero() {
				set(dateOfWall(obs))
			}
		}
	}
	return bits
}

// holidayCursor caches one year's bitmap while a search walks day by day, so
// that dates outside the precomputed window cost one rule evaluation per
// year rather than per day.
type holidayCursor struct {
	hs    *holidaySet
	year  int
	bits  [6]uint64
	valid bool
}

func (hc *holidayCursor) closed(d Date) bool {
	if !hc.valid || hc.year != d.Year {
		hc.bits, hc.year, hc.valid = hc.hs.yearBits(d.Year), d.Year, true
	}
	yd := d.yearDay() - 1
	return hc.bits[yd/64]&(1<<(yd%64)) != 0
}
