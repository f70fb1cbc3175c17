package report

import (
	"testing"
	"time"

	"github.com/ackd/ackd/forecast"
	"github.com/ackd/ackd/mailwatch/store"
)

// A busy Tuesday morning: twenty access requests (4h) at 10:00, answered
// one every 13 minutes. The dates given (the commitment, 14:00) hold for
// the first nineteen; a forecast from the queue at each arrival (two
// staff at the default rate: the last one waits 4h37m) would have held for
// all.
func TestComparePromises(t *testing.T) {
	d := fixtureDept(t)
	d.Staff = []string{"alice@example.test", "bob@example.test"}
	var rows []store.Request
	for i := range 20 {
		arrival := at(3, 10, 10, 0).Add(time.Duration(i) * time.Second)
		rows = append(rows, store.Request{ID: int64(i + 1), Category: "access", State: store.StateAnswered,
			ReceivedAt: arrival, DueAt: arrival.Add(4 * time.Hour),
			FirstResponseAt: at(3, 10, 10, 0).Add(time.Duration(i) * 13 * time.Minute)})
	}
	// One still open, its date not yet passed: pending for both.
	rows = append(rows, store.Request{ID: 21, Category: "access", State: store.StateAcknowledged,
		ReceivedAt: at(3, 16, 11, 0), DueAt: at(3, 16, 15, 0)})
	now := at(3, 16, 12, 0)
	rec := ComparePromises(rows, d, now, 30*24*time.Hour, nil)
	if g := rec.Given; g.Kept != 19 || g.Judged != 20 || g.Pending != 1 {
		t.Errorf("given: %+v, want 19 of 20 kept, 1 pending", g)
	}
	if f := rec.Forecast; f.Kept != 20 || f.Judged != 20 || f.Pending != 1 {
		t.Errorf("forecast: %+v, want 20 of 20 kept, 1 pending", f)
	}
	if rec.Forecast.P90Wait <= rec.Given.P90Wait || rec.Given.MedianWait != 4*time.Hour {
		t.Errorf("waits: given median %s p90 %s, forecast p90 %s", rec.Given.MedianWait, rec.Given.P90Wait, rec.Forecast.P90Wait)
	}
	// Bob away those days: one person to answer, so the forecast waits
	// longer; an absence that ended before the arrivals changes nothing.
	bobAway := []store.Away{{Dept: "it", Address: "bob@example.test", SetAt: at(3, 8, 0, 0), Until: at(3, 12, 0, 0)}}
	if away := ComparePromises(rows, d, now, 30*24*time.Hour, bobAway).Forecast; away.P90Wait <= rec.Forecast.P90Wait {
		t.Errorf("forecast p90 with bob away %s, without %s: want longer", away.P90Wait, rec.Forecast.P90Wait)
	}
	bobAway[0].SetAt, bobAway[0].Until = at(2, 8, 0, 0), at(2, 12, 0, 0)
	if earlier := ComparePromises(rows, d, now, 30*24*time.Hour, bobAway).Forecast; earlier != rec.Forecast {
		t.Errorf("an absence over before the arrivals changed the forecast: %+v, want %+v", earlier, rec.Forecast)
	}
	// A stored forecast promise is the date given.
	rows[19].PromisedAt = at(3, 10, 15, 0)
	if g := ComparePromises(rows, d, now, 30*24*time.Hour, nil).Given; g.Kept != 20 {
		t.Errorf("given with a stored promise: %+v, want 20 kept", g)
	}
}

// TestDeskWithoutStaff: a department that lists no staff is answered by
// its own account; a forecast counts that as one person present, not as
// nobody (which gave every forecast the longest wait there is).
func TestDeskWithoutStaff(t *testing.T) {
	d := fixtureDept(t)
	d.Staff = nil
	desk := Desk(d, nil)
	in := forecast.Assemble(desk, nil, at(3, 10, 10, 0), at(3, 10, 14, 0))
	f := forecast.Expect(in)
	if f.Present != 1 || f.Wait >= forecast.MaxWait || f.Later {
		t.Errorf("no staff listed: %v present, wait %s, later %v; want the department's account as one person", f.Present, f.Wait, f.Later)
	}
	d.Staff = []string{"alice@example.test", "bob@example.test"}
	if f := forecast.Expect(forecast.Assemble(Desk(d, []string{"alice@example.test", "bob@example.test"}), nil, at(3, 10, 10, 0), at(3, 10, 14, 0))); f.Present != 0 {
		t.Errorf("every listed person away: %v present, want 0", f.Present)
	}
}
