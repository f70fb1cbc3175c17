package rules

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/ackd/ackd/config"
)

// TestSchemaMatchKeys: config.schema.json describes exactly the keys a
// match: clause takes (the matcher's, which package config cannot see).
func TestSchemaMatchKeys(t *testing.T) {
	var doc struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(config.JSONSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	var got []string
	for k := range doc.Defs["match"].Properties {
		got = append(got, k)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(matchKeys))
	if !slices.Equal(got, want) {
		t.Errorf("the schema's match keys are %v, the matcher's %v: update configSchema in config/schema.go", got, want)
	}
}
