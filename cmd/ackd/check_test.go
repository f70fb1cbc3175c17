package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const exampleConfig = "../../config.yaml"

func readExample(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(exampleConfig)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCheckExample(t *testing.T) {
	r := runAckd(t, "check", "-c", exampleConfig)
	if r.code != 0 || !strings.Contains(r.stdout, "OK") || r.stderr != "" {
		t.Fatalf("ackd check of the example config: want exit 0 and OK; got %s", r)
	}
}

// edit is one change to the example config that breaks it.
type edit struct{ old, new string }

// breakConfig applies edits to the example and writes the result into dir.
// It returns the path and, for each edit, the 1-based line the new text
// starts on, where the problem must be reported.
func breakConfig(t *testing.T, dir string, edits []edit, mark []string) (string, []int) {
	t.Helper()
	text := readExample(t)
	for _, e := range edits {
		if !strings.Contains(text, e.old) {
			t.Fatalf("the example config no longer contains %q; update the test", e.old)
		}
		text = strings.Replace(text, e.old, e.new, 1)
	}
	var lines []int
	for _, m := range mark {
		i := strings.Index(text, m)
		if i < 0 {
			t.Fatalf("marker %q not in the broken config", m)
		}
		lines = append(lines, strings.Count(text[:i], "\n")+1)
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// The example's rule_tests travel with it.
	copyFile(t, "../../rules.test.yaml", filepath.Join(dir, "rules.test.yaml"))
	return path, lines
}

// problem is one reported problem: the line and what it must say.
type problem struct {
	marker string // text on the line the problem must point at
	says   string // a phrase the message must contain
}

func TestCheckBroken(t *testing.T) {
	const inlineSecret = "hunter2-Sup3rS3cret"
	var (
		unknownKey = edit{"      idle: true\n", "      idle: true\n      colour: blue\n"}
		badDur     = edit{"poll_interval: 60s", "poll_interval: 60 parsecs"}
		badZone    = edit{"timezone: Europe/Berlin", "timezone: Europe/Atlantis"}
		badRegex   = edit{`"/\\bscreen\\b/"`, `"/scre(en/"`}
		missingCat = edit{"category: software", "category: sofware"}
		inlinePw   = edit{"  password_env: ACKD_SMTP_PASSWORD", "  password: " + inlineSecret}
		tlsRemote  = edit{"  host: 127.0.0.1\n  port: 587\n  tls: starttls", "  host: mail.example.com\n  port: 587\n  tls: none"}
	)
	var (
		pUnknown = problem{"colour: blue", `unknown key "colour"`}
		pDur     = problem{"60 parsecs", "poll_interval"}
		pZone    = problem{"Europe/Atlantis", "Europe/Atlantis"}
		pRegex   = problem{"scre(en", "regular expression"}
		pCat     = problem{"sofware", `"sofware" does not exist`}
		pPw      = problem{"password: " + inlineSecret, "inline password"}
		pTLS     = problem{"tls: none", "loopback"}
	)
	tests := []struct {
		name     string
		edits    []edit
		problems []problem
	}{
		{"unknown key", []edit{unknownKey}, []problem{pUnknown}},
		{"bad duration", []edit{badDur}, []problem{pDur}},
		{"bad zone", []edit{badZone}, []problem{pZone}},
		{"bad regex", []edit{badRegex}, []problem{pRegex}},
		{"missing category", []edit{missingCat}, []problem{pCat}},
		{"inline password", []edit{inlinePw}, []problem{pPw}},
		{"tls none on a remote host", []edit{tlsRemote}, []problem{pTLS}},
		// An admin fixing a config wants every problem in one go.
		{"all at once", []edit{unknownKey, badDur, badZone, badRegex, missingCat, inlinePw, tlsRemote},
			[]problem{pUnknown, pDur, pZone, pRegex, pCat, pPw, pTLS}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var markers []string
			for _, p := range tc.problems {
				markers = append(markers, p.marker)
			}
			path, lines := breakConfig(t, t.TempDir(), tc.edits, markers)
			r := runAckd(t, "check", "-c", path)
			if r.code != 1 {
				t.Fatalf("want exit 1; got %s", r)
			}
			if strings.Contains(r.stdout+r.stderr, inlineSecret) {
				t.Errorf("the output shows the inline password's value:\n%s", r)
			}
			lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(path) + `:(\d+):\d+: (.*)$`)
			type reported struct {
				line int
				msg  string
			}
			var got []reported
			for _, l := range strings.Split(strings.TrimRight(r.stderr, "\n"), "\n") {
				m := lineRE.FindStringSubmatch(l)
				if m == nil {
					t.Errorf("output line %q is not %s:LINE:COL: message", l, path)
					continue
				}
				n, _ := strconv.Atoi(m[1])
				got = append(got, reported{n, m[2]})
			}
			for i, p := range tc.problems {
				found := false
				for _, g := range got {
					if g.line == lines[i] && strings.Contains(g.msg, p.says) {
						found = true
					}
				}
				if !found {
					t.Errorf("no problem on line %d saying %q; got:\n%s", lines[i], p.says, r.stderr)
				}
			}
		})
	}
}

func TestCheckTemplateOverrides(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // override dir content; nil: the dir does not exist
		says  []string
	}{
		{"missing dir", nil, []string{"no such file or directory"}},
		{"broken template", map[string]string{"receipt.subject.tmpl": "[{{.Ref}] {{ .Subject"}, []string{"receipt.subject.tmpl:1:"}},
		{"unknown file", map[string]string{"reciept.txt.tmpl": "hello"}, []string{`unknown template file "reciept.txt.tmpl"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tpl := filepath.Join(dir, "templates")
			if tc.files != nil {
				if err := os.Mkdir(tpl, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, body := range tc.files {
					if err := os.WriteFile(filepath.Join(tpl, name), []byte(body), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			path, _ := breakConfig(t, dir, []edit{{"\nstore:\n", "\ntemplates: templates\nstore:\n"}}, nil)
			r := runAckd(t, "check", "-c", path)
			if r.code != 1 {
				t.Fatalf("want exit 1; got %s", r)
			}
			if !strings.HasPrefix(r.stderr, path+": templates: ") {
				t.Errorf("want the report to start with %q; got %s", path+": templates: ", r)
			}
			for _, s := range tc.says {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("the report does not say %q; got %s", s, r)
				}
			}
		})
	}
}

// TestCheckWarnsAboutWeakAuthority: settings that weaken how staff mail is
// proven are warnings, not errors.
func TestCheckWarnsAboutWeakAuthority(t *testing.T) {
	path, _ := breakConfig(t, t.TempDir(), []edit{
		{`    # trust_authentication_results: true`, `    trust_authentication_results: true`},
		{`    # assignable: ["*@contractor.example"]`, `    assignable: ["*"]`},
	}, nil)
	r := runAckd(t, "check", "-c", path)
	if r.code != 0 || !strings.Contains(r.stdout, "OK") {
		t.Fatalf("check: want exit 0 and OK; got %s", r)
	}
	for _, want := range []string{"warning: department \"IT Help Desk\": trust_authentication_results without authserv_id",
		`warning: department "IT Help Desk": assignable "*"`} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr does not say %q:\n%s", want, r.stderr)
		}
	}
}

// TestCheckLanguageWithoutTemplates: a department or rule language that
// has no templates is refused, naming it and the languages there are.
func TestCheckLanguageWithoutTemplates(t *testing.T) {
	dir := t.TempDir()
	path, _ := breakConfig(t, dir, []edit{{"    language: en   # the default\n", "    language: it\n"}}, nil)
	r := runAckd(t, "check", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, `department "IT Help Desk": language "it" has no templates (have de, en, es, fr, nl;`) {
		t.Fatalf("want exit 1 naming the language; got %s", r)
	}
	path, _ = breakConfig(t, dir, []edit{{"    language: en   # the default\n", "    language: de-AT\n"}}, nil)
	if r := runAckd(t, "check", "-c", path); r.code != 0 {
		t.Fatalf("de-AT is German: want exit 0; got %s", r)
	}
}
