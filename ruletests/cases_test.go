package ruletests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackd/ackd/rules"
)

const testConfig = `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {access: {commitment: 4h}, network: {commitment: 4h}, default: {commitment: 3d}}
    rules:
      - {name: password-reset, match: {subject: [password, locked out]}, category: access}
      - {name: vpn, match: {subject: vpn}, category: network}
  - name: Payroll
    address: payroll@example.test
    imap: {host: 127.0.0.1, username: pay, password_env: IMAP_PW}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 3d}}
    rules: [{name: salary, match: {subject: salary}, category: default}]
`

// TestRun: each case file gives exactly these problems, each at the line
// and column of what failed.
func TestRun(t *testing.T) {
	tests := []struct {
		name  string
		cases string
		n     int
		want  []string // problems, without the file name
	}{
		{"all pass", `
- name: inline
  headers: {From: Jane <jane@example.test>, To: it-help@example.test, Subject: Locked out}
  body: help
  expect: {department: IT Help Desk, rule: password-reset, category: access, reply: true}
- name: a saved message
  message: vpn.eml
  expect: {rule: vpn, category: network}
- name: addressed to payroll
  headers: {From: jane@example.test, To: payroll@example.test, Subject: my salary}
  expect: {department: payroll@example.test, rule: salary}
- name: decided as another department
  department: Payroll
  headers: {From: jane@example.test, To: payroll@example.test, Subject: vpn}
  expect: {rule: ""}
- name: a robot
  headers: {From: jane@example.test, To: it-help@example.test, Subject: x, Auto-Submitted: [auto-replied]}
  expect: {reply: false, refusal: auto-submitted}
`, 5, nil},
		{"expectations that fail", `
- name: wrong rule
  headers: {From: jane@example.test, To: it-help@example.test, Subject: VPN down}
  expect: {rule: password-reset, category: access, reply: true}
- name: no receipt
  headers: {From: x@elsewhere.example, To: it-help@example.test, Subject: password}
  expect:
    reply: true
    department: Payroll
`, 2, []string{
			`4:18: case "wrong rule": rule is "vpn", want "password-reset"`,
			`4:44: case "wrong rule": category is "network", want "access"`,
			`8:12: case "no receipt": reply is false (sender outside allowed_senders), want true`,
			`9:17: case "no receipt": department is "IT Help Desk", want "Payroll"`,
		}},
		{"malformed cases", `
- name: twice
  headers: {From: jane@example.test, To: it-help@example.test, Subject: a}
  expect: {rule: ""}
- name: twice
  message: testdata/missing.eml
  headers: {Subject: b}
  expect: {rule: x}
- name: no expectation
  headers: {Subject: c}
- name: typo
  headers: {Subject: d}
  body: e
  expct: {rule: x}
  expect: {rul: x, reply: yes}
- just a string
`, 5, []string{
			`5:9: case "twice": the name is used twice (first at line 2)`,
			`7:12: case "twice": give message or headers, not both`,
			`9:3: case "no expectation": expect: give at least one of department, rule, category, reply, refusal`,
			`14:3: case: unknown key "expct" (valid keys: name, message, headers, body, department, expect)`,
			`15:12: case "typo": expect: unknown key "rul" (valid keys: department, rule, category, reply, refusal)`,
			`15:27: case "typo": expect: reply: expected true or false`,
			`16:3: case: expected a mapping with name, headers and body (or message), and expect`,
		}},
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(cfgPath, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, set, err := rules.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join("testdata", strings.ReplaceAll(tt.name, " ", "_")+".test.yaml")
			if err := os.WriteFile(path, []byte(tt.cases), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Remove(path) })
			n, ps := Run(cfg, set, path)
			var got []string
			for _, p := range ps {
				got = append(got, strings.TrimPrefix(p.Error(), path+":"))
			}
			if n != tt.n || strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("ran %d cases with problems\n%s\nwant %d with\n%s", n, strings.Join(got, "\n"), tt.n, strings.Join(tt.want, "\n"))
			}
		})
	}
}

// TestRunExample: the cases the example config ships pass.
func TestRunExample(t *testing.T) {
	cfg, set, err := rules.Load("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RuleTests == "" {
		t.Fatal("the example config names no rule_tests")
	}
	n, ps := Run(cfg, set, cfg.RuleTests)
	if len(ps) > 0 || n < 5 {
		t.Errorf("example rule tests: %d cases, problems %v", n, ps)
	}
}
