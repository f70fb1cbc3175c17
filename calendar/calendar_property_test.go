package calendar_test

import (
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

// randomArrival is any instant in 2026-2027, so DST switches, holidays and
// Christmas all come up.
func randomArrival(r *rand.Rand) time.Time {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return start.Add(time.Duration(r.Int64N(int64(2 * 365 * 24 * time.Hour))))
}

// randomCommitment is either 1m..40h of business time or 1..10 working days.
func randomCommitment(r *rand.Rand) calendar.Commitment {
	if r.IntN(3) == 0 {
		return calendar.Commitment{Days: 1 + r.IntN(10)}
	}
	return calendar.Commitment{Business: time.Duration(1+r.IntN(40*60)) * time.Minute}
}

func TestDueProperties(t *testing.T) {
	const n = 1500
	names := []string{"office", "christmas", "split", "24h", "ny", "ny24h", "saturday", "de-by", "gb"}
	cals := calendars(t)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := cals[name]
			r := rand.New(rand.NewPCG(20260310, uint64(len(name))))
			for range n {
				a := randomArrival(r)
				cm := randomCommitment(r)
				due := c.Due(a, cm)
				open := c.NextOpen(a)

				if due.Before(a) {
					t.Fatalf("Due(%s, %s) = %s, before arrival", a, cm, due)
				}
				if open.Before(a) || !c.IsOpen(open) {
					t.Fatalf("NextOpen(%s) = %s: before arrival or not open", a, open)
				}
				if cm.Business > 0 {
					if got := c.BusinessBetween(a, due); got != cm.Business {
						t.Fatalf("BusinessBetween(%s, Due %s) = %s, want %s", a, due, got, cm.Business)
					}
				} else if got, want := c.BusinessBetween(open, due), time.Duration(0); got <= want || c.IsWorkday(due) != true {
					t.Fatalf("Due(%s, %s) = %s: %s of work, workday %v", a, cm, due, got, c.IsWorkday(due))
				}

				// Monotone in arrival.
				b := a.Add(time.Duration(r.Int64N(int64(72 * time.Hour))))
				if dueB := c.Due(b, cm); dueB.Before(due) {
					t.Fatalf("arrival %s ≤ %s but Due %s > %s (%s)", a, b, due, dueB, cm)
				}
				// More commitment never moves due earlier.
				more := cm
				if more.Days > 0 {
					more.Days++
				} else {
					more.Business += time.Hour
				}
				if dueMore := c.Due(a, more); dueMore.Before(due) {
					t.Fatalf("Due(%s, %s) = %s before Due(%s) = %s", a, more, dueMore, cm, due)
				}

				// AddBusiness and SubBusiness round-trip through BusinessBetween.
				d := time.Duration(r.Int64N(int64(30 * time.Hour)))
				if got := c.BusinessBetween(a, c.AddBusiness(a, d)); got != d {
					t.Fatalf("BusinessBetween(%s, AddBusiness(%s)) = %s", a, d, got)
				}
				back := c.SubBusiness(a, d)
				if got := c.BusinessBetween(back, a); got != d {
					t.Fatalf("BusinessBetween(SubBusiness(%s, %s) = %s, t) = %s", a, d, back, got)
				}
				if c.IsOpen(a) {
					if got := c.AddBusiness(back, d); !got.Equal(a) {
						t.Fatalf("AddBusiness(SubBusiness(%s, %s)) = %s", a, d, got)
					}
				}

				// AtShare runs from NextOpen to due, in order.
				if got := c.AtShare(a, due, 0); !got.Equal(open) {
					t.Fatalf("AtShare(0) = %s, want NextOpen %s", got, open)
				}
				if got := c.AtShare(a, due, 1); !got.Equal(due) {
					t.Fatalf("AtShare(1) = %s, want due %s", got, due)
				}
				shares := []float64{r.Float64(), r.Float64(), r.Float64()}
				sort.Float64s(shares)
				prev := open
				for _, s := range shares {
					at := c.AtShare(a, due, s)
					if at.Before(prev) || at.After(due) {
						t.Fatalf("AtShare(%v) = %s outside [%s, %s]", s, at, prev, due)
					}
					prev = at
				}
			}
		})
	}
}

func BenchmarkDue(b *testing.B) {
	cals := calendars(b)
	for _, bc := range []struct {
		cal string
		cm  calendar.Commitment
	}{
		{"office", calendar.Commitment{Business: 4 * time.Hour}},
		{"office", calendar.Commitment{Days: 3}},
		{"split", calendar.Commitment{Business: 40 * time.Hour}},
		{"de-by", calendar.Commitment{Days: 10}},
	} {
		b.Run(bc.cal+"/"+bc.cm.String(), func(b *testing.B) {
			c := cals[bc.cal]
			r := rand.New(rand.NewPCG(1, 2))
			arrivals := make([]time.Time, 1024)
			for i := range arrivals {
				arrivals[i] = randomArrival(r)
			}
			i := 0
			for b.Loop() {
				c.Due(arrivals[i%len(arrivals)], bc.cm)
				i++
			}
		})
	}
}
