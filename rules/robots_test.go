package rules_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/rules"
)

// TestRobotsWithoutHeaders runs the messages in testdata/robots through
// Decide for a department that takes anyone's mail: robots that carry no
// header signal (bounces as plain multipart/mixed from role accounts, list
// managers' loop and moderation notices) must be refused with a stable
// code, and people whose mail merely mentions such words must still get
// their receipt.
func TestRobotsWithoutHeaders(t *testing.T) {
	tests := []struct {
		file    string
		refusal rules.Refusal // "" for a person who gets a receipt
		reason  string        // a part of Decision.Reason
	}{
		// Role accounts spelled with separators, case and VERP tags.
		{"verp-bounce-plus.eml", rules.RefuseSystemSender, "<bounce+d41d8cd98f@relay.example.net> in From (bounce address)"},
		{"verp-bounces-dash.eml", rules.RefuseSystemSender, "(bounce address)"},
		{"postmaster-dotted.eml", rules.RefuseSystemSender, "(postmaster)"},
		// Delivery-failure text together with a machine sign.
		{"de-mail-gateway.eml", rules.RefuseBounceText, `"Nachricht nicht zustellbar" from From <mailgw@firma.example.de> (mail system address)`},
		{"fr-exchange.eml", rules.RefuseBounceText, `"Non distribuable" from From <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@entreprise.example.fr> (Exchange system address)`},
		{"nl-exchange.eml", rules.RefuseBounceText, `"Onbestelbaar" from From`},
		{"sv-exchange.eml", rules.RefuseBounceText, `"Olevererbart" from From`},
		{"es-automated.eml", rules.RefuseBounceText, `"No se puede entregar" with the statement "mensaje generado automáticamente"`},
		{"it-attached.eml", rules.RefuseBounceText, `"Non recapitabile" with the original attached`},
		{"pt-raw-headers.eml", rules.RefuseBounceText, `"Não foi possível entregar" quoting the original's header block`},
		{"en-mail-admin.eml", rules.RefuseBounceText, `"Returned mail" from From <mail-admin@corp.example.com> (mail system address)`},
		// List managers' notices.
		{"list-loop-alert.eml", rules.RefuseListNotice, `"Loop alert" from From <staff-admin@lists.example.org>`},
		{"list-moderation-sympa.eml", rules.RefuseListNotice, `from From <sympa@lists.example.org> (list manager address)`},
		{"list-moderation-de.eml", rules.RefuseListNotice, `"Ihre Nachricht an Mitarbeiter wartet auf" from From <mailman@listen.example.de>`},
		// People: the words without a machine sign, or a bounce they forward.
		{"person-mentions-undeliverable.eml", "", ""},
		{"person-inline-forward.eml", "", ""},
		{"person-subject-unzustellbar.eml", "", ""},
		{"person-admin-loop.eml", "", ""},
		{"person-fr-non-remis.eml", "", ""},
		{"person-named-bounce.eml", "", ""},
	}
	dept := &config.Department{
		Name:           "IT Help Desk",
		Address:        "it-help@example.test",
		AllowedSenders: []string{"*"},
		Calendar:       &calendar.Calendar{},
		Categories: map[string]*config.Category{
			"default": {Name: "default", Commitment: calendar.Commitment{Days: 3}},
		},
	}
	for _, tc := range tests {
		t.Run(strings.TrimSuffix(tc.file, ".eml"), func(t *testing.T) {
			m := parseFile(t, filepath.Join("testdata", "robots", tc.file))
			d := decide(dept, m)
			if tc.refusal == "" {
				if !d.Reply {
					t.Errorf("person refused: %s (%s)", d.Refusal, d.Reason)
				}
				if _, reason, refused := rules.Heuristic(m); refused {
					t.Errorf("content heuristic refuses a person: %s", reason)
				}
				return
			}
			if d.Reply || d.Refusal != tc.refusal || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("got reply=%v %q (%s), want refusal %q naming %q", d.Reply, d.Refusal, d.Reason, tc.refusal, tc.reason)
			}
		})
	}
}
