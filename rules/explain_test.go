package rules

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ackd/ackd/config"
)

// TestExplainHits: Explain names the patterns of the matching rule that
// the message satisfied, and only those.
func TestExplainHits(t *testing.T) {
	tests := []struct {
		name, match string
		want        string // fmt of the hits; "" = rule does not match
	}{
		{"one word of a list", `{subject: [scanner, drucker]}`, `[subject: "drucker"]`},
		{"all of subject and body", `{subject: drucker, body: [leere seiten, toner]}`, `[subject: "drucker" body: "leere seiten"]`},
		{"regexp with its find", `{subject: "/\\d\\. OG/"}`, `[subject: /\d\. OG/ found "2. OG"]`},
		{"from domain with the address", `{from: "@example.test", subject: drucker}`, `[from: @example.test (juergen@example.test) subject: "drucker"]`},
		{"any keeps the branch that matched", `{any: [{subject: scanner}, {body: toner}, {subject: OG}]}`, `[subject: "og"]`},
		{"not", `{subject: drucker, not: {subject: scanner}}`, `[subject: "drucker" not: none of its patterns matched]`},
		{"header", `{header: {Precedence: normal}}`, `[header Precedence: "normal"]`},
		{"no match", `{subject: scanner}`, ``},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testDept(t, rule(t, "r", "print", tt.match))
			m := person()
			set, err := Compile(&config.Config{File: "rules.yaml", Departments: []*config.Department{d}})
			if err != nil {
				t.Fatal(err)
			}
			dec, hits := set.Explain(d, m, arrival)
			if want := decide(d, m, arrival); !reflect.DeepEqual(dec, want) {
				t.Errorf("Explain's decision %+v differs from Decide's %+v", dec, want)
			}
			got := ""
			if dec.Rule != "" {
				got = fmt.Sprint(hits)
			}
			if got != tt.want {
				t.Errorf("hits = %s, want %s", got, tt.want)
			}
		})
	}
}
