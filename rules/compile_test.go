package rules_test

import (
	"errors"
	"testing"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/rules"
)

// compileConfig has a config problem (an unknown category) between two
// bad match clauses, and one good rule.
const compileConfig = `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_env: X}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules:
      - {name: a, category: default, match: {subject: "/x(/"}}
      - {name: b, category: defualt, match: {subject: x}}
      - {name: c, category: default, match: {subjet: x}}
      - {name: d, category: default, match: {subject: printer}}
`

// TestParseReportsMatchProblemsWithTheRest: match: clauses are rules'
// language, but a file's problems still come in one list sorted by place,
// as `ackd check` has always printed them.
func TestParseReportsMatchProblemsWithTheRest(t *testing.T) {
	want := []string{
		"config.yaml:10:55: subject: bad regular expression /x(/: error parsing regexp: missing closing ): `x(`",
		`config.yaml:11:29: category "defualt" does not exist (did you mean "default"?)`,
		`config.yaml:12:46: match: unknown key "subjet" (did you mean "subject"?)`,
	}
	cfg, set, err := rules.Parse("config.yaml", []byte(compileConfig))
	var ps config.Problems
	if !errors.As(err, &ps) || cfg != nil || set != nil {
		t.Fatalf("Parse = %v, %v, %v; want Problems", cfg, set, err)
	}
	if len(ps) != len(want) {
		t.Fatalf("problems:\n%v\nwant %d", ps, len(want))
	}
	for i, w := range want {
		if ps[i].Error() != w {
			t.Errorf("problem %d = %q, want %q", i, ps[i].Error(), w)
		}
	}
}

// TestCompile: a config loaded without its match clauses checked compiles
// into a Set that decides by them, and a bad clause is a problem at its
// place.
func TestCompile(t *testing.T) {
	good := `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_env: X}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}, print: {commitment: 4h}}
    rules:
      - {name: printer, category: print, match: {subject: printer}}
      - {name: broken, category: print, match: {subject: "/x(/"}}
`
	cfg, err := config.Parse("config.yaml", []byte(good))
	if err != nil {
		t.Fatalf("config.Parse: %v", err)
	}
	if _, err := rules.Compile(cfg); err == nil || err.Error() != "config.yaml:11:58: subject: bad regular expression /x(/: error parsing regexp: missing closing ): `x(`" {
		t.Fatalf("Compile = %v, want the bad regular expression at 11:58", err)
	}
	cfg.Departments[0].Rules = cfg.Departments[0].Rules[:1]
	set, err := rules.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := &rules.Message{MessageID: "1@example.test", From: rules.Address{Address: "ann@example.test"},
		To: []rules.Address{{Address: "it@example.test"}}, Subject: "The printer is jammed", Text: "Help"}
	d := set.Decide(cfg.Departments[0], m, corpusArrival)
	if !d.Reply || d.Rule != "printer" || d.Category != "print" {
		t.Errorf("Decide = %+v, want a receipt by rule printer", d)
	}
	if d := new(rules.Set).Decide(cfg.Departments[0], m, corpusArrival); d.Rule != "" || d.Category != rules.DefaultCategory {
		t.Errorf("an empty Set decided %+v, want the default category", d)
	}
}
