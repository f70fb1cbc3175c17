package templates

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestDefaultRendersEveryTemplate(t *testing.T) {
	s := Default()
	if s.err != nil {
		t.Fatalf("Default: %v", s.err)
	}
	for _, n := range Names() {
		for i, d := range samples(n) {
			r, err := s.Render(n, d)
			if err != nil {
				t.Fatalf("render %s sample %d: %v", n, i, err)
			}
			if r.Subject == "" || r.Text == "" || r.HTML == "" {
				t.Fatalf("render %s sample %d: empty part in %+v", n, i, r)
			}
			for _, l := range strings.Split(r.Text, "\n") {
				if utf8.RuneCountInString(l) > textWidth && strings.Contains(strings.TrimSpace(l), " ") {
					t.Errorf("%s: text line over %d columns: %q", n, textWidth, l)
				}
			}
			// Mail clients block remote content; the defaults need none.
			// Links the config names (ask_for's links) are anchors only.
			html := regexp.MustCompile(`<a href="https://[^"]*">`).ReplaceAllString(r.HTML, "<a>")
			for _, bad := range []string{"http:", "https:", "src=", "<link", "<script", "<style", "url("} {
				if strings.Contains(strings.ToLower(html), bad) {
					t.Errorf("%s: HTML contains %q", n, bad)
				}
			}
		}
	}
}

func TestTypedMethods(t *testing.T) {
	s := Default()
	calls := map[string]func() (Rendered, error){
		NameReceipt:     func() (Rendered, error) { return s.Receipt(samples(NameReceipt)[0].(Receipt)) },
		NameEscalation:  func() (Rendered, error) { return s.Escalation(samples(NameEscalation)[0].(Escalation)) },
		NameLateNotice:  func() (Rendered, error) { return s.LateNotice(samples(NameLateNotice)[0].(LateNotice)) },
		NameDueUpdate:   func() (Rendered, error) { return s.DueUpdate(samples(NameDueUpdate)[0].(DueUpdate)) },
		NameHandover:    func() (Rendered, error) { return s.Handover(samples(NameHandover)[0].(Handover)) },
		NameClosing:     func() (Rendered, error) { return s.Closing(samples(NameClosing)[0].(Closing)) },
		NameCommandHelp: func() (Rendered, error) { return s.CommandHelp(samples(NameCommandHelp)[0].(CommandHelp)) },
		NameUnproven:    func() (Rendered, error) { return s.Unproven(samples(NameUnproven)[0].(Unproven)) },
		NameOwnerNotice: func() (Rendered, error) { return s.OwnerNotice(samples(NameOwnerNotice)[0].(OwnerNotice)) },
		NameIncidentAlert: func() (Rendered, error) {
			return s.IncidentAlert(samples(NameIncidentAlert)[0].(IncidentAlert))
		},
		NameDigest: func() (Rendered, error) { return s.Digest(samples(NameDigest)[0].(Digest)) },
		NameRatingThanks: func() (Rendered, error) {
			return s.RatingThanks(samples(NameRatingThanks)[0].(RatingThanks))
		},
	}
	for _, n := range Names() {
		t.Run(n, func(t *testing.T) {
			call, ok := calls[n]
			if !ok {
				t.Fatalf("no typed method tested for %s", n)
			}
			got, err := call()
			if err != nil {
				t.Fatal(err)
			}
			want, err := s.Render(n, samples(n)[0])
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("typed method and Render differ")
			}
		})
	}
}

func TestRenderRejectsWrongData(t *testing.T) {
	s := Default()
	for _, c := range []struct {
		name string
		data any
	}{
		{NameReceipt, Escalation{}},
		{NameReceipt, nil},
		{NameReceipt, (*Receipt)(nil)},
		{"nosuch", Receipt{}},
	} {
		if _, err := s.Render(c.name, c.data); err == nil {
			t.Errorf("Render(%q, %T) succeeded", c.name, c.data)
		}
	}
	if _, err := s.Render(NameReceipt, &Receipt{Ref: "REQ-1"}); err != nil {
		t.Errorf("Render with a pointer: %v", err)
	}
}

func TestNamesAndFiles(t *testing.T) {
	if len(Files()) != 3*len(Names()) {
		t.Fatalf("Files() = %v for Names() = %v", Files(), Names())
	}
	embedded, err := defaultFS.ReadDir("default")
	if err != nil {
		t.Fatal(err)
	}
	var got, langs []string
	for _, e := range embedded {
		if e.IsDir() {
			langs = append(langs, e.Name())
			continue
		}
		got = append(got, e.Name())
	}
	if !reflect.DeepEqual(got, Files()) {
		t.Errorf("embedded files %v, want exactly %v", got, Files())
	}
	if want := []string{"de", "es", "fr", "nl"}; !reflect.DeepEqual(langs, want) {
		t.Errorf("embedded languages %v, want %v", langs, want)
	}
	for _, l := range langs {
		files, err := defaultFS.ReadDir("default/" + l)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, f := range files {
			names = append(names, f.Name())
		}
		if !reflect.DeepEqual(names, localisedFiles()) {
			t.Errorf("default/%s holds %v, want exactly %v", l, names, localisedFiles())
		}
	}
}

// hostile is text an attacker controls in From and Subject.
const hostile = "Invoice\r\nBcc: victim@example.test\n\u2028X-Evil: 1\u2029\u0085\x00\x0b\x7f end"

func TestHeaderInjection(t *testing.T) {
	ber := mustZone(t, "Europe/Berlin")
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, ber)
	p := Person{Name: hostile, Address: "x@example.test\r\nBcc: y@example.test"}
	data := map[string]any{
		NameReceipt: Receipt{Department: hostile, Requester: p, Subject: hostile, Ref: "REQ-9", Category: hostile,
			Commitment: hostile, Received: now, Due: now, Location: ber, Excerpt: hostile},
		NameEscalation: Escalation{Department: hostile, Ref: "REQ-9\r\nBcc: z@example.test", Subject: hostile, Requester: p,
			Category: hostile, Received: now, Due: now, Now: now, Location: ber, Age: hostile, TimeLeft: hostile,
			Reason: hostile, Quote: hostile},
		NameLateNotice:   LateNotice{Department: hostile, Requester: p, Ref: "REQ-9", Subject: hostile, Due: now, Location: ber},
		NameDueUpdate:    DueUpdate{Department: hostile, Requester: p, Ref: "REQ-9", Subject: hostile, NewDue: now, Note: hostile},
		NameHandover:     Handover{Department: hostile, From: hostile, Requester: p, Ref: "REQ-9", OldRef: "REQ-2", Subject: hostile, Due: now},
		NameClosing:      Closing{Department: hostile, Requester: p, Ref: "REQ-9", Subject: hostile, Resolved: now, AskRating: true},
		NameRatingThanks: RatingThanks{Department: hostile, Requester: p, Ref: "REQ-9", Subject: hostile, Rating: 1, Low: true},
		NameCommandHelp:  CommandHelp{Department: hostile, Staff: p, Ref: "REQ-9", Unknown: []string{hostile}, Valid: []string{hostile}},
		NameUnproven: Unproven{Department: hostile, DepartmentAddress: hostile, Staff: p, Ref: "REQ-9", Subject: hostile,
			Received: now, Location: ber, Reason: hostile},
		NameIncidentAlert: IncidentAlert{Department: hostile, Window: hostile, Now: now, Location: ber,
			Requests: []IncidentRequest{{Ref: "REQ-9", Subject: hostile, Requester: hostile, Received: now}}},
		NameOwnerNotice: OwnerNotice{Department: hostile, Owner: p, Staff: p, Ref: "REQ-9", Subject: hostile, At: now, Location: ber, Said: hostile},
		NameDigest: Digest{Department: hostile, Now: now, Location: ber, Sections: []DigestSection{{Title: hostile, Short: hostile,
			Items: []DigestItem{{Ref: "REQ-9", Subject: hostile, Requester: hostile, Category: hostile, Due: now, Age: hostile}}}},
			Categories: []DigestRecord{{Category: hostile, Commitment: hostile, KeptPercent: 50, Advice: hostile}}},
	}
	// An override that puts raw line breaks and the data into the subject
	// must be tamed as well.
	dir := t.TempDir()
	writeFile(t, dir, "receipt.subject.tmpl", "Re:\r\n{{.Subject}}\n\nBcc: {{.Requester.Name}}\u2028[{{.Ref}}]")
	override, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for setName, s := range map[string]*Set{"default": Default(), "override": override} {
		for _, n := range Names() {
			t.Run(setName+"/"+n, func(t *testing.T) {
				d, ok := data[n]
				if !ok {
					t.Fatalf("no hostile data for %s", n)
				}
				r, err := s.Render(n, d)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range r.Subject {
					if unicode.IsControl(c) || c == '\u2028' || c == '\u2029' {
						t.Fatalf("subject holds %U: %q", c, r.Subject)
					}
				}
				if strings.Contains(r.Subject, "  ") || r.Subject != strings.TrimSpace(r.Subject) {
					t.Errorf("subject white space not collapsed: %q", r.Subject)
				}
				// Line breaks in bodies are harmless (the sender encodes
				// them), but control characters have no place in mail.
				for _, part := range []string{r.Text, r.HTML} {
					if strings.ContainsAny(part, "\x00\r\x0b\x7f\u0085") {
						t.Errorf("body holds a control character: %q", part)
					}
				}
			})
		}
	}
}

func TestSubjectCapped(t *testing.T) {
	long := strings.Repeat("very long subject ", 100)
	r, err := Default().Receipt(Receipt{Ref: "REQ-5", Subject: long})
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(r.Subject); n > maxSubjectRunes {
		t.Errorf("subject has %d runes", n)
	}
	if !strings.HasSuffix(r.Subject, " [REQ-5]") {
		t.Errorf("subject lost its tag: %q", r.Subject)
	}

	dir := t.TempDir()
	writeFile(t, dir, "closing.subject.tmpl", strings.Repeat("{{.Subject}} ", 30)+"[{{.Ref}}]")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err = s.Closing(Closing{Ref: "REQ-5", Subject: long})
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(r.Subject); n > maxSubjectRunes || !strings.HasSuffix(r.Subject, "[REQ-5]") {
		t.Errorf("override subject not capped with tag kept (%d runes): …%q", n, r.Subject[len(r.Subject)-20:])
	}
}

func TestHTMLEscapesInput(t *testing.T) {
	r, err := Default().Receipt(Receipt{
		Department: "IT <Help>", Requester: Person{Name: `<img src=x onerror=alert(1)> Jane`, Address: "j@example.test"},
		Subject: `<script>alert("s")</script>`, Ref: "REQ-1", Excerpt: "</blockquote><script>x()</script>",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script", "<img", "</blockquote><script", "IT <Help>"} {
		if strings.Contains(r.HTML, bad) {
			t.Errorf("HTML holds unescaped %q", bad)
		}
	}
	if !strings.Contains(r.HTML, "&lt;script&gt;alert(&#34;s&#34;)&lt;/script&gt;") {
		t.Errorf("subject not escaped as expected in:\n%s", r.HTML)
	}
}

func writeFile(t *testing.T, dir, name, body string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOverrideOneFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "receipt.txt.tmpl", "Hi {{displayname .Requester}},\n\nGot it: [{{.Ref}}].\n")
	writeFile(t, dir, ".receipt.txt.tmpl.swp", "editor junk")
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := Receipt{Requester: Person{Name: "Doe, Jane"}, Subject: "Printer", Ref: "REQ-4"}
	r, err := s.Receipt(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Text != "Hi Jane Doe,\n\nGot it: [REQ-4].\n" {
		t.Errorf("override text not used: %q", r.Text)
	}
	def, err := Default().Receipt(d)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != def.Subject || r.HTML != def.HTML {
		t.Errorf("files not overridden changed")
	}
	if got, want := s.Overrides(), []string{filepath.Join(dir, "receipt.txt.tmpl")}; !reflect.DeepEqual(got, want) {
		t.Errorf("Overrides() = %v, want %v", got, want)
	}
	if len(Default().Overrides()) != 0 {
		t.Errorf("Default has overrides")
	}
}

func TestOverrideErrors(t *testing.T) {
	tests := []struct {
		name     string
		files    map[string]string
		wantFile string
		wantLine int
		wantMsg  string
	}{
		{"parse error", map[string]string{"receipt.txt.tmpl": "Hello\n\n{{end}}\n"},
			"receipt.txt.tmpl", 3, "unexpected {{end}}"},
		{"unknown function", map[string]string{"escalation.html.tmpl": "<p>\n{{shout .Ref}}</p>"},
			"escalation.html.tmpl", 2, `function "shout" not defined`},
		{"unknown field at render", map[string]string{"closing.subject.tmpl": "[{{.Ref}}]\n{{.Ticket}}"},
			"closing.subject.tmpl", 2, "can't evaluate field Ticket"},
		{"breaks on empty data", map[string]string{"late-notice.txt.tmpl": "{{.Requester.Name}}\n{{index .Ref 40}}"},
			"late-notice.txt.tmpl", 2, "index out of range"},
		{"empty subject", map[string]string{"due-update.subject.tmpl": "{{/* nothing */}}"},
			"due-update.subject.tmpl", 0, "empty subject"},
		{"html escaping error", map[string]string{"receipt.html.tmpl": "<a href=\"{{.Ref}}\n"},
			"receipt.html.tmpl", 0, "ends in a non-text context"},
		{"typo in file name", map[string]string{"reciept.txt.tmpl": "x"},
			"reciept.txt.tmpl", 0, `did you mean "receipt.txt.tmpl"`},
		{"unrelated file", map[string]string{"README": "x"},
			"README", 0, "unknown template file"},
		{"subdirectory", map[string]string{"receipt.txt.tmpl/": ""},
			"receipt.txt.tmpl", 0, "unknown template file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if strings.HasSuffix(name, "/") {
					if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				writeFile(t, dir, name, body)
			}
			s, err := Load(dir)
			if err == nil {
				t.Fatalf("Load accepted %v", tt.files)
			}
			if s != nil {
				t.Errorf("Load returned a set with an error")
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %v (%T) is not a *templates.Error", err, err)
			}
			if want := filepath.Join(dir, tt.wantFile); te.File != want {
				t.Errorf("error names %q, want %q (%v)", te.File, want, err)
			}
			if tt.wantLine != 0 && te.Line != tt.wantLine {
				t.Errorf("error line %d, want %d (%v)", te.Line, tt.wantLine, err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if !strings.HasPrefix(err.Error(), te.File+":") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestOverrideReportsEveryProblem(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "receipt.txt.tmpl", "{{if}}")
	writeFile(t, dir, "closing.txt.tmpl", "{{end}}")
	writeFile(t, dir, "nonsense.tmpl", "x")
	writeFile(t, dir, "escalation.txt.tmpl", "{{.Nope}}")
	_, err := Load(dir)
	if err == nil {
		t.Fatal("Load accepted four broken files")
	}
	for _, f := range []string{"receipt.txt.tmpl", "closing.txt.tmpl", "nonsense.tmpl", "escalation.txt.tmpl"} {
		if !strings.Contains(err.Error(), filepath.Join(dir, f)) {
			t.Errorf("error does not mention %s: %v", f, err)
		}
	}
}

func TestLoadMissingDir(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope")); err == nil {
		t.Error("Load accepted a missing directory")
	}
}

// TestOverrideLanguages: a language directory replaces a built-in
// translation file by file, adds a language when it holds every localised
// file, and is refused when it is incomplete or not a language code.
func TestOverrideLanguages(t *testing.T) {
	d := Receipt{Requester: Person{Name: "Doe, Jane"}, Subject: "Drucker", Ref: "REQ-4",
		Due: time.Date(2026, 12, 1, 17, 0, 0, 0, time.UTC), Location: time.UTC}

	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "de"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "de/receipt.txt.tmpl", "Moin {{displayname .Requester}}, bis {{longdate .Due .Location}}: [{{.Ref}}].\n")
	if err := os.Mkdir(filepath.Join(dir, "pt"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range localisedFiles() {
		writeFile(t, dir, "pt/"+f, "Olá [{{with .Ref}}{{.}}{{end}}] {{with .Ref}}{{end}}{{printf \"%T\" .}}\n")
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Languages(); !slices.Contains(got, "pt") || !slices.Contains(got, "de") {
		t.Errorf("Languages() = %v, want pt and de among them", got)
	}
	r, err := s.In("de").Receipt(d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Moin Jane Doe, bis Dienstag, 1. Dezember 2026, 17:00 Uhr UTC: [REQ-4].\n"; r.Text != want {
		t.Errorf("de override text = %q, want %q", r.Text, want)
	}
	if r.HTML == "" || !strings.Contains(r.HTML, "Guten Tag") {
		t.Errorf("de HTML should stay the built-in one:\n%s", r.HTML)
	}
	if r, err := s.In("pt").Receipt(d); err != nil || !strings.HasPrefix(r.Text, "Olá [REQ-4]") {
		t.Errorf("pt receipt = %q, %v", r.Text, err)
	}
	// A language without templates keeps English; staff mail is English.
	if r, err := s.In("sv").Receipt(d); err != nil || !strings.HasPrefix(r.Text, "Dear Jane Doe,") {
		t.Errorf("sv receipt = %q, %v", r.Text, err)
	}
	if r, err := s.In("de").Escalation(Escalation{Ref: "REQ-4"}); err != nil || strings.Contains(r.Text, "Guten") {
		t.Errorf("escalation in de = %q, %v", r.Text, err)
	}

	bad := t.TempDir()
	for _, d := range []string{"it", "receipts"} {
		if err := os.Mkdir(filepath.Join(bad, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, bad, "it/receipt.txt.tmpl", "Ciao\n")
	writeFile(t, bad, "it/digest.txt.tmpl", "x\n")
	_, err = Load(bad)
	for _, want := range []string{
		filepath.Join(bad, "it", "closing.txt.tmpl") + ": missing",
		filepath.Join(bad, "it", "digest.txt.tmpl") + ": unknown template file",
		filepath.Join(bad, "receipts") + `: unknown template file "receipts"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load error %v does not say %q", err, want)
		}
	}
}
