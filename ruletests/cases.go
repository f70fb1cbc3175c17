// Package ruletests runs the rule test cases an admin keeps next to the rules
// (the file config.yaml's rule_tests: names). A case is a saved message,
// or a few inline headers and a body, with the outcome expected: the
// department, the rule, the category, a reply or not, the refusal. `ackd
// check` runs every case and reports each one that fails like any other
// problem, as FILE:LINE:COL at the expectation that failed, so the file
// can live in git beside config.yaml and CI runs `ackd check`.
//
//	# rules.test.yaml
//	- name: a locked-out colleague gets the access promise
//	  headers:
//	    From: Jane Doe <jane@example.test>
//	    To: it-help@example.test
//	    Subject: Locked out after the password change
//	  body: I cannot log in since this morning.
//	  expect: {rule: password-reset, category: access, reply: true}
//	- name: the VPN mail a colleague forwarded
//	  message: testdata/vpn.eml       # relative to this file
//	  expect: {department: IT Help Desk, rule: vpn, category: network}
//
// expect: rule: "" means no rule matched (the default category); a key
// left out is not checked. A message is parsed and decided exactly as the
// daemon would (mailwatch/parse, rules.Set.Decide), by the department it
// is addressed to unless the case names one with department:.
package ruletests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/parse"
	"github.com/ackd/ackd/rules"
)

// arrival is the arrival time every case is decided at; nothing a case
// can expect depends on it.
var arrival = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

var (
	caseKeys   = []string{"name", "message", "headers", "body", "department", "expect"}
	expectKeys = []string{"department", "rule", "category", "reply", "refusal"}
)

// Run runs the cases in the file at path against cfg's rules, compiled in
// set, and returns how many cases it ran and every problem: a malformed
// file or case, a message that cannot be read or parsed, an expectation
// the decision does not meet. It reads the file and the messages it names;
// it sends and stores nothing.
func Run(cfg *config.Config, set *rules.Set, path string) (int, config.Problems) {
	r := runner{cfg: cfg, set: set, file: path, dir: filepath.Dir(path)}
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, config.Problems{{File: path, Msg: fmt.Sprintf("rule tests: %v", err)}}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return 0, config.Problems{{File: path, Msg: fmt.Sprintf("rule tests: %v", err)}}
	}
	if len(doc.Content) == 0 {
		return 0, config.Problems{{File: path, Msg: "rule tests: empty file; list at least one case"}}
	}
	list := doc.Content[0]
	if list.Kind != yaml.SequenceNode {
		r.at(list, "rule tests: expected a list of cases")
		return 0, r.ps
	}
	names := map[string]int{}
	for _, n := range list.Content {
		c, ok := r.parseCase(n)
		if c.nameNode != nil {
			if first, dup := names[c.name]; dup {
				r.at(c.nameNode, "case %q: the name is used twice (first at line %d)", c.name, first)
			} else {
				names[c.name] = c.nameNode.Line
			}
		}
		if ok {
			r.run(c)
		}
	}
	sort.SliceStable(r.ps, func(i, j int) bool {
		a, b := r.ps[i], r.ps[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	return len(list.Content), r.ps
}

type runner struct {
	cfg  *config.Config
	set  *rules.Set
	file string
	dir  string
	ps   config.Problems
}

func (r *runner) at(n *yaml.Node, format string, args ...any) {
	r.ps = append(r.ps, config.Problem{File: r.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

// testCase is one case, read.
type testCase struct {
	name     string
	nameNode *yaml.Node
	node     *yaml.Node
	raw      []byte
	dept     string
	deptNode *yaml.Node
	expect   map[string]*yaml.Node // expect key → its value
}

func (r *runner) parseCase(n *yaml.Node) (testCase, bool) {
	c := testCase{node: n, expect: map[string]*yaml.Node{}}
	if n.Kind != yaml.MappingNode {
		r.at(n, "case: expected a mapping with name, headers and body (or message), and expect")
		return c, false
	}
	fields := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(caseKeys, k.Value) {
			r.at(k, "case: unknown key %q (valid keys: %s)", k.Value, strings.Join(caseKeys, ", "))
			continue
		}
		fields[k.Value] = v
	}
	name := fields["name"]
	if name == nil || name.Kind != yaml.ScalarNode || strings.TrimSpace(name.Value) == "" {
		r.at(n, "case: missing name")
		return c, false
	}
	c.name, c.nameNode = name.Value, name
	ok := true
	fail := func(at *yaml.Node, format string, args ...any) {
		r.at(at, "case %q: "+format, append([]any{c.name}, args...)...)
		ok = false
	}
	msg, hdrs := fields["message"], fields["headers"]
	switch {
	case msg != nil && hdrs != nil:
		fail(hdrs, "give message or headers, not both")
	case msg != nil:
		if fields["body"] != nil {
			fail(fields["body"], "body goes with headers; a message file has its own")
		}
		path := msg.Value
		if !filepath.IsAbs(path) {
			path = filepath.Join(r.dir, path)
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			fail(msg, "%v", err)
		}
		c.raw = raw
	case hdrs != nil:
		raw, err := compose(hdrs, fields["body"], c.name)
		if err != nil {
			fail(hdrs, "%v", err)
		}
		c.raw = raw
	default:
		fail(n, "give message (a saved .eml) or headers and body")
	}
	if d := fields["department"]; d != nil {
		c.dept, c.deptNode = d.Value, d
		if findDept(r.cfg, d.Value) == nil {
			fail(d, "department %q is not in the config", d.Value)
		}
	}
	exp := fields["expect"]
	if exp == nil || exp.Kind != yaml.MappingNode || len(exp.Content) == 0 {
		at := exp
		if at == nil {
			at = n
		}
		fail(at, "expect: give at least one of %s", strings.Join(expectKeys, ", "))
		return c, false
	}
	for i := 0; i+1 < len(exp.Content); i += 2 {
		k, v := exp.Content[i], exp.Content[i+1]
		if !slices.Contains(expectKeys, k.Value) {
			fail(k, "expect: unknown key %q (valid keys: %s)", k.Value, strings.Join(expectKeys, ", "))
			continue
		}
		if k.Value == "reply" && v.ShortTag() != "!!bool" {
			fail(v, "expect: reply: expected true or false")
			continue
		}
		c.expect[k.Value] = v
	}
	return c, ok
}

// compose builds a message from inline headers (in the order written) and
// a body. A Message-ID and a plain-text Content-Type are added when the
// case has none.
func compose(hdrs, body *yaml.Node, name string) ([]byte, error) {
	if hdrs.Kind != yaml.MappingNode {
		return nil, errors.New("headers: expected a mapping of header names to values")
	}
	var b strings.Builder
	has := map[string]bool{}
	for i := 0; i+1 < len(hdrs.Content); i += 2 {
		k, v := hdrs.Content[i], hdrs.Content[i+1]
		values := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			values = v.Content // a header given several times
		}
		for _, x := range values {
			if x.Kind != yaml.ScalarNode || strings.ContainsAny(x.Value, "\r\n") {
				return nil, fmt.Errorf("headers: %s: expected one line of text", k.Value)
			}
			fmt.Fprintf(&b, "%s: %s\r\n", k.Value, x.Value)
		}
		has[strings.ToLower(k.Value)] = true
	}
	if !has["message-id"] {
		fmt.Fprintf(&b, "Message-ID: <%x@rule-tests.invalid>\r\n", name)
	}
	if !has["content-type"] {
		b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n")
	}
	b.WriteString("\r\n")
	if body != nil {
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body.Value, "\r\n", "\n"), "\n", "\r\n"))
	}
	return []byte(b.String()), nil
}

func findDept(cfg *config.Config, name string) *config.Department {
	for _, d := range cfg.Departments {
		if strings.EqualFold(d.Name, name) || strings.EqualFold(d.Address, name) {
			return d
		}
	}
	return nil
}

// run decides c's message and checks every expectation.
func (r *runner) run(c testCase) {
	m, err := parse.Parse(c.raw, parse.Options{MaxBytes: r.cfg.Limits.MaxMessageBytes, MaxTextBytes: r.cfg.Limits.MaxTextBytes})
	if err != nil {
		r.at(c.node, "case %q: the message does not parse: %v", c.name, err)
		return
	}
	d := rules.AddressedDepartment(r.cfg, m)
	if c.dept != "" {
		d = findDept(r.cfg, c.dept)
	}
	dec := r.set.Decide(d, m, arrival)
	why := ""
	if !dec.Reply {
		why = " (" + dec.Reason + ")"
	}
	check := func(key, got string) {
		v := c.expect[key]
		if v == nil {
			return
		}
		if !strings.EqualFold(got, v.Value) {
			r.at(v, "case %q: %s is %q%s, want %q", c.name, key, got, why, v.Value)
		}
	}
	if v := c.expect["department"]; v != nil && !strings.EqualFold(v.Value, d.Name) && !strings.EqualFold(v.Value, d.Address) {
		r.at(v, "case %q: department is %q, want %q", c.name, d.Name, v.Value)
	}
	if v := c.expect["reply"]; v != nil {
		want := v.Value == "true"
		if dec.Reply != want {
			r.at(v, "case %q: reply is %t%s, want %t", c.name, dec.Reply, why, want)
		}
	}
	check("rule", dec.Rule)
	check("category", dec.Category)
	check("refusal", string(dec.Refusal))
}
