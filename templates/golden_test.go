package templates

import (
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
	_ "time/tzdata" // the golden files must not depend on the host's zoneinfo
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatalf("load zone %s: %v", name, err)
	}
	return loc
}

// goldenCases returns realistic data for every template in two zones; the
// New York cases straddle the 2026 DST change (8 March) and the Berlin
// ones the end of summer time (25 October).
func goldenCases(t *testing.T) []struct {
	file, name string
	data       any
} {
	ber := mustZone(t, "Europe/Berlin")
	nyc := mustZone(t, "America/New_York")
	jane := Person{Name: `"Doe, Jane"`, Address: "jane.doe@example.test"}
	omar := Person{Name: "Omar Haddad (Finance)", Address: "o.haddad@example.test"}
	anon := Person{Address: "kl4x@example.test"}
	longExcerpt := "Hallo zusammen,\n\nder Drucker im 3. OG (Raum 3.14, HP LaserJet) zieht seit heute Morgen kein Papier mehr ein und zeigt \"Papierstau in Fach 2\" an, obwohl kein Papier drinsteckt.\n\nDanke & Grüße\nJane"
	return []struct {
		file, name string
		data       any
	}{
		{"receipt-berlin", NameReceipt, Receipt{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Subject: "AW: RE: Drucker im 3. OG druckt nicht", Ref: "REQ-12", Category: "hardware", Commitment: "1d",
			Received: time.Date(2026, 11, 30, 15, 20, 0, 0, ber), Due: time.Date(2026, 12, 1, 15, 20, 0, 0, ber),
			Location: ber, Excerpt: longExcerpt,
			AskFor: []string{"the asset number on the printer's label (\"PRN-…\")"},
			Links: []Link{{Title: "Printer troubleshooting <quick guide>", URL: "https://intranet.example.test/howto/printer?floor=3&lang=de"},
				{Title: "Hardware request form", URL: "https://intranet.example.test/forms/hardware"}}}},
		{"receipt-forecast-berlin", NameReceipt, Receipt{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Subject: "Passwort abgelaufen", Ref: "REQ-57", Category: "access", Commitment: "4h",
			Received: time.Date(2026, 11, 16, 9, 5, 0, 0, ber), Due: time.Date(2026, 11, 16, 16, 40, 0, 0, ber), Forecast: true,
			Location: ber, Excerpt: "Hallo,\nmein Passwort ist abgelaufen."}},
		{"receipt-newyork", NameReceipt, Receipt{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", Requester: omar,
			Subject: "Overtime for <February> & March missing", Ref: "REQ-204", Category: "pay", Commitment: "2d",
			Received: time.Date(2026, 3, 6, 16, 5, 0, 0, nyc), Due: time.Date(2026, 3, 10, 16, 5, 0, 0, nyc),
			Location: nyc, Excerpt: "Hi,\nmy <b>overtime</b> for February is not on the March payslip. Could you check?\n\nThanks, Omar",
			AskFor: []string{"your employee number", "the dates you worked overtime"}}},
		{"receipt-anonymous", NameReceipt, Receipt{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: anon,
			Subject: "", Ref: "REQ-13", Category: "default", Commitment: "3d",
			Received: time.Date(2026, 7, 3, 18, 30, 0, 0, ber), Location: ber}},
		{"escalation-berlin", NameEscalation, Escalation{
			Department: "IT Help Desk", Ref: "REQ-31", Subject: "Re: VPN disconnects every 10 minutes [REQ-31]",
			Requester: jane, Category: "network", Level: 1,
			Received: time.Date(2026, 10, 23, 14, 0, 0, 0, ber), Due: time.Date(2026, 10, 26, 14, 0, 0, 0, ber),
			Now: time.Date(2026, 10, 26, 9, 0, 0, 0, ber), Location: ber, Age: "4h", TimeLeft: "4h",
			Reason: "50% of the 1d commitment elapsed", Quote: longExcerpt}},
		{"escalation-owner", NameEscalation, Escalation{
			Department: "IT Help Desk", Ref: "REQ-31", Subject: "VPN disconnects", Requester: jane, Category: "network", Level: 2,
			Received: time.Date(2026, 10, 23, 14, 0, 0, 0, ber), Due: time.Date(2026, 10, 26, 14, 0, 0, 0, ber),
			Now: time.Date(2026, 10, 26, 9, 0, 0, 0, ber), Location: ber, Age: "4h", TimeLeft: "4h",
			Reason: "the requester sent a reminder", Reminders: 1, Owner: Person{Name: "Alice Smith", Address: "alice@example.test"}}},
		{"escalation-newyork", NameEscalation, Escalation{
			Department: "Payroll", Ref: "REQ-204", Subject: "Overtime for February & March missing",
			Requester: omar, Category: "pay", Level: 2,
			Received: time.Date(2026, 3, 6, 16, 5, 0, 0, nyc), Due: time.Date(2026, 3, 10, 16, 5, 0, 0, nyc),
			Now: time.Date(2026, 3, 10, 16, 30, 0, 0, nyc), Location: nyc, Age: "2d 25m",
			Reason: "overdue", Reminders: 2, Quote: "Hi,\nmy overtime for February is not on the March payslip."}},
		{"late-notice-berlin", NameLateNotice, LateNotice{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Ref: "REQ-12", Subject: "Drucker im 3. OG druckt nicht",
			Due: time.Date(2026, 12, 1, 15, 20, 0, 0, ber), NewDue: time.Date(2026, 12, 3, 12, 0, 0, 0, ber), Location: ber}},
		{"late-notice-newyork", NameLateNotice, LateNotice{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", Requester: omar,
			Ref: "REQ-204", Subject: "Overtime for February & March missing",
			Due: time.Date(2026, 3, 10, 16, 5, 0, 0, nyc), Location: nyc}},
		{"handover-berlin", NameHandover, Handover{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", From: "IT Help Desk", Requester: jane,
			Ref: "REQ-31", OldRef: "REQ-12", Subject: "AW: Überstunden fehlen auf der Abrechnung",
			Due: time.Date(2026, 12, 2, 17, 0, 0, 0, ber), Location: ber}},
		{"handover-nodate", NameHandover, Handover{
			Department: "Payroll <Team>", DepartmentAddress: "payroll@example.test", Requester: anon,
			Ref: "REQ-3", OldRef: "REQ-7", Subject: "Overtime & <March>", Location: nyc}},
		{"due-update-berlin", NameDueUpdate, DueUpdate{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Ref: "REQ-12", Subject: "Drucker im 3. OG druckt nicht",
			OldDue: time.Date(2026, 12, 1, 15, 20, 0, 0, ber), NewDue: time.Date(2026, 12, 4, 17, 0, 0, 0, ber),
			Location: ber, Note: "The replacement pickup roller has been ordered and should arrive on Thursday; we will fit it the same day."}},
		{"due-update-newyork", NameDueUpdate, DueUpdate{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", Requester: omar,
			Ref: "REQ-204", Subject: "Overtime for February & March missing",
			NewDue: time.Date(2026, 3, 9, 10, 0, 0, 0, nyc), Location: nyc}},
		{"closing-berlin", NameClosing, Closing{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Ref: "REQ-12", Subject: "Drucker im 3. OG druckt nicht",
			Resolved: time.Date(2026, 12, 3, 11, 47, 0, 0, ber), Location: ber, AskRating: true}},
		{"rating-thanks-berlin", NameRatingThanks, RatingThanks{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Requester: jane,
			Ref: "REQ-12", Subject: "Drucker im 3. OG druckt nicht", Rating: 4}},
		{"rating-thanks-low", NameRatingThanks, RatingThanks{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", Requester: anon,
			Ref: "REQ-204", Subject: "Overtime for February & March missing", Rating: 1, Low: true}},
		{"closing-newyork", NameClosing, Closing{
			Department: "Payroll", DepartmentAddress: "payroll@example.test", Requester: anon,
			Ref: "REQ-204", Subject: "Overtime for February & March missing",
			Resolved: time.Date(2026, 7, 1, 9, 15, 0, 0, nyc), Location: nyc}},
		{"command-help-berlin", NameCommandHelp, CommandHelp{
			Department: "IT Help Desk", Staff: Person{Name: "Smith, Alice", Address: "alice@example.test"}, Ref: "REQ-12",
			Unknown: []string{"#etaa 2026-12-04"},
			Valid:   []string{"#eta 2026-12-04 17:00 - give the requester a new expected date", "#close - mark the request as resolved"}}},
		{"command-help-newyork", NameCommandHelp, CommandHelp{
			Department: "Payroll", Staff: Person{Address: "bob@example.test"},
			Unknown: []string{"#done", "#prio high <urgent>"},
			Valid:   []string{"#eta DATE - give the requester a new expected date", "#close - mark the request as resolved"}}},
		{"command-help-held", NameCommandHelp, CommandHelp{
			Department: "IT Help Desk", Staff: Person{Name: "Alice Smith", Address: "alice@example.test"}, Ref: "REQ-12",
			Unknown: []string{"#done: write #done without a space after the #"}, Held: "Try the new password.\n\nAlice",
			Valid: []string{"#done - the request is resolved"}}},
		{"incident-alert", NameIncidentAlert, IncidentAlert{Department: "IT Help Desk", Window: "10m",
			Now: time.Date(2026, 12, 1, 10, 12, 0, 0, ber), Location: ber, Requests: []IncidentRequest{
				{Ref: "REQ-12", Subject: "Outlook cannot connect", Requester: "jane@example.test", Received: time.Date(2026, 12, 1, 10, 2, 0, 0, ber)},
				{Ref: "REQ-13", Subject: "Re: outlook cannot connect to server", Requester: "bob@example.test", Received: time.Date(2026, 12, 1, 10, 5, 0, 0, ber)}}}},
		{"receipt-incident", NameReceipt, Receipt{Department: "IT Help Desk", Requester: Person{Name: "Jane Doe", Address: "jane@example.test"},
			Subject: "Outlook cannot connect", Ref: "REQ-14", Commitment: "4h", Received: time.Date(2026, 12, 1, 10, 6, 0, 0, ber),
			Due: time.Date(2026, 12, 1, 14, 6, 0, 0, ber), Location: ber, Incident: "The mail server is down; we expect it back by 11:00."}},
		{"receipt-also", NameReceipt, Receipt{Department: "IT Help Desk", Requester: Person{Name: "Jane Doe", Address: "jane@example.test"},
			Subject: "New starter on Monday", Ref: "REQ-15", Commitment: "3d", Received: time.Date(2026, 12, 1, 10, 6, 0, 0, ber),
			Due: time.Date(2026, 12, 4, 10, 6, 0, 0, ber), Location: ber, Also: []string{"Facilities"}}},
		{"owner-notice-answered", NameOwnerNotice, OwnerNotice{Department: "IT Help Desk",
			Owner: Person{Name: "Alice Smith", Address: "alice@example.test"}, Staff: Person{Name: "Bob Jones", Address: "bob@example.test"},
			Ref: "REQ-12", Subject: "Printer on floor 3 jams", At: time.Date(2026, 12, 1, 11, 5, 0, 0, ber), Location: ber,
			Said: "Replaced the fuser, please try again."}},
		{"owner-notice-taken", NameOwnerNotice, OwnerNotice{Department: "IT Help Desk",
			Owner: Person{Address: "alice@example.test"}, Staff: Person{Address: "bob@example.test"}, Took: true,
			Ref: "REQ-12", Subject: "Printer on floor 3 jams", At: time.Date(2026, 12, 1, 11, 5, 0, 0, ber), Location: ber}},
		{"unproven-berlin", NameUnproven, Unproven{
			Department: "IT Help Desk", DepartmentAddress: "it-help@example.test",
			Staff: Person{Name: "Smith, Alice", Address: "alice@example.test"}, Ref: "REQ-12",
			Subject: "Drucker im 3. OG druckt nicht", Received: time.Date(2026, 10, 26, 9, 41, 0, 0, ber), Location: ber,
			Reason: "not from the Sent mailbox; In-Reply-To and References name no mail of this request; no authserv_id is configured"}},
		{"unproven-newyork", NameUnproven, Unproven{
			Department: "Payroll", Staff: Person{Address: "bob@example.test"}, Ref: "REQ-204",
			Received: time.Date(2026, 3, 8, 3, 30, 0, 0, nyc), Location: nyc}},
		{"digest-berlin", NameDigest, goldenDigest(ber)},
		{"digest-away", NameDigest, func() Digest {
			d := goldenDigest(ber)
			d.Away = []DigestAway{{Address: "bob@example.test", Until: time.Date(2026, 12, 7, 0, 0, 0, 0, ber)}}
			d.Sections[0].Items[0].Owner = "alice@example.test"
			return d
		}()},
		{"digest-allclear", NameDigest, Digest{Department: "Payroll", DepartmentAddress: "payroll@example.test",
			Now: time.Date(2026, 3, 9, 8, 30, 0, 0, nyc), Since: time.Date(2026, 3, 6, 8, 30, 0, 0, nyc), Location: nyc,
			WindowDays: 30, AllClear: true, Overall: DigestRecord{KeptPercent: -1}, Reminders: 0}},
	}
}

// goldenDigest is a busy Monday morning digest the day after the end of
// summer time.
func goldenDigest(ber *time.Location) Digest {
	at := func(day, hour, minute int) time.Time { return time.Date(2026, 10, day, hour, minute, 0, 0, ber) }
	return Digest{Department: "IT Help Desk", DepartmentAddress: "it-help@example.test", Now: at(26, 8, 30),
		Since: at(23, 8, 30), Location: ber, WindowDays: 30,
		Sections: []DigestSection{
			{Title: "New since Friday 23 October, 08:30", Short: "new", Items: []DigestItem{
				{Ref: "REQ-41", Subject: "Drucker im 3. OG druckt nicht", Requester: "jane.doe@example.test", Category: "hardware", Due: at(27, 10, 0), Age: "1d 1h", ReceiptHeld: true},
				{Ref: "REQ-42", Subject: "Passwort <abgelaufen> & gesperrt [REQ-42]", Requester: "o.haddad@example.test", Category: "access", Due: at(26, 13, 0), Age: "30m"}}},
			{Title: "Due today", Short: "due today", Items: []DigestItem{
				{Ref: "REQ-42", Subject: "Passwort <abgelaufen> & gesperrt [REQ-42]", Requester: "o.haddad@example.test", Category: "access", Due: at(26, 13, 0), Age: "30m"}}},
			{Title: "Overdue", Short: "overdue", Items: []DigestItem{
				{Ref: "REQ-31", Subject: "VPN disconnects every 10 minutes", Requester: "kl4x@example.test", Category: "network", Due: at(23, 17, 0), Age: "2d 3h", Overdue: true}}},
			{Title: "Other unanswered, oldest first", Short: "unanswered"},
			{Title: "Waiting on the requester", Short: "waiting", Items: []DigestItem{
				{Ref: "REQ-12", Subject: "Laptop für neue Kollegin", Requester: "jane.doe@example.test", Category: "default", Due: at(30, 17, 0), Age: "5d"}}},
		},
		Overall: DigestRecord{Kept: 14, Judged: 18, Pending: 2, KeptPercent: 78, Median: "3h", P80: "6h"},
		Categories: []DigestRecord{
			{Category: "access", Commitment: "4h", Kept: 5, Judged: 8, Pending: 1, KeptPercent: 63, Median: "3h", P80: "5h",
				Aim: "2h", AimMet: 3, AimJudged: 8, AimPercent: 38, Rated: 4, LowRated: 1, Satisfaction: "3.8",
				Suggest: "5h", Advice: "p80 first response 5h is above the 4h commitment; a realistic commitment is 5h"},
			{Category: "default", Commitment: "3d", Kept: 5, Judged: 5, Pending: 1, KeptPercent: 100, Median: "30m", P80: "2h",
				Suggest: "1d", Advice: "p80 first response 2h is below half the 3d commitment; a realistic commitment is 1d"},
			{Category: "hardware", Commitment: "1d", Kept: 4, Judged: 5, KeptPercent: 80, Median: "7h 30m", P80: "16h"},
			{Category: "network", Commitment: "1d", Pending: 1, KeptPercent: -1},
		},
		Reminders: 2, LateNotices: 2, HeldReceipts: 1}
}

func TestGolden(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]bool)
	for _, c := range goldenCases(t) {
		seen[c.name] = true
		checkGolden(t, s, c.file, c.name, c.data)
	}
	for _, n := range Names() {
		if !seen[n] {
			t.Errorf("template %s has no golden case", n)
		}
	}
}

// TestGoldenLanguages renders every localised template in every built-in
// language other than English into testdata/LANG/.
func TestGoldenLanguages(t *testing.T) {
	s, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := s.Languages(), []string{"de", "en", "es", "fr", "nl"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Languages() = %v, want %v", got, want)
	}
	for _, lang := range s.Languages() {
		if lang == DefaultLanguage {
			continue
		}
		seen := make(map[string]bool)
		for _, c := range goldenCases(t) {
			if !isLocalised(c.name) {
				continue
			}
			seen[c.name] = true
			checkGolden(t, s.In(lang), filepath.Join(lang, c.file), c.name, c.data)
		}
		for _, n := range Localised() {
			if !seen[n] {
				t.Errorf("template %s has no golden case in %s", n, lang)
			}
		}
	}
}

func checkGolden(t *testing.T, s *Set, file, name string, data any) {
	t.Helper()
	t.Run(file, func(t *testing.T) {
		r, err := s.Render(name, data)
		if err != nil {
			t.Fatal(err)
		}
		for ext, got := range map[string]string{"subject": r.Subject + "\n", "txt": r.Text, "html": r.HTML} {
			path := filepath.Join("testdata", file+"."+ext+".golden")
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got:\n%s\n--- want:\n%s", path, got, want)
			}
		}
	})
}
