package rules

import (
	"reflect"
	"strings"
	"testing"
)

const askForYAML = `smtp: {host: 127.0.0.1}
departments:
  - name: IT Help Desk
    address: it-help@example.test
    imap: {host: 127.0.0.1, username: it, password_file: secrets/imap}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin}
    categories:
      access:
        commitment: 4h
        ask_for:
          - ask: {en: "the name of the shared drive", de: "den Namen des Laufwerks"}
            present: {body: ["/\\\\\\\\[a-z0-9.-]+\\\\[a-z0-9$_-]+/", "drive [A-Z]:"]}
          - "your manager's approval"
        links:
          - {title: {en: "Access request form", de: "Antragsformular"}, url: "https://intranet.example.test/forms/access"}
      default: {commitment: 3d}
    rules:
      - name: shared-drive
        match: {subject: [access, "shared drive"]}
        category: access
        ask_for: [{ask: "the ticket number of the approval", present: {any: [{subject: ["/APR-[0-9]+/"]}, {body: ["/APR-[0-9]+/"]}]}}]
        links: [{title: "How to map a drive", url: "https://intranet.example.test/howto/drive"}]
`

// TestAskFor: the receipt asks for what the category and rule name, in
// the request's language, and leaves out what the request already holds.
func TestAskFor(t *testing.T) {
	cfg, set, err := Parse("config.yaml", []byte(askForYAML))
	if err != nil {
		t.Fatalf("problems: %v", err)
	}
	d := cfg.Departments[0]
	for _, tc := range []struct {
		name, subject, text string
		ask, present        []string
		links               []DecisionLink
	}{
		{"nothing given", "Need access to the shared drive", "Please give me access, thanks.",
			[]string{"the name of the shared drive", "your manager's approval", "the ticket number of the approval"}, nil,
			[]DecisionLink{{"Access request form", "https://intranet.example.test/forms/access"}, {"How to map a drive", "https://intranet.example.test/howto/drive"}}},
		{"drive named", "Need access to the shared drive", `Please add me to \\fs01\finance, my manager approved it in APR-1234.`,
			[]string{"your manager's approval"}, []string{"the name of the shared drive", "the ticket number of the approval"},
			[]DecisionLink{{"Access request form", "https://intranet.example.test/forms/access"}, {"How to map a drive", "https://intranet.example.test/howto/drive"}}},
		{"in German", "Zugriff auf das Laufwerk der Buchhaltung (shared drive)", "Bitte gebt mir Zugriff auf das Laufwerk, mein Chef ist einverstanden.",
			[]string{"den Namen des Laufwerks", "your manager's approval", "the ticket number of the approval"}, nil,
			[]DecisionLink{{"Antragsformular", "https://intranet.example.test/forms/access"}, {"How to map a drive", "https://intranet.example.test/howto/drive"}}},
		{"other category: nothing", "Printer", "The printer jams.", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := person()
			m.From.Address = "jane@example.test"
			m.To = []Address{{Address: "it-help@example.test"}}
			m.Subject, m.Text = tc.subject, tc.text
			dec := set.Decide(d, m, arrival)
			if !dec.Reply {
				t.Fatalf("no reply: %s", dec.Reason)
			}
			if !reflect.DeepEqual(dec.AskFor, tc.ask) || !reflect.DeepEqual(dec.Present, tc.present) || !reflect.DeepEqual(dec.Links, tc.links) {
				t.Errorf("language %s: ask %q, present %q, links %v\nwant ask %q, present %q, links %v",
					dec.Language, dec.AskFor, dec.Present, dec.Links, tc.ask, tc.present, tc.links)
			}
		})
	}
}

func TestAskForProblems(t *testing.T) {
	bad := strings.NewReplacer(
		`url: "https://intranet.example.test/forms/access"`, `url: "javascript:alert(1)"`,
		`- "your manager's approval"`, `- {ask: "", present: {body: [x]}}`,
		`{subject: ["/APR-[0-9]+/"]}`, `{txet: ["/APR-[0-9]+/"]}`,
	).Replace(askForYAML)
	_, ps := configProblems(t, "config.yaml", []byte(bad))
	var all []string
	for _, p := range ps {
		all = append(all, p.Error())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		`config.yaml:14:19: ask: empty`,
		`url: "javascript:alert(1)" is not an http or https address`,
		`txet`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems do not say %q:\n%s", want, got)
		}
	}
}
