package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// classify shows a forecast category's inputs and the date its receipt
// would give: the commitment with nothing ahead, the forecast with a long
// queue (--ahead, since classify reads no store).
func TestClassifyForecastPromise(t *testing.T) {
	data, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	const commented = "        # promise: forecast\n"
	if !strings.Contains(string(data), commented) {
		t.Fatalf("the example config no longer shows %q", commented)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), commented, "        promise: forecast\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "requests", "password.eml")
	for _, tc := range []struct {
		ahead    string
		later    bool
		forecast string
	}{
		{ahead: "0", forecast: "queue ahead: 0"},
		{ahead: "60", later: true, forecast: "queue ahead: 60"},
	} {
		t.Run("ahead "+tc.ahead, func(t *testing.T) {
			r := runAckd(t, "classify", "-c", cfg, "--json", "--at", "2026-12-01T10:00:00+01:00", "--ahead", tc.ahead, file)
			if r.code != 0 {
				t.Fatalf("exit %s", r)
			}
			var c struct {
				Category, Due, Promise string
				Forecast               []string
				Receipt                struct{ Text string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
				t.Fatalf("%v: %s", err, r.stdout)
			}
			if c.Category != "access" || c.Promise == "" || !strings.Contains(strings.Join(c.Forecast, "\n"), tc.forecast) {
				t.Fatalf("category %q promise %q forecast %q", c.Category, c.Promise, c.Forecast)
			}
			if later := c.Promise != c.Due; later != tc.later {
				t.Errorf("promise %s, due %s: later = %v, want %v", c.Promise, c.Due, later, tc.later)
			}
			if said := strings.Contains(c.Receipt.Text, "More requests than usual"); said != tc.later {
				t.Errorf("receipt says the date is later: %v, want %v:\n%s", said, tc.later, c.Receipt.Text)
			}
		})
	}
}
