package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ackd/ackd/internal/corpus"
)

// classified is the part of `ackd classify --json` the contract promises.
type classified struct {
	File     string  `json:"file"`
	Reply    *bool   `json:"reply"`
	Reason   string  `json:"reason"`
	Rule     *string `json:"rule"`
	Category string  `json:"category"`
	Due      string  `json:"due"`
	Error    string  `json:"error"`
}

// decodeLines reads one JSON object per line and checks that every line
// carries the keys the contract names.
func decodeLines(t *testing.T, out string) []classified {
	t.Helper()
	var all []classified
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		var keys map[string]any
		if err := json.Unmarshal([]byte(line), &keys); err != nil {
			t.Fatalf("classify --json printed a line that is not one JSON object: %q: %v", line, err)
		}
		for _, k := range []string{"file", "reply"} {
			if _, ok := keys[k]; !ok {
				t.Errorf("line lacks %q: %s", k, line)
			}
		}
		var c classified
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			t.Fatalf("decode %q: %v", line, err)
		}
		all = append(all, c)
	}
	return all
}

func classifyJSON(t *testing.T, at string, files []string) ([]classified, result) {
	t.Helper()
	args := append([]string{"classify", "-c", exampleConfig, "--json", "--at", at}, files...)
	r := runAckd(t, args...)
	if r.stdout == "" {
		t.Fatalf("classify printed nothing; %s", r)
	}
	got := decodeLines(t, r.stdout)
	if len(got) != len(files) {
		t.Fatalf("%d JSON objects for %d files", len(got), len(files))
	}
	for i, c := range got {
		if c.File != files[i] {
			t.Errorf("object %d names file %q, want %q (the path as given, in order)", i, c.File, files[i])
		}
	}
	return got, r
}

func TestClassifyCorpusNoReply(t *testing.T) {
	files := corpus.Files(t, "noreply")
	got, r := classifyJSON(t, "2026-12-01T10:00:00+01:00", files)
	if r.code != 0 {
		t.Errorf("want exit 0; got exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, c := range got {
		if c.Reply == nil || *c.Reply || c.Reason == "" || c.Error != "" {
			t.Errorf("%s: want reply:false with a reason; got reply=%v reason=%q error=%q", filepath.Base(c.File), deref(c.Reply), c.Reason, c.Error)
		}
	}
}

func TestClassifyCorpusRequests(t *testing.T) {
	files := corpus.Files(t, "requests")
	got, r := classifyJSON(t, "2026-12-01T10:00:00+01:00", files)
	if r.code != 0 {
		t.Errorf("want exit 0; got exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, c := range got {
		if c.Error != "" || c.Reason == "" {
			t.Errorf("%s: error %q, reason %q; want no error and a reason", filepath.Base(c.File), c.Error, c.Reason)
		}
	}
}

func deref(b *bool) any {
	if b == nil {
		return "missing"
	}
	return *b
}

// The example calendar: Europe/Berlin, Mon–Fri 09:00–17:00 (8 business
// hours a day), Bavarian public holidays (DE-BY) plus the company days off
// 2026-12-24 and 2026-12-31. "4h" is business time; "3d" is the same time
// of day, that many working days after the first open moment at or after
// arrival. Each due date below is worked out by hand from that.
var internalRequests = []struct {
	file, at            string
	rule, category, due string
}{
	// Tue 22 Dec 15:30, access 4h: 1h30 until 17:00, then 2h30 from Wed
	// 23 Dec 09:00 → Wed 11:30.
	{"password.eml", "2026-12-22T15:30:00+01:00", "password-reset", "access", "2026-12-23T11:30:00+01:00"},
	// Wed 23 Dec 14:00, network 4h: 3h until 17:00; Thu 24 (company day
	// off), Fri 25 and Sat 26 (Christmas), Sun 27 are closed; the last 1h
	// runs from Mon 28 Dec 09:00 → 10:00.
	{"vpn.eml", "2026-12-23T14:00:00+01:00", "vpn", "network", "2026-12-28T10:00:00+01:00"},
	// Wed 30 Dec 11:15, hardware 2d: Thu 31 (company day off), Fri 1 Jan
	// (New Year), Sat 2 and Sun 3 do not count; Mon 4 Jan is day 1, Tue 5
	// Jan day 2 → Tue 5 Jan 11:15.
	{"laptop.eml", "2026-12-30T11:15:00+01:00", "broken-hardware", "hardware", "2027-01-05T11:15:00+01:00"},
	// Mon 4 Jan 16:45, software 3d: Tue 5 is day 1, Wed 6 Jan is Epiphany
	// (a holiday in Bavaria only), Thu 7 day 2, Fri 8 day 3 → Fri 16:45.
	{"licence.eml", "2027-01-04T16:45:00+01:00", "licence-request", "software", "2027-01-08T16:45:00+01:00"},
	// Sat 9 Jan 10:00 is closed: the clock starts Mon 11 Jan 09:00;
	// onboarding 5d: Tue 12, Wed 13, Thu 14, Fri 15, Mon 18 → Mon 18 09:00.
	{"onboarding.eml", "2027-01-09T10:00:00+01:00", "new-starter", "onboarding", "2027-01-18T09:00:00+01:00"},
	// 14:00 UTC is Fri 23 Oct 16:00 summer time (CEST); access 4h: 1h until
	// 17:00; the clocks go back on Sun 25 Oct; the other 3h run from Mon 26
	// Oct 09:00 CET → 12:00, now at +01:00.
	{"access.eml", "2026-10-23T14:00:00Z", "access-request", "access", "2026-10-26T12:00:00+01:00"},
	// Fri 31 Jul 17:30 CEST is after hours: the clock starts Mon 3 Aug
	// 09:00; no rule matches, default 3d: Tue 4, Wed 5, Thu 6 → Thu 09:00.
	{"question.eml", "2026-07-31T17:30:00+02:00", "", "default", "2026-08-06T09:00:00+02:00"},
}

func TestClassifyInternalRequests(t *testing.T) {
	for _, tc := range internalRequests {
		t.Run(tc.file, func(t *testing.T) {
			file := filepath.Join("testdata", "requests", tc.file)
			got, r := classifyJSON(t, tc.at, []string{file})
			if r.code != 0 {
				t.Fatalf("want exit 0; got %s", r)
			}
			c := got[0]
			if c.Reply == nil || !*c.Reply {
				t.Fatalf("want reply:true; got reply=%v reason=%q", deref(c.Reply), c.Reason)
			}
			rule := ""
			if c.Rule != nil {
				rule = *c.Rule
			}
			if rule != tc.rule || c.Category != tc.category || c.Due != tc.due {
				t.Errorf("got rule %q, category %q, due %s; want rule %q, category %q, due %s",
					rule, c.Category, c.Due, tc.rule, tc.category, tc.due)
			}
			if c.Reason == "" {
				t.Errorf("no reason")
			}
		})
	}
}

// TestClassifyJSONKeys checks that every object carries the keys the
// contract names, even when they are empty: rule for the default category,
// rule, category and due for mail that gets no receipt.
func TestClassifyJSONKeys(t *testing.T) {
	files := []string{filepath.Join("testdata", "requests", "password.eml"), filepath.Join("testdata", "requests", "question.eml")}
	files = append(files, corpus.Files(t, "noreply")[0])
	r := runAckd(t, append([]string{"classify", "-c", exampleConfig, "--json", "--at", "2026-07-31T17:30:00+02:00"}, files...)...)
	for _, line := range strings.Split(strings.TrimRight(r.stdout, "\n"), "\n") {
		var keys map[string]any
		if err := json.Unmarshal([]byte(line), &keys); err != nil {
			t.Fatalf("%v; %s", err, r)
		}
		for _, k := range []string{"file", "reply", "reason", "rule", "category", "due"} {
			if _, ok := keys[k]; !ok {
				t.Errorf("classify --json lacks %q: %s", k, line)
			}
		}
	}
}

func TestClassifyBadFiles(t *testing.T) {
	dir := t.TempDir()
	notMail := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notMail, []byte("shopping list\n\x00\x01\x02 not a mail\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.eml")
	good := filepath.Join("testdata", "requests", "password.eml")
	for _, asJSON := range []bool{false, true} {
		name := "text"
		args := []string{"classify", "-c", exampleConfig, "--at", "2026-12-22T15:30:00+01:00"}
		if asJSON {
			name = "json"
			args = append(args, "--json")
		}
		t.Run(name, func(t *testing.T) {
			r := runAckd(t, append(args, notMail, good, missing)...)
			if r.code != 2 {
				t.Errorf("want exit 2; got %d", r.code)
			}
			for _, f := range []string{notMail, missing} {
				if !strings.Contains(r.stderr, f+": ") {
					t.Errorf("stderr does not name %s:\n%s", f, r.stderr)
				}
			}
			if strings.Contains(r.stderr, good) {
				t.Errorf("stderr names the good file:\n%s", r.stderr)
			}
			if !asJSON {
				if !strings.Contains(r.stdout, "== "+good) || !strings.Contains(r.stdout, "password-reset") {
					t.Errorf("the good file was not classified:\n%s", r.stdout)
				}
				return
			}
			got := decodeLines(t, r.stdout)
			if len(got) != 3 {
				t.Fatalf("%d objects, want 3", len(got))
			}
			if got[0].Error == "" || got[2].Error == "" {
				t.Errorf("unreadable files have no error field: %+v, %+v", got[0], got[2])
			}
			if got[1].Error != "" || got[1].Reply == nil || !*got[1].Reply || got[1].Due == "" {
				t.Errorf("the good file was not classified: %+v", got[1])
			}
		})
	}
}

func TestClassifyBadAt(t *testing.T) {
	for _, at := range []string{"tomorrow", "2026-12-01 10:00", "2026-13-01T10:00:00Z"} {
		r := runAckd(t, "classify", "-c", exampleConfig, "--at", at, filepath.Join("testdata", "requests", "password.eml"))
		if r.code != 2 || !strings.Contains(r.stderr, "--at") || !strings.Contains(r.stderr, "RFC 3339") || r.stdout != "" {
			t.Errorf("--at %q: want exit 2, nothing classified and a message naming --at and RFC 3339; got %s", at, r)
		}
	}
}

// TestClassifyGolden pins what an admin reads: the human output for one
// request, receipt included.
func TestClassifyGolden(t *testing.T) {
	r := runAckd(t, "classify", "-c", exampleConfig, "--at", "2026-12-22T15:30:00+01:00",
		filepath.Join("testdata", "requests", "password.eml"))
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("want exit 0 and nothing on stderr; got %s", r)
	}
	golden := filepath.Join("testdata", "classify-password.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(r.stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal([]byte(r.stdout), want) {
		t.Errorf("classify output differs from %s (go test -update rewrites it):\n--- got\n%s--- want\n%s", golden, r.stdout, want)
	}
}

// TestClassifyPoisonFrom: classify says what the daemon does with a From
// the composer cannot write (issue 11 #6): no receipt, refusal
// bad-address, in the text and the JSON output alike.
func TestClassifyPoisonFrom(t *testing.T) {
	file := filepath.Join("testdata", "poison", "from-comma.eml")
	r := runAckd(t, "classify", "-c", exampleConfig, "--at", "2026-12-22T15:30:00+01:00", file)
	if r.code != 0 {
		t.Fatalf("want exit 0; got %s", r)
	}
	for _, want := range []string{"reply:      no (From address <a,b@example.test> cannot be replied to", "refusal:    bad-address\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("classify output lacks %q:\n%s", want, r.stdout)
		}
	}
	got, r := classifyJSON(t, "2026-12-22T15:30:00+01:00", []string{file})
	if r.code != 0 || got[0].Reply == nil || *got[0].Reply || got[0].Error != "" {
		t.Fatalf("want reply:false and no error; got %+v (%s)", got[0], r)
	}
	var refusal struct {
		Refusal string `json:"refusal"`
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &refusal); err != nil || refusal.Refusal != "bad-address" {
		t.Errorf("JSON refusal = %q, %v; want bad-address", refusal.Refusal, err)
	}
}

// TestClassifyLanguage: classify says which language the receipt is in
// and why, and renders it in that language (issue 16): the demo's German
// VPN request gets a German receipt with a German date.
func TestClassifyLanguage(t *testing.T) {
	for _, tc := range []struct {
		file, lang, why, text string
	}{
		{"vpn.eml", "de", "text reads as German", "bis Montag, 28. Dezember 2026, 10:00 Uhr CET"},
		{"password.eml", "en", "text reads as English", "by Monday 28 December 2026, 10:00 CET"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			r := runAckd(t, "classify", "-c", exampleConfig, "--json", "--at", "2026-12-23T14:00:00+01:00",
				filepath.Join("testdata", "requests", tc.file))
			var c struct {
				Lang    string `json:"language"`
				Why     string `json:"language_reason"`
				Receipt struct{ Text string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
				t.Fatalf("%v; %s", err, r)
			}
			if c.Lang != tc.lang || !strings.Contains(c.Why, tc.why) {
				t.Errorf("language %q (%s), want %q (%s)", c.Lang, c.Why, tc.lang, tc.why)
			}
			if !strings.Contains(strings.ReplaceAll(c.Receipt.Text, "\n", " "), tc.text) {
				t.Errorf("receipt lacks %q:\n%s", tc.text, c.Receipt.Text)
			}
		})
	}
}

// TestClassifyAskFor: classify lists what the receipt asks for, and a
// request that already names the drive is not asked for it (issue 16).
func TestClassifyAskFor(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("testdata", "requests", "access.eml"))
	if err != nil {
		t.Fatal(err)
	}
	named := filepath.Join(dir, "named.eml")
	if err := os.WriteFile(named, append(raw, []byte("\nIt is \\\\fs01\\finance.\n")...), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		file              string
		ask, present      []string
		inText, notInText string
	}{
		{filepath.Join("testdata", "requests", "access.eml"), []string{`the path of the shared drive (\\server\share)`, "your manager's approval"}, nil,
			"- your manager's approval", ""},
		{named, []string{"your manager's approval"}, []string{`the path of the shared drive (\\server\share)`},
			"- your manager's approval", "the path of the shared drive"},
	} {
		r := runAckd(t, "classify", "-c", exampleConfig, "--json", "--at", "2026-12-23T14:00:00+01:00", tc.file)
		var c struct {
			AskFor  []string `json:"ask_for"`
			Present []string `json:"ask_for_present"`
			Receipt struct{ Text string }
		}
		if err := json.Unmarshal([]byte(r.stdout), &c); err != nil {
			t.Fatalf("%v; %s", err, r)
		}
		if !slices.Equal(c.AskFor, tc.ask) || !slices.Equal(c.Present, tc.present) {
			t.Errorf("%s: ask_for %q, present %q; want %q, %q", tc.file, c.AskFor, c.Present, tc.ask, tc.present)
		}
		if !strings.Contains(c.Receipt.Text, tc.inText) || (tc.notInText != "" && strings.Contains(c.Receipt.Text, tc.notInText)) {
			t.Errorf("%s: receipt text:\n%s", tc.file, c.Receipt.Text)
		}
	}
}
