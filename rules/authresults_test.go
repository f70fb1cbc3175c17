package rules

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
)

// Header values as real servers write them (folding removed as the parser
// would): Gmail, Exchange Online, Dovecot/Postfix with OpenDKIM, OpenDMARC
// and policyd-spf, and Fastmail's arc-aware variant.
const (
	arGmailPass = `mx.google.com;
       dkim=pass header.i=@example.test header.s=20230601 header.b=AbCdEf12;
       spf=pass (google.com: domain of jane@example.test designates 192.0.2.10 as permitted sender) smtp.mailfrom=jane@example.test;
       dmarc=pass (p=REJECT sp=REJECT dis=NONE) header.from=example.test`
	arGmailDMARCFail = `mx.google.com;
       spf=fail (google.com: domain of ceo@example.test does not designate 203.0.113.5 as permitted sender) smtp.mailfrom=ceo@example.test;
       dmarc=fail (p=NONE sp=NONE dis=NONE) header.from=example.test`
	arMicrosoftFail = `spf=fail (sender IP is 203.0.113.5) smtp.mailfrom=example.test; dkim=none (message not signed) header.d=none;dmarc=fail action=none header.from=example.test;compauth=fail reason=000`
	arMicrosoftPass = `spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=example.test; dkim=pass (signature was verified) header.d=example.test;dmarc=pass action=none header.from=example.test;compauth=pass reason=100`
	arOpenDMARCFail = `mail.example.test; dmarc=fail (p=reject dis=none) header.from=example.test`
	arOpenDKIMFail  = `mail.example.test; dkim=fail reason="signature verification failed" (1024-bit key; unprotected) header.d=example.test header.i=@example.test header.b="kL0; x"`
	arSPFOnlyFail   = `mail.example.test; spf=fail smtp.mailfrom=ceo@example.test`
	arSPFFailDKIMOK = `mail.example.test 1; spf=fail smtp.mailfrom=list.example.org; dkim=pass header.d=example.test`
	arSPFSoftfail   = `mail.example.test; spf=softfail smtp.mailfrom=example.test`
	arNone          = `mail.example.test; none`
	arDKIMTemp      = `mail.example.test; spf=fail smtp.mailfrom=x@example.test; dkim=temperror (DNS timeout) header.d=example.test`
	arDMARCPassSPF  = `mx.example.test; spf=fail smtp.mailfrom=bounce.example.org; dkim/1=pass header.d=example.test; dmarc=pass header.from=example.test`
)

// summary is "authserv-id: method=value …" for comparing parses.
func summary(ar AuthResults) string {
	var b strings.Builder
	b.WriteString(ar.AuthservID + ":")
	for _, r := range ar.Results {
		m, v := resultOf(r)
		b.WriteString(" " + m + "=" + string(v))
	}
	return b.String()
}

func TestParseAuthResults(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
		err  bool
	}{
		{"gmail", arGmailPass, "mx.google.com: dkim=pass spf=pass dmarc=pass", false},
		{"microsoft without authserv-id", arMicrosoftFail, ": spf=fail dkim=none dmarc=fail compauth=fail", false},
		{"quoted semicolon and comment", arOpenDKIMFail, "mail.example.test: dkim=fail", false},
		{"version and method version", arDMARCPassSPF, "mx.example.test: spf=fail dkim=pass dmarc=pass", false},
		{"no result", arNone, "mail.example.test:", false},
		{"comment inside method", `mx.example.test; dmarc=(weird)fail header.from=x`, "mx.example.test: dmarc=", false},
		{"upper case", `MX.Example.Test; DMARC=FAIL`, "mx.example.test: dmarc=fail", false},
		{"empty", "", ":", true},
		{"only comment", "(nothing here)", ":", true},
		{"unbalanced", `mx; dkim=pass (unclosed; dmarc=fail`, "mx: dkim=pass", false},
		// A sender's address copied into the field cannot add a result.
		{"injected through a quoted address", `mx.example.test; spf=pass smtp.mailfrom="a; dmarc=pass header.from=example.test"@evil.example`,
			"mx.example.test: spf=pass", false},
		{"unknown version", `mx.example.test 2; dmarc=pass`, ":", true},
		{"garbage result", `mx.example.test; dkim=pass; what`, "mx.example.test: dkim=pass", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAuthResults(tt.in)
			if summary(got) != tt.want || (err != nil) != tt.err {
				t.Errorf("ParseAuthResults(%q) = %q, %v; want %q, error %v", tt.in, summary(got), err, tt.want, tt.err)
			}
		})
	}
}

func authDept(trust bool, authserv string) *config.Department {
	return &config.Department{
		Name: "IT", Address: "it-help@example.test",
		Staff:                      []string{"alice@example.test"},
		AllowedSenders:             []string{"*@example.test", "*@partner.example.org"},
		Categories:                 map[string]*config.Category{DefaultCategory: {Name: DefaultCategory}},
		TrustAuthenticationResults: trust, AuthservID: authserv,
	}
}

func authMsg(from string, ar ...string) *Message {
	h := map[string][]string{}
	if len(ar) > 0 {
		h["Authentication-Results"] = ar
	}
	return &Message{
		MessageID: "x@example.test", From: Address{Name: "Boss", Address: from},
		To: []Address{{Address: "it-help@example.test"}}, Subject: "urgent wire transfer", Header: h,
	}
}

func TestDecideAuthenticationResults(t *testing.T) {
	at := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		trust    bool
		authserv string
		from     string
		ar       []string
		refused  bool
		reason   string // substring of the refusal reason
	}{
		{"gmail pass", true, "", "ceo@example.test", []string{arGmailPass}, false, ""},
		{"gmail dmarc fail", true, "", "ceo@example.test", []string{arGmailDMARCFail}, true, "(mx.google.com): dmarc=fail"},
		{"microsoft dmarc fail", true, "", "ceo@example.test", []string{arMicrosoftFail}, true, "(no authserv-id): dmarc=fail"},
		{"microsoft pass", true, "", "ceo@example.test", []string{arMicrosoftPass}, false, ""},
		{"opendmarc fail", true, "", "ceo@example.test", []string{arOpenDMARCFail}, true, "dmarc=fail"},
		{"spf fail without dkim", true, "", "ceo@example.test", []string{arSPFOnlyFail}, true, "spf=fail, no dkim result"},
		{"spf fail with dkim fail", true, "", "ceo@example.test", []string{arOpenDKIMFail + "; spf=fail smtp.mailfrom=x"}, true, "spf=fail, dkim=fail"},
		{"spf fail rescued by dkim pass", true, "", "ceo@example.test", []string{arSPFFailDKIMOK}, false, ""},
		{"dmarc pass beats spf fail", true, "", "ceo@example.test", []string{arDMARCPassSPF}, false, ""},
		{"softfail is not fail", true, "", "ceo@example.test", []string{arSPFSoftfail}, false, ""},
		{"dkim temperror is not proof", true, "", "ceo@example.test", []string{arDKIMTemp}, false, ""},
		{"no checks", true, "", "ceo@example.test", []string{arNone}, false, ""},
		{"no header", true, "", "ceo@example.test", nil, false, ""},
		{"trust off", false, "", "ceo@example.test", []string{arGmailDMARCFail}, false, ""},
		{"external-looking From is not judged", true, "", "someone@elsewhere.example", []string{arGmailDMARCFail}, false, ""},
		{"allowed partner domain counts as internal", true, "", "bob@partner.example.org", []string{arOpenDMARCFail}, true, "dmarc=fail"},
		// Only the topmost field counts: a forger can write a "pass" below.
		{"topmost only", true, "", "ceo@example.test", []string{arOpenDMARCFail, arGmailPass}, true, "dmarc=fail"},
		{"forged pass below a real fail", true, "", "ceo@example.test", []string{arGmailPass, arOpenDMARCFail}, false, ""},
		// With authserv_id, fields from other servers are ignored.
		{"authserv match", true, "mail.example.test", "ceo@example.test", []string{arGmailPass, arOpenDMARCFail}, true, "(mail.example.test): dmarc=fail"},
		{"authserv no match", true, "mail.example.test", "ceo@example.test", []string{arGmailDMARCFail}, false, ""},
		{"authserv case-insensitive", true, "MAIL.example.test", "ceo@example.test", []string{arOpenDMARCFail}, true, "dmarc=fail"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authDept(tt.trust, tt.authserv)
			if tt.from == "bob@partner.example.org" {
				d.AllowedSenders = append(d.AllowedSenders, "bob@partner.example.org")
			}
			dec := decide(d, authMsg(tt.from, tt.ar...), at)
			if tt.from == "someone@elsewhere.example" {
				// Outside allowed_senders anyway; the auth check must not
				// be what refused it.
				if dec.Refusal == RefuseAuthFailed {
					t.Fatalf("external sender refused as %s: %s", dec.Refusal, dec.Reason)
				}
				return
			}
			if got := dec.Refusal == RefuseAuthFailed; got != tt.refused {
				t.Fatalf("refused=%v (%s: %s), want %v", got, dec.Refusal, dec.Reason, tt.refused)
			}
			if tt.refused {
				if dec.Reply {
					t.Errorf("Reply is true on a refusal")
				}
				if !strings.Contains(dec.Reason, tt.reason) || !strings.Contains(dec.Reason, "ceo@example.test") && !strings.Contains(dec.Reason, tt.from) {
					t.Errorf("reason %q does not name %q and the sender", dec.Reason, tt.reason)
				}
			} else if !dec.Reply {
				t.Errorf("no receipt: %s: %s", dec.Refusal, dec.Reason)
			}
		})
	}
}

func TestAuthFailureForStaff(t *testing.T) {
	d := authDept(true, "")
	if _, bad := AuthFailure(d, authMsg("alice@example.test", arGmailPass)); bad {
		t.Errorf("passing staff mail reported as failed")
	}
	why, bad := AuthFailure(d, authMsg("alice@example.test", arMicrosoftFail))
	if !bad || !strings.Contains(why, "dmarc=fail") {
		t.Errorf("AuthFailure = %q, %v; want a dmarc=fail failure", why, bad)
	}
	d.TrustAuthenticationResults = false
	if _, bad := AuthFailure(d, authMsg("alice@example.test", arMicrosoftFail)); bad {
		t.Errorf("AuthFailure reports failure with trust off")
	}
	var nilDept *config.Department
	if _, bad := AuthFailure(nilDept, authMsg("alice@example.test", arMicrosoftFail)); bad {
		t.Errorf("nil department reports failure")
	}
}

func TestParseTrustAuthenticationResults(t *testing.T) {
	base := func(top, dept string) string {
		return `smtp: {host: 127.0.0.1, port: 2525, tls: none}
` + top + `departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_env: X}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules: [{name: r, category: default, match: {subject: x}}]
` + dept + `  - name: HR
    address: hr@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: hr, password_env: X}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules: [{name: r, category: default, match: {subject: x}}]
`
	}
	tests := []struct {
		name         string
		top, dept    string
		trust        [2]bool
		authserv     [2]string
		problem      string
		problemCount int
	}{
		{"default off", "", "", [2]bool{false, false}, [2]string{"", ""}, "", 0},
		{"top level on", "trust_authentication_results: true\nauthserv_id: mx.example.test\n", "", [2]bool{true, true}, [2]string{"mx.example.test", "mx.example.test"}, "", 0},
		{"department overrides", "trust_authentication_results: true\n", "    trust_authentication_results: false\n", [2]bool{false, true}, [2]string{"", ""}, "", 0},
		{"department only", "", "    trust_authentication_results: true\n    authserv_id: mail.example.test\n", [2]bool{true, false}, [2]string{"mail.example.test", ""}, "", 0},
		{"not a bool", "trust_authentication_results: sometimes\n", "", [2]bool{}, [2]string{}, "trust_authentication_results", 1},
		{"bad authserv_id", "", "    authserv_id: \"mx; dmarc=pass\"\n", [2]bool{}, [2]string{}, "authserv_id", 1},
		{"empty authserv_id", "authserv_id: \"\"\n", "", [2]bool{}, [2]string{}, "authserv_id: empty", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, probs := configProblems(t, "/etc/ackd/config.yaml", []byte(base(tt.top, tt.dept)))
			if tt.problem != "" {
				if len(probs) != tt.problemCount || !strings.Contains(probs.Error(), tt.problem) {
					t.Fatalf("problems %v, want %d naming %q", probs, tt.problemCount, tt.problem)
				}
				return
			}
			if len(probs) > 0 {
				t.Fatalf("unexpected problems: %v", probs)
			}
			for i, d := range cfg.Departments {
				if d.TrustAuthenticationResults != tt.trust[i] || d.AuthservID != tt.authserv[i] {
					t.Errorf("department %s: trust=%v authserv=%q, want %v %q", d.Name, d.TrustAuthenticationResults, d.AuthservID, tt.trust[i], tt.authserv[i])
				}
			}
		})
	}
}

// TestAuthProof: only positive, aligned results from the configured
// authserv-id prove who wrote a mail.
func TestAuthProof(t *testing.T) {
	const mx = "mx.example.test"
	ar := func(results string) string { return mx + "; " + results }
	tests := []struct {
		name     string
		trust    bool
		authserv string
		from     string
		ar       []string
		proven   bool
		why      string // substring of how
	}{
		{"dmarc pass", true, mx, "alice@example.test", []string{ar("dmarc=pass header.from=example.test")}, true, "dmarc=pass"},
		{"dmarc pass without header.from", true, mx, "alice@example.test", []string{ar("dmarc=pass")}, true, "dmarc=pass"},
		{"dmarc pass for another domain", true, mx, "alice@example.test", []string{ar("dmarc=pass header.from=evil.example")}, false, "no dmarc=pass"},
		{"dkim pass, same domain", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=example.test; spf=fail")}, true, "dkim=pass header.d=example.test"},
		{"dkim pass, parent domain", true, mx, "alice@mail.example.test", []string{ar("dkim=pass header.d=Example.Test")}, true, "header.d=example.test"},
		{"dkim pass, subdomain signs for parent", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=mail.example.test")}, false, "no dmarc=pass"},
		{"dkim pass, unaligned", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=evil.example")}, false, "no dmarc=pass"},
		{"dkim pass, look-alike suffix", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=ample.test")}, false, "no dmarc=pass"},
		{"dkim pass, top-level domain", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=test")}, false, "no dmarc=pass"},
		{"dkim pass but dmarc fail", true, mx, "alice@example.test", []string{ar("dkim=pass header.d=example.test; dmarc=fail")}, false, "dmarc=fail"},
		{"dkim fail", true, mx, "alice@example.test", []string{ar("dkim=fail header.d=example.test")}, false, "dkim=fail"},
		{"spf pass alone", true, mx, "alice@example.test", []string{ar("spf=pass smtp.mailfrom=example.test")}, false, "spf=pass"},
		{"spf softfail", true, mx, "alice@example.test", []string{ar("spf=softfail smtp.mailfrom=example.test")}, false, "spf=softfail"},
		{"dmarc none", true, mx, "alice@example.test", []string{ar("dmarc=none header.from=example.test")}, false, "dmarc=none"},
		{"no checks", true, mx, "alice@example.test", []string{ar("none")}, false, "no results"},
		{"no header", true, mx, "alice@example.test", nil, false, "no Authentication-Results from mx.example.test"},
		{"another server's pass", true, mx, "alice@example.test", []string{"mx.evil.example; dmarc=pass header.from=example.test"}, false, "no Authentication-Results"},
		{"forged pass below the server's none", true, mx, "alice@example.test", []string{ar("dmarc=none"), ar("dmarc=pass")}, false, "dmarc=none"},
		{"trust off", false, mx, "alice@example.test", []string{ar("dmarc=pass")}, false, "trust_authentication_results is off"},
		{"no authserv_id", true, "", "alice@example.test", []string{ar("dmarc=pass")}, false, "no authserv_id"},
		{"unreadable", true, mx, "alice@example.test", []string{ar("dmarc=pass; junk")}, false, "unreadable"},
		{"injected pass in a quoted address", true, mx, "alice@example.test",
			[]string{ar(`spf=pass smtp.mailfrom="x; dmarc=pass header.from=example.test"@evil.example`)}, false, "spf=pass"},
		{"case-insensitive authserv-id", true, "MX.Example.TEST", "alice@example.test", []string{ar("dmarc=pass")}, true, "dmarc=pass"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := authDept(tt.trust, tt.authserv)
			how, ok := AuthProof(d, authMsg(tt.from, tt.ar...))
			if ok != tt.proven || !strings.Contains(how, tt.why) {
				t.Errorf("AuthProof = %q, %v; want %v and a reason naming %q", how, ok, tt.proven, tt.why)
			}
		})
	}
	var nilDept *config.Department
	if _, ok := AuthProof(nilDept, authMsg("alice@example.test", ar("dmarc=pass"))); ok {
		t.Errorf("nil department proves a mail")
	}
}

func TestParseAssignable(t *testing.T) {
	const base = `smtp: {host: 127.0.0.1, port: 2525, tls: none}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, port: 1143, tls: none, username: it, password_env: X}
    staff: [alice@example.test]
    leads: [lead@example.test]
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories: {default: {commitment: 1d}}
    rules: [{name: r, category: default, match: {subject: x}}]
`
	cfg, probs := configProblems(t, "/etc/ackd/config.yaml", []byte(base))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	d := cfg.Departments[0]
	if d.Assignable != nil || !MayAssign(d, "Alice@Example.test") || !MayAssign(d, "lead@example.test") || MayAssign(d, "bob@example.test") {
		t.Errorf("default: assignable %q, staff/lead/other = %v %v %v", d.Assignable,
			MayAssign(d, "Alice@Example.test"), MayAssign(d, "lead@example.test"), MayAssign(d, "bob@example.test"))
	}
	cfg, probs = configProblems(t, "/etc/ackd/config.yaml", []byte(base+`    assignable: ["*@Contractor.example", "tom@partner.example"]`+"\n"))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	d = cfg.Departments[0]
	for addr, want := range map[string]bool{"ann@contractor.example": true, "tom@partner.example": true,
		"tim@partner.example": false, "x@evil.example": false, "": false} {
		if got := MayAssign(d, addr); got != want {
			t.Errorf("MayAssign(%q) = %v, want %v", addr, got, want)
		}
	}
	_, probs = configProblems(t, "/etc/ackd/config.yaml", []byte(base+`    assignable: ["[bad", ""]`+"\n"))
	if len(probs) != 2 || !strings.Contains(probs.Error(), "config.yaml:12:18: assignable: bad glob") ||
		!strings.Contains(probs.Error(), "assignable: empty pattern") {
		t.Errorf("problems %v, want a bad glob at 12:18 and an empty pattern", probs)
	}
}

// configProblems loads a config as the daemon does and returns its
// problems; the config is nil when there are any.
func configProblems(t *testing.T, file string, data []byte) (*config.Config, config.Problems) {
	t.Helper()
	cfg, _, err := Parse(file, data)
	var ps config.Problems
	if err != nil && !errors.As(err, &ps) {
		t.Fatal(err)
	}
	return cfg, ps
}
