package simulate

import (
	"testing"
	"time"
)

// Bursts counts alerts the way mailwatch sends them: the request that
// makes count alike within the window alerts, later ones alike to an
// alerted one do not, and the split into outage and false alarms and the
// delay follow the outage's span.
func TestBurstsCounting(t *testing.T) {
	t0 := time.Date(2026, 11, 17, 8, 0, 0, 0, time.UTC)
	at := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	req := func(m float64, rule, subj string, reported bool) *Request {
		return &Request{Arrival: at(m), Rule: rule, Subject: subj, Reported: reported}
	}
	outage := []Outage{{from: at(0), to: at(120)}}
	tests := []struct {
		name        string
		reqs        []*Request
		count       int
		within      time.Duration
		want        []float64 // minutes of the alerts
		true, false int
		delays      []time.Duration
	}{
		{name: "same rule, fifth within 10m alerts once",
			reqs: []*Request{req(1, "vpn", "VPN down", true), req(3, "vpn", "no vpn", true), req(4, "vpn", "VPN?", true),
				req(6, "vpn", "vpn again", true), req(9, "vpn", "VPN broken", true), req(10, "vpn", "vpn", true)},
			count: 5, within: 10 * time.Minute, want: []float64{9}, true: 1, delays: []time.Duration{9 * time.Minute}},
		{name: "spread wider than the window: none",
			reqs:  []*Request{req(1, "vpn", "a", true), req(5, "vpn", "b", true), req(12, "vpn", "c", true), req(20, "vpn", "d", true)},
			count: 3, within: 10 * time.Minute, delays: []time.Duration{-1}},
		{name: "no rule, subjects alike",
			reqs: []*Request{req(1, "", "File server down", true), req(2, "", "file server is down?", true),
				req(3, "", "Laptop will not start", true), req(4, "", "the file server down again", true)},
			count: 3, within: 10 * time.Minute, want: []float64{4}, true: 1, delays: []time.Duration{4 * time.Minute}},
		{name: "different rules are not alike",
			reqs:  []*Request{req(1, "vpn", "x y", true), req(2, "printer", "p q", true), req(3, "laptop", "l m", true)},
			count: 3, within: 10 * time.Minute, delays: []time.Duration{-1}},
		{name: "after the outage: a false alarm; a new burst after the told one leaves the window alerts again",
			reqs: []*Request{req(130, "vpn", "a", true), req(131, "vpn", "b", true), req(132, "vpn", "c", true),
				req(138, "vpn", "d", true), req(150, "vpn", "e", true), req(151, "vpn", "f", true), req(152, "vpn", "g", true)},
			count: 3, within: 10 * time.Minute, want: []float64{132, 152}, false: 2, delays: []time.Duration{-1}},
		{name: "warm-up arrivals fill the window but their alerts are not counted",
			reqs: []*Request{req(-30, "vpn", "a", false), req(-29, "vpn", "b", false), req(-28, "vpn", "c", false),
				req(-5, "vpn", "d", false), req(-4, "vpn", "e", false), req(1, "vpn", "f", true)},
			count: 3, within: 10 * time.Minute, want: []float64{1}, true: 1, delays: []time.Duration{time.Minute}},
		{name: "count 0 turns detection off",
			reqs:  []*Request{req(1, "vpn", "a", true), req(2, "vpn", "b", true)},
			count: 0, within: 10 * time.Minute, delays: []time.Duration{-1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := &Result{Requests: tc.reqs, outages: outage, days: 28}
			f := res.Bursts(tc.count, tc.within)
			var got []float64
			for _, a := range f.Alerts {
				got = append(got, a.At.Sub(t0).Minutes())
			}
			if len(got) != len(tc.want) {
				t.Fatalf("alerts at %v min, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("alerts at %v min, want %v", got, tc.want)
				}
			}
			if f.True != tc.true || f.False != tc.false {
				t.Errorf("true %d false %d, want %d and %d", f.True, f.False, tc.true, tc.false)
			}
			if len(f.Delays) != len(tc.delays) || f.Delays[0] != tc.delays[0] {
				t.Errorf("delays %v, want %v", f.Delays, tc.delays)
			}
		})
	}
}

// The sweep is repeatable and picks by the stated criterion.
func TestSweepBursts(t *testing.T) {
	s, err := LoadScenario("testdata/small.yaml")
	if err != nil {
		t.Fatal(err)
	}
	run := func() *BurstSweep {
		sw, err := SweepBursts(s, []uint64{1, 2, 3}, []int{2, 3, 20}, []time.Duration{10 * time.Minute, 30 * time.Minute}, 2*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return sw
	}
	a, b := run(), run()
	if a.Table() != b.Table() {
		t.Fatalf("two sweeps differ:\n%s\n%s", a.Table(), b.Table())
	}
	if len(a.Rows) != 6 {
		t.Fatalf("%d rows, want 6", len(a.Rows))
	}
	best, caught, ok := a.Best()
	if !ok || !caught {
		t.Fatalf("no setting caught the small scenario's outage:\n%s", a.Table())
	}
	for _, r := range a.Rows {
		if r.Caught == 3 && r.FalsePerMonth < best.FalsePerMonth {
			t.Errorf("best %+v, but %+v has fewer false alarms", best, r)
		}
	}
	if last := a.Rows[len(a.Rows)-1]; last.Count != 20 || last.Caught != 0 || last.MaxDelay != -1 {
		t.Errorf("count 20 should miss the outage: %+v", last)
	}
}
