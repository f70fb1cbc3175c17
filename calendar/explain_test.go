package calendar_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

// TestExplainDue: the working shown is the working done — the stretches
// or days counted, and each closed day passed over with its reason.
func TestExplainDue(t *testing.T) {
	cals := calendars(t)
	tests := []struct {
		name, cal, arrival, commitment string
		counted                        []string // "Mon 16 09:00-12:00" or, for days, "Tue 17"
		closed                         []string // "Sat 14 not a workday"
	}{
		{"friday afternoon runs into monday", "office", "2026-03-13 16:00", "4h",
			[]string{"Fri 13 16:00-17:00", "Mon 16 09:00-12:00"}, []string{"Sat 14 not a workday", "Sun 15 not a workday"}},
		{"hours over holiday", "office-mon-holiday", "2026-03-13 16:00", "4h",
			[]string{"Fri 13 16:00-17:00", "Tue 17 09:00-12:00"}, []string{"Sat 14 not a workday", "Sun 15 not a workday", "Mon 16 holiday"}},
		{"days over holiday", "office-mon-holiday", "2026-03-13 10:00", "1d",
			[]string{"Tue 17"}, []string{"Sat 14 not a workday", "Sun 15 not a workday", "Mon 16 holiday"}},
		{"split over lunch", "split", "2026-03-10 11:00", "2h",
			[]string{"Tue 10 11:00-12:00", "Tue 10 13:00-14:00"}, nil},
		{"thanksgiving is named", "ny", "2026-11-25 15:00", "4h",
			[]string{"Wed 25 15:00-17:00", "Fri 27 09:00-11:00"}, []string{"Thu 26 holiday: Thanksgiving Day"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cals[tt.cal]
			cm, err := calendar.ParseCommitment(tt.commitment)
			if err != nil {
				t.Fatal(err)
			}
			arrival := at(t, c.Location(), tt.arrival)
			x := c.ExplainDue(arrival, cm)
			if !x.Due.Equal(c.Due(arrival, cm)) {
				t.Errorf("Due = %s, want %s", x.Due, c.Due(arrival, cm))
			}
			var counted, closed []string
			for _, s := range x.Stretches {
				counted = append(counted, s.Start.Format("Mon 2 15:04")+"-"+s.End.Format("15:04"))
			}
			for _, d := range x.Days {
				counted = append(counted, time.Date(d.Year, d.Month, d.Day, 12, 0, 0, 0, time.UTC).Format("Mon 2"))
			}
			for _, d := range x.Closed {
				closed = append(closed, time.Date(d.Date.Year, d.Date.Month, d.Date.Day, 12, 0, 0, 0, time.UTC).Format("Mon 2")+" "+d.Why)
			}
			if fmt.Sprint(counted) != fmt.Sprint(tt.counted) {
				t.Errorf("counted %q, want %q", counted, tt.counted)
			}
			if fmt.Sprint(closed) != fmt.Sprint(tt.closed) {
				t.Errorf("closed %q, want %q", closed, tt.closed)
			}
		})
	}
}

// TestExplainDueAddsUp: over a grid of arrivals, ExplainDue's due time is
// Due's, its stretches add up to the commitment and end at the due time,
// and it lists a day it counted never as closed.
func TestExplainDueAddsUp(t *testing.T) {
	for name, c := range calendars(t) {
		for _, commitment := range []string{"90m", "4h", "16h", "1d", "3d"} {
			cm, err := calendar.ParseCommitment(commitment)
			if err != nil {
				t.Fatal(err)
			}
			start := at(t, c.Location(), "2026-03-12 00:00")
			for h := 0; h < 24*9; h += 5 {
				arrival := start.Add(time.Duration(h) * time.Hour)
				x := c.ExplainDue(arrival, cm)
				if !x.Due.Equal(c.Due(arrival, cm)) {
					t.Fatalf("%s %s at %s: Due %s, want %s", name, cm, arrival, x.Due, c.Due(arrival, cm))
				}
				var sum time.Duration
				for _, s := range x.Stretches {
					sum += s.End.Sub(s.Start)
				}
				if cm.Business > 0 && (sum != cm.Business || !x.Stretches[len(x.Stretches)-1].End.Equal(x.Due)) {
					t.Fatalf("%s %s at %s: stretches %v sum %s", name, cm, arrival, x.Stretches, sum)
				}
				if cm.Days > 0 && len(x.Days) != cm.Days {
					t.Fatalf("%s %s at %s: %d days counted", name, cm, arrival, len(x.Days))
				}
				for _, d := range x.Closed {
					for _, s := range x.Stretches {
						if calendar.DateOf(s.Start, c.Location()) == d.Date {
							t.Fatalf("%s %s at %s: %s counted and closed (%s)", name, cm, arrival, d.Date, d.Why)
						}
					}
					if strings.TrimSpace(d.Why) == "" {
						t.Fatalf("closed day without a reason")
					}
				}
			}
		}
	}
}
