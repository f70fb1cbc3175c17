package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const (
	schemaFile  = "../config.schema.json"
	exampleFile = "../config.yaml"
)

// TestSchemaFile: the committed config.schema.json is what JSONSchema
// renders from the description in schema.go (go test ./config -update
// rewrites it), and the example config names it on its first line.
func TestSchemaFile(t *testing.T) {
	got := JSONSchema()
	if updateGolden() {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from JSONSchema(); run go test ./config -update", schemaFile)
	}
	ex, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(ex), "\n")
	if first != "# yaml-language-server: $schema=./config.schema.json" {
		t.Errorf("%s starts with %q, want the yaml-language-server line naming ./config.schema.json", exampleFile, first)
	}
}

// TestSchemaMatchesLoader fails when schema and loader drift: for every
// mapping the schema describes, a config with an unknown key there gets
// the loader's "valid keys" list, which must be exactly the keys the
// schema lists. A key added to the loader without a description here (or
// the other way round) is named with its section.
func TestSchemaMatchesLoader(t *testing.T) {
	base, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := configSchema()
	const probe = "zz_drift_probe"
	unknown := regexp.MustCompile(`unknown key "` + probe + `" \(valid keys: ([^)]*)\)`)
	var walk func(path []string, n *schemaNode)
	walk = func(path []string, n *schemaNode) {
		switch {
		case n.typ == "object" && n.values == nil:
			t.Run(strings.Join(append([]string{"root"}, path...), "."), func(t *testing.T) {
				var doc yaml.Node
				if err := yaml.Unmarshal(base, &doc); err != nil {
					t.Fatal(err)
				}
				m := mappingAt(t, doc.Content[0], path)
				m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: probe}, &yaml.Node{Kind: yaml.ScalarNode, Value: "1"})
				data, err := yaml.Marshal(&doc)
				if err != nil {
					t.Fatal(err)
				}
				_, err = Parse("config.yaml", data)
				var loader []string
				if mm := unknown.FindStringSubmatch(fmt.Sprint(err)); mm != nil {
					loader = strings.Split(mm[1], ", ")
				} else {
					t.Fatalf("no unknown-key problem for %s: %v", probe, err)
				}
				var schema []string
				for _, p := range n.props {
					schema = append(schema, p.name)
				}
				for _, k := range loader {
					if !slices.Contains(schema, k) {
						t.Errorf("the loader takes %q here, config.schema.json does not describe it: add it to configSchema in schema.go", k)
					}
				}
				for _, k := range schema {
					if !slices.Contains(loader, k) {
						t.Errorf("config.schema.json describes %q here, the loader refuses it", k)
					}
				}
			})
			for _, p := range n.props {
				walk(append(slices.Clone(path), p.name), p.n)
			}
		case n.typ == "array" && n.items != nil:
			walk(append(slices.Clone(path), "[0]"), n.items)
		case n.values != nil && n.values.ref == "#/$defs/category":
			_, defs := configSchema()
			walk(append(slices.Clone(path), "access"), defs["category"])
		}
	}
	walk(nil, root)
}

// mappingAt follows path (keys, "[0]" for a list's first item) from n,
// creating what is missing, and returns the mapping at its end.
func mappingAt(t *testing.T, n *yaml.Node, path []string) *yaml.Node {
	t.Helper()
	for i, k := range path {
		next := func() *yaml.Node {
			if i+1 < len(path) && path[i+1] == "[0]" {
				return &yaml.Node{Kind: yaml.SequenceNode}
			}
			return &yaml.Node{Kind: yaml.MappingNode}
		}
		if k == "[0]" {
			if n.Kind != yaml.SequenceNode {
				t.Fatalf("%v: %s is not a list", path, k)
			}
			if len(n.Content) == 0 {
				n.Content = append(n.Content, next())
			}
			n = n.Content[0]
			continue
		}
		if n.Kind != yaml.MappingNode {
			t.Fatalf("%v: %s is not in a mapping", path, k)
		}
		var v *yaml.Node
		for j := 0; j+1 < len(n.Content); j += 2 {
			if n.Content[j].Value == k {
				v = n.Content[j+1]
			}
		}
		if v == nil || (v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			v = next()
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: k}, v)
		}
		n = v
	}
	if n.Kind != yaml.MappingNode {
		t.Fatalf("%v is not a mapping", path)
	}
	n.Style = 0 // block style, whatever the example wrote
	return n
}

// CompileSchema compiles config.schema.json with a maintained JSON Schema
// validator (santhosh-tekuri/jsonschema), for the tests.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(JSONSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemaValidatesConfigs: the example config and every config under
// testdata that loads without a problem are valid against the schema.
func TestSchemaValidatesConfigs(t *testing.T) {
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, exampleFile)
	valid := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(f, data); err != nil {
			continue // a config that shows problems; TestSchemaFlagsWhatCheckFlags covers those
		}
		valid++
		t.Run(filepath.Base(f), func(t *testing.T) {
			v, err := SchemaValue(data)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Validate(v); err != nil {
				t.Errorf("%s loads, but the schema refuses it: %v", f, err)
			}
		})
	}
	if valid < 3 {
		t.Errorf("only %d valid configs found", valid)
	}
}

// TestSchemaFlagsWhatCheckFlags: a misspelt key, a wrong enum value and a
// bad duration are each refused by the schema and by the loader (what
// `ackd check` prints), at the same place.
func TestSchemaFlagsWhatCheckFlags(t *testing.T) {
	s := compileSchema(t)
	base, err := os.ReadFile(exampleFile)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to string
		check          string // in the loader's problem
		schema         string // in the schema's error
	}{
		{"misspelt key", "  timeout: 30s", "  timout: 30s", `unknown key "timout"`, "timout"},
		{"wrong enum", "  tls: starttls", "  tls: startls", `"startls" is not implicit, starttls or none`, "/smtp/tls"},
		{"wrong weekday", "workdays: [mon, tue, wed, thu, fri]", "workdays: [mon, tue, wed, thu, fr]", `"fr"`, "/workdays/4"},
		{"bad duration", "poll_interval: 60s", "poll_interval: 60 seconds", `"60 seconds" is not a duration`, "/poll_interval"},
		{"bad commitment", "commitment: 4h", "commitment: 4 hours", `"4 hours"`, "/commitment"},
		{"escalation target", "to: leads", "to: lead", `"lead" is not staff, leads or an email address`, "/to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !bytes.Contains(base, []byte(tt.from)) {
				t.Fatalf("the example config has no %q", tt.from)
			}
			data := bytes.Replace(base, []byte(tt.from), []byte(tt.to), 1)
			_, err := Parse("config.yaml", data)
			if err == nil || !strings.Contains(err.Error(), tt.check) {
				t.Errorf("the loader says %v, want a problem with %q", err, tt.check)
			}
			v, err := SchemaValue(data)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Validate(v)
			if err == nil {
				t.Fatalf("the schema accepts it")
			}
			if !strings.Contains(fmt.Sprintf("%#v", err), tt.schema) {
				t.Errorf("schema error does not point at %q: %#v", tt.schema, err)
			}
		})
	}
}
