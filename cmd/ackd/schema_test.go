package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/ackd/ackd/config"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	data, err := os.ReadFile("../../config.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(config.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(config.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaAndCheckAgree: the committed config.schema.json (what an
// editor shows while typing) and `ackd check` (what CI and the daemon
// refuse) flag the same mistakes in the example config: a misspelt key, a
// wrong enum value, a bad duration; and both accept the example itself.
func TestSchemaAndCheckAgree(t *testing.T) {
	s := compileSchema(t)
	example, err := os.ReadFile("../../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, check string
	}{
		{"the example as it is", "", "", ""},
		{"misspelt key", "  timeout: 30s", "  timout: 30s", `smtp: unknown key "timout" (did you mean "timeout"?)`},
		{"wrong enum", "  driver: sqlite", "  driver: sqlight", `driver: "sqlight" is not sqlite or postgres`},
		{"bad duration", "poll_interval: 60s", "poll_interval: 1 minute", `poll_interval: "1 minute" is not a duration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Replace(example, []byte(tt.from), []byte(tt.to), 1)
			if tt.from != "" && bytes.Equal(data, example) {
				t.Fatalf("the example has no %q", tt.from)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, "config.yaml")
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			copyFile(t, "../../rules.test.yaml", filepath.Join(dir, "rules.test.yaml"))
			r := runAckd(t, "check", "-c", path)
			v, err := config.SchemaValue(data)
			if err != nil {
				t.Fatal(err)
			}
			verr := s.Validate(v)
			if tt.check == "" {
				if r.code != 0 || verr != nil {
					t.Errorf("check: %s\nschema: %v", r, verr)
				}
				return
			}
			if r.code != 1 || !strings.Contains(r.stderr, path+":") || !strings.Contains(r.stderr, tt.check) {
				t.Errorf("ackd check: want exit 1 and %q; got %s", tt.check, r)
			}
			if verr == nil {
				t.Errorf("the schema accepts it")
			}
		})
	}
}

// TestSchemaValidatesGuideConfigs: the whole configs docs/deployment.md
// gives for each provider are valid against the schema too.
func TestSchemaValidatesGuideConfigs(t *testing.T) {
	s := compileSchema(t)
	blocks := docBlocks(t, "check")
	if len(blocks) == 0 {
		t.Fatal("no config blocks in docs/deployment.md")
	}
	for name, text := range blocks {
		v, err := config.SchemaValue([]byte(text))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := s.Validate(v); err != nil {
			t.Errorf("%s: the schema refuses the guide's config: %v", name, err)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCheckRunsRuleTests: `ackd check` runs the example's rule tests and
// says so; a rule change that moves a case's mail fails check (exit 1)
// with the case's file, line and column.
func TestCheckRunsRuleTests(t *testing.T) {
	dir := t.TempDir()
	path, _ := breakConfig(t, dir, nil, nil)
	r := runAckd(t, "check", "-c", path)
	if r.code != 0 || !strings.Contains(r.stdout, "rules.test.yaml: 7 rule test case(s) passed") {
		t.Fatalf("check of the example: %s", r)
	}
	// Someone files password resets under onboarding.
	path, _ = breakConfig(t, dir, []edit{{`"reset my", mfa, 2fa]
        category: access`, `"reset my", mfa, 2fa]
        category: onboarding`}}, nil)
	r = runAckd(t, "check", "-c", path)
	want := filepath.Join(dir, "rules.test.yaml") + `:20:70: case "a locked-out colleague gets the access promise": category is "onboarding", want "access"`
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("check after the rule change: want exit 1 and\n%s\ngot %s", want, r)
	}
}
