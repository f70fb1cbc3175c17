package config

import (
	"strings"
	"testing"
)

func TestParseDiscoverSent(t *testing.T) {
	const imapLine = "imap: {host: 127.0.0.1, username: it, password_file: secrets/imap}"
	tests := []struct {
		name     string
		imap     string
		discover bool
		sent     string
		problem  string // reported at the discover_sent value
	}{
		{"default on without sent_mailbox", "{host: 127.0.0.1, username: it, password_file: secrets/imap}", true, "", ""},
		{"off", "{host: 127.0.0.1, username: it, password_file: secrets/imap, discover_sent: false}", false, "", ""},
		{"sent_mailbox wins", "{host: 127.0.0.1, username: it, password_file: secrets/imap, sent_mailbox: Sent}", false, "Sent", ""},
		{"explicit false beside sent_mailbox", "{host: 127.0.0.1, username: it, password_file: secrets/imap, sent_mailbox: Sent, discover_sent: false}", false, "Sent", ""},
		{"both set", "{host: 127.0.0.1, username: it, password_file: secrets/imap, sent_mailbox: Sent, discover_sent: true}", false, "Sent", "discover_sent: sent_mailbox already names"},
		{"not a bool", "{host: 127.0.0.1, username: it, password_file: secrets/imap, discover_sent: maybe}", false, "", "discover_sent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := strings.Replace(minimalConfigYAML, imapLine, "imap: "+tt.imap, 1)
			cfg, ps := configProblems(t, "config.yaml", []byte(data))
			if tt.problem == "" {
				if len(ps) > 0 {
					t.Fatalf("unexpected problems:\n%v", ps)
				}
				ic := cfg.Departments[0].IMAP
				if ic.DiscoverSent != tt.discover || ic.SentMailbox != tt.sent {
					t.Errorf("DiscoverSent, SentMailbox = %v, %q; want %v, %q", ic.DiscoverSent, ic.SentMailbox, tt.discover, tt.sent)
				}
				return
			}
			if len(ps) != 1 {
				t.Fatalf("got %d problems, want 1:\n%v", len(ps), ps)
			}
			// Line 6 is the department's imap line, indented by 4.
			col := len("    imap: ") + strings.Index(tt.imap, "discover_sent: ") + len("discover_sent: ") + 1
			p := ps[0]
			if p.Line != 6 || p.Col != col || !strings.Contains(p.Msg, tt.problem) {
				t.Errorf("problem %d:%d %q; want 6:%d containing %q", p.Line, p.Col, p.Msg, col, tt.problem)
			}
		})
	}
}
