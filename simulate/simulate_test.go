package simulate_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/simulate"
)

func load(t testing.TB, path string) *simulate.Scenario {
	t.Helper()
	s, err := simulate.LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The same seed gives the same month, to the byte; another seed another.
func TestDeterministic(t *testing.T) {
	s := load(t, "testdata/small.yaml")
	a, err := simulate.Run(s, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := simulate.Run(s, 0)
	if a.Table() != b.Table() || !bytes.Equal(a.SVG(), b.SVG()) {
		t.Fatalf("two runs with seed %d differ:\n%s\n%s", a.Seed, a.Table(), b.Table())
	}
	if a.Seed != 7 {
		t.Errorf("seed %d, want the scenario's 7", a.Seed)
	}
	c, _ := simulate.Run(s, 8)
	if c.Table() == a.Table() {
		t.Errorf("seed 8 gave the same month as seed 7")
	}
}

// Both modes see the same arrivals and answers; the queue-aware promise is
// never earlier than the commitment, and the static one is it.
func TestModesShareTheMonth(t *testing.T) {
	res, err := simulate.Run(load(t, "testdata/small.yaml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Refused != 0 {
		t.Errorf("%d arrivals refused by the rules", res.Refused)
	}
	st, qa := res.Modes[simulate.Static], res.Modes[simulate.QueueAware]
	if st.Requests == 0 || st.Requests != qa.Requests || st.MedianActual != qa.MedianActual {
		t.Fatalf("modes differ in what happened: %+v vs %+v", st, qa)
	}
	cats := map[string]int{}
	for _, r := range res.Requests {
		cats[r.Category]++
		if !r.Outcomes[simulate.Static].Promise.Equal(r.Due) {
			t.Fatalf("static promise %v is not the commitment %v", r.Outcomes[simulate.Static].Promise, r.Due)
		}
		if r.Outcomes[simulate.QueueAware].Promise.Before(r.Due) {
			t.Fatalf("queue-aware promise %v before the commitment %v", r.Outcomes[simulate.QueueAware].Promise, r.Due)
		}
		if r.Answer.IsZero() || r.Answer.Before(r.Arrival) {
			t.Fatalf("request at %v answered at %v", r.Arrival, r.Answer)
		}
	}
	// The rules decided: the password subjects went to access, the rest
	// to default.
	if cats["access"] == 0 || cats["default"] == 0 || len(cats) != 2 {
		t.Errorf("categories %v, want access and default", cats)
	}
	// The outage day overloads one person: static promises break and the
	// lifecycle sends late notices; the forecast keeps more.
	if st.LateNotices == 0 || st.Kept == st.Requests {
		t.Errorf("static: %d late notices, %d of %d kept; want the outage to show", st.LateNotices, st.Kept, st.Requests)
	}
	if qa.Kept <= st.Kept || qa.LateNotices >= st.LateNotices {
		t.Errorf("queue-aware kept %d (static %d), late notices %d (static %d)", qa.Kept, st.Kept, qa.LateNotices, st.LateNotices)
	}
	if !strings.Contains(res.Table(), "promises kept") {
		t.Errorf("table:\n%s", res.Table())
	}
}

// The SVG is well-formed XML with a point per answered request and panel.
func TestSVG(t *testing.T) {
	res, _ := simulate.Run(load(t, "testdata/small.yaml"), 0)
	svg := res.SVG()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	circles := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatalf("SVG is not well-formed: %v", err)
			}
			break
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "circle" {
			circles++
		}
	}
	if want := 2 * res.Modes[0].Requests; circles != want {
		t.Errorf("%d points, want %d", circles, want)
	}
}

func TestParseScenarioProblems(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"unknown key", "config: x\ndayz: 3\n", "field dayz not found"},
		{"no days", "config: x\nrequesters: 1\ntickets_per_user_per_month: 1\n", "days: must be positive"},
		{"bad hours", "config: x\ndays: 1\nhours: [1, 2]\n", "hours: want 24 weights, got 2"},
		{"bad answer", "config: x\ndays: 1\ncategories: [{name: a, share: 1, subjects: [x], answer: {median: 1h, p90: 10m}}]\n", "answer: want 0 < median ≤ p90"},
		{"bad weekday", "config: x\ndays: 1\nweekdays: {funday: 1}\n", "weekdays:"},
		{"staff without hours", "config: x\ndays: 1\nstaff: [{name: a}]\n", "staff[0]:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := simulate.ParseScenario("s.yaml", []byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The shipped scenario: the figures docs/promises.md states.
func TestShippedScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the shipped month takes about a second")
	}
	res, err := simulate.Run(load(t, "../docs/scenarios/it-desk-500.yaml"), 0)
	if err != nil {
		t.Fatal(err)
	}
	st, qa := res.Modes[simulate.Static], res.Modes[simulate.QueueAware]
	if qa.KeptShare() < 0.95 || st.KeptShare() > qa.KeptShare()-0.03 {
		t.Errorf("kept: static %.3f, queue-aware %.3f; want queue-aware ≥ 0.95 and static visibly below", st.KeptShare(), qa.KeptShare())
	}
	if float64(qa.MedianPromised) > 1.2*float64(st.MedianPromised) {
		t.Errorf("median promised wait %s vs static %s: more than a fifth longer", qa.MedianPromised, st.MedianPromised)
	}
	if res.End.Sub(res.Start) != 28*24*time.Hour-time.Hour && res.End.Sub(res.Start) != 28*24*time.Hour {
		t.Errorf("period %s to %s", res.Start, res.End)
	}
}

// BenchmarkShippedMonth is the figure "a simulated month in under 10 s".
func BenchmarkShippedMonth(b *testing.B) {
	s := load(b, "../docs/scenarios/it-desk-500.yaml")
	for b.Loop() {
		if _, err := simulate.Run(s, 0); err != nil {
			b.Fatal(err)
		}
	}
}
