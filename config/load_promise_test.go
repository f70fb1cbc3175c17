package config

import (
	"strings"
	"testing"
)

func TestParsePromise(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		want        Promise
		problem     string
	}{
		{name: "absent is the commitment", want: PromiseCommitment},
		{name: "commitment", value: ", promise: commitment", want: PromiseCommitment},
		{name: "forecast", value: ", promise: forecast", want: PromiseForecast},
		{name: "unknown", value: ", promise: hope", problem: `config.yaml:10:42: promise: "hope" is not commitment or forecast`},
		{name: "not a string", value: ", promise: [forecast]", problem: `config.yaml:10:42: promise: expected a string`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(minimalConfigYAML, "default: {commitment: 3d}", "default: {commitment: 3d"+tc.value+"}", 1)
			cfg, ps := configProblems(t, "config.yaml", []byte(data))
			if tc.problem != "" {
				if !strings.Contains(ps.Error(), tc.problem) {
					t.Fatalf("want problem %q, got:\n%v", tc.problem, ps)
				}
				return
			}
			if len(ps) > 0 {
				t.Fatalf("unexpected problems:\n%v", ps)
			}
			if got := cfg.Departments[0].Categories["default"].Promise; got != tc.want {
				t.Errorf("Promise = %v, want %v", got, tc.want)
			}
		})
	}
}
