package config

import (
	"strings"
	"testing"
	"time"
)

// TestParseAssign: assign is read into its mode; absent, nobody is
// assigned (issue 15 item 2).
func TestParseAssign(t *testing.T) {
	base := `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW}
    staff: [alice@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`
	for _, tc := range []struct {
		line string
		want AssignMode
	}{{"", AssignNone}, {"    assign: none\n", AssignNone}, {"    assign: round_robin\n", AssignRoundRobin}, {"    assign: least_open\n", AssignLeastOpen}} {
		cfg, err := Parse("config.yaml", []byte(strings.Replace(base, "    calendar:", tc.line+"    calendar:", 1)))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := cfg.Departments[0].Assign; got != tc.want {
			t.Errorf("%q: assign = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestParseIncident(t *testing.T) {
	base := `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`
	for _, tc := range []struct {
		line string
		want IncidentConfig
	}{{"", DefaultIncident}, {"    incident: {count: 0}\n", IncidentConfig{Within: DefaultIncident.Within}},
		{"    incident: {count: 15, within: 5m}\n", IncidentConfig{Count: 15, Within: 5 * time.Minute}}} {
		cfg, err := Parse("config.yaml", []byte(strings.Replace(base, "    calendar:", tc.line+"    calendar:", 1)))
		if err != nil {
			t.Fatalf("%q: %v", tc.line, err)
		}
		if got := cfg.Departments[0].Incident; got != tc.want {
			t.Errorf("%q: incident = %+v, want %+v", tc.line, got, tc.want)
		}
	}
}
