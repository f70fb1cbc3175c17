package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
)

// updateGolden says whether -update was given. The flag may already be
// defined by another test file of this package; then that one is read.
var updateGolden = lookupBoolFlag("update", "rewrite golden files under testdata")

func lookupBoolFlag(name, usage string) func() bool {
	if f := flag.Lookup(name); f != nil {
		return func() bool { return f.Value.String() == "true" }
	}
	b := flag.Bool(name, false, usage)
	return func() bool { return *b }
}

// configProblems parses data and returns its problems.
func configProblems(t *testing.T, file string, data []byte) (*Config, Problems) {
	t.Helper()
	cfg, ps := parseConfig(file, filepath.Dir(file), data)
	return cfg, ps
}

func TestParseGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 10 {
		t.Fatalf("found %d test configs, want the whole testdata/config set", len(files))
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".yaml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, ps := configProblems(t, file, data)
			var b strings.Builder
			for _, p := range ps {
				b.WriteString(p.Error())
				b.WriteByte('\n')
			}
			got := b.String()
			want := strings.TrimSuffix(file, ".yaml") + ".want"
			if updateGolden() {
				if err := os.WriteFile(want, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			wantData, err := os.ReadFile(want)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(wantData) {
				t.Errorf("problems differ from %s\n--- got\n%s--- want\n%s", want, got, wantData)
			}
			// Every broken config must also fail through the public API,
			// and with a Problems value.
			_, perr := Parse(file, data)
			if len(ps) > 0 {
				var probs Problems
				if !errors.As(perr, &probs) {
					t.Errorf("Parse error %v (%T), want Problems", perr, perr)
				}
			}
		})
	}
}

// TestManyProblemsAllReported checks a file with one mistake in nearly every
// section reports each one, not just the first.
func TestManyProblemsAllReported(t *testing.T) {
	data := []byte(`store: {driver: sqlite, dsn: ackd.db}
smtp: {host: smtp.example.test, port: 587, tls: none}
http: {listen: nowhere}
limits: {per_sender_per_hour: 0}
departments:
  - name: IT
    address: it-help
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW, poll_interval: often}
    staff: [alice@example.test]
    allowed_senders: ["[*@example.test"]
    calendar: {timezone: Nowhere/Town}
    digest: {to: [alice@example.test], at: "noon"}
    categories:
      access: {comitment: 4h, escalate: [{at: 50%, to: managers}]}
    rules:
      - {name: r1, match: {subject: x}, category: acces}
      - {name: r1, match: {subject: y}, category: access}
`)
	want := []struct {
		line int
		msg  string
	}{
		{2, "tls: none is allowed only for loopback hosts"},
		{3, `listen: "nowhere" is not host:port`},
		{4, "per_sender_per_hour: 0 is out of range"},
		{7, `address: invalid email address "it-help"`},
		{8, `poll_interval: "often" is not a duration`},
		{10, `allowed_senders: bad glob "[*@example.test"`},
		{11, `timezone: unknown time zone "Nowhere/Town"`},
		{12, `at: "noon" is not a time of day`},
		{14, `missing the "default" category`},
		{14, `category "access": unknown key "comitment" (did you mean "commitment"?)`},
		{14, `to: "managers" is not staff, leads or an email address`},
		{16, `category "acces" does not exist (did you mean "access"?)`},
		{17, `duplicate rule name "r1" (first at line 16)`},
	}
	_, ps := configProblems(t, "many.yaml", data)
	if len(ps) != len(want) {
		t.Errorf("got %d problems, want %d:\n%v", len(ps), len(want), ps)
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			if p.Line == w.line && strings.Contains(p.Msg, w.msg) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no problem at line %d containing %q; got:\n%v", w.line, w.msg, ps)
		}
	}
}

// TestInlinePasswordNeverEchoed checks no problem text repeats a secret,
// wherever it was written and however broken the file around it is.
func TestInlinePasswordNeverEchoed(t *testing.T) {
	const secret = "Tr0ub4dor-and-3-horse-staple"
	base := func(smtpExtra, imapExtra, matchExtra string) string {
		return `smtp: {host: 127.0.0.1, port: 2525, tls: none, username: ackd` + smtpExtra + `}
departments:
  - name: IT
    address: it@example.test
    imap: {host: 127.0.0.1, username: it, password_env: IMAP_PW` + imapExtra + `}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x` + matchExtra + `}, category: default}
`
	}
	tests := []struct {
		name    string
		config  string
		refused bool // an "inline password refused" problem is expected
	}{
		{"smtp", base(", password: "+secret, "", ""), true},
		{"imap", base("", ", password: "+secret, ""), true},
		{"quoted", base(", password: '"+secret+"'", "", ""), true},
		{"inside match", base("", "", ", password: "+secret), true},
		{"top level", "password: " + secret + "\n" + base("", "", ""), true},
		{"wrong kind around it", "smtp: [{password: " + secret + "}]\ndepartments: []\n", true},
		{"typo key", base(", pasword: "+secret, "", ""), false},
		{"as wrong type", base(", password_env: ["+secret+"]", "", ""), false},
		{"postgres url", "store: {driver: postgres, dsn: 'postgres://u:" + secret + "@127.0.0.1/db'}\n" + base("", "", ""), true},
		{"postgres url query", "store: {driver: postgres, dsn: 'postgres://u@127.0.0.1/db?sslmode=verify-full&password=" + secret + "'}\n" + base("", "", ""), true},
		{"postgres url unparsable", "store: {driver: postgres, dsn: 'postgres://u:" + secret + "@127.0.0.1:port/db'}\n" + base("", "", ""), true},
		{"postgres keywords", "store: {driver: postgres, dsn: 'host=127.0.0.1 password=" + secret + "'}\n" + base("", "", ""), true},
		{"broken yaml", "smtp: {host: 127.0.0.1, password: \"" + secret + "\n", false},
		{"anchor", "x-secret: &s " + secret + "\n" + base(", password: *s", "", ""), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ps := parseConfig("config.yaml", ".", []byte(tt.config))
			if len(ps) == 0 {
				t.Fatal("no problems reported")
			}
			refused := false
			for _, p := range ps {
				if strings.Contains(p.Error(), secret) {
					t.Errorf("problem echoes the secret: %s", p.Error())
				}
				if strings.Contains(p.Msg, "inline password refused: use password_env or password_file") {
					refused = true
				}
			}
			if refused != tt.refused {
				t.Errorf("inline password refused = %v, want %v; problems:\n%v", refused, tt.refused, ps)
			}
		})
	}
}

const minimalConfigYAML = `smtp: {host: 127.0.0.1}
departments:
  - name: IT Help Desk
    address: IT-Help@Example.test
    aliases: [Helpdesk@Example.test]
    imap: {host: 127.0.0.1, username: it, password_file: secrets/imap}
    allowed_senders: ["*@example.test"]
    calendar: {timezone: Europe/Berlin}
    categories:
      default: {commitment: 3d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
  - name: Payroll
    address: payroll@example.test
    imap: {host: 127.0.0.1, tls: starttls, username: pay, password_env: PAY_PW}
    allowed_senders: ["*"]
    calendar: {timezone: UTC}
    categories:
      default: {commitment: 1d}
    rules:
      - {name: r1, match: {subject: x}, category: default}
`

func TestParseDefaults(t *testing.T) {
	cfg, ps := configProblems(t, "/etc/ackd/config.yaml", []byte(minimalConfigYAML))
	if len(ps) > 0 {
		t.Fatalf("unexpected problems:\n%v", ps)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"file", cfg.File, "/etc/ackd/config.yaml"},
		{"store driver", cfg.Store.Driver, "sqlite"},
		{"store dsn resolved", cfg.Store.DSN, "/etc/ackd/ackd.db"},
		{"smtp port", cfg.SMTP.Port, 587},
		{"smtp tls", cfg.SMTP.TLS, TLSStartTLS},
		{"smtp timeout", cfg.SMTP.Timeout, 30 * time.Second},
		{"smtp keep_alive", cfg.SMTP.KeepAlive, 30 * time.Second},
		{"http listen", cfg.HTTP.Listen, "127.0.0.1:8025"},
		{"templates", cfg.Templates, ""},
		{"per sender", cfg.Limits.PerSenderPerHour, 10},
		{"global", cfg.Limits.GlobalPerMinute, 60},
		{"max message", cfg.Limits.MaxMessageBytes, int64(25 << 20)},
		{"max text", cfg.Limits.MaxTextBytes, 65536},
		{"departments", len(cfg.Departments), 2},
		{"address bare", cfg.Departments[0].Address, "IT-Help@Example.test"},
		{"imap tls", cfg.Departments[0].IMAP.TLS, TLSImplicit},
		{"imap port implicit", cfg.Departments[0].IMAP.Port, 993},
		{"imap port starttls", cfg.Departments[1].IMAP.Port, 143},
		{"imap mailbox", cfg.Departments[0].IMAP.Mailbox, "INBOX"},
		{"imap idle", cfg.Departments[0].IMAP.IDLE, true},
		{"imap poll", cfg.Departments[0].IMAP.PollInterval, 60 * time.Second},
		{"password file resolved", cfg.Departments[0].IMAP.Password.File, "/etc/ackd/secrets/imap"},
		{"password env", cfg.Departments[1].IMAP.Password.Env, "PAY_PW"},
		{"rules", len(cfg.Departments[0].Rules), 1},
		{"rule category", cfg.Departments[0].Rules[0].Category, "default"},
		{"others of IT", strings.Join(cfg.Departments[0].Others, ","), "payroll@example.test"},
		{"others of payroll", strings.Join(cfg.Departments[1].Others, ","), "it-help@example.test,helpdesk@example.test"},
		{"default category", cfg.Departments[0].Categories["default"].Name, "default"},
	}
	{
		def := cfg.Departments[0].Categories["default"]
		checks = append(checks,
			struct {
				name      string
				got, want any
			}{"followup defaults to commitment", def.Followup, calendar.Commitment{Days: 3}},
			struct {
				name      string
				got, want any
			}{"grace defaults to half", def.Grace, calendar.Commitment{Business: 12 * time.Hour}},
		)
		if cfg.Departments[0].Calendar == nil {
			t.Error("calendar not built")
		}
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

func TestParseSMTPPortAndTLS(t *testing.T) {
	tests := []struct {
		smtp     string
		port     int
		tls      string
		insecure bool
	}{
		{"{host: 127.0.0.1}", 587, TLSStartTLS, false},
		{"{host: 127.0.0.1, port: 465}", 465, TLSImplicit, false},
		{"{host: 127.0.0.1, tls: implicit}", 465, TLSImplicit, false},
		{"{host: 127.0.0.1, port: 465, tls: starttls}", 465, TLSStartTLS, false},
		{"{host: 127.0.0.1, port: 2525, tls: none}", 2525, TLSNone, false},
		{"{host: localhost, port: 2525, insecure_skip_verify: true}", 2525, TLSStartTLS, true},
		{"{host: 127.8.9.10, port: 2525, tls: none}", 2525, TLSNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.smtp, func(t *testing.T) {
			data := strings.Replace(minimalConfigYAML, "smtp: {host: 127.0.0.1}", "smtp: "+tt.smtp, 1)
			cfg, ps := configProblems(t, "config.yaml", []byte(data))
			if len(ps) > 0 {
				t.Fatalf("unexpected problems:\n%v", ps)
			}
			if cfg.SMTP.Port != tt.port || cfg.SMTP.TLS != tt.tls || cfg.SMTP.InsecureSkipVerify != tt.insecure {
				t.Errorf("port, tls, insecure = %d, %q, %v; want %d, %q, %v",
					cfg.SMTP.Port, cfg.SMTP.TLS, cfg.SMTP.InsecureSkipVerify, tt.port, tt.tls, tt.insecure)
			}
		})
	}
}

func TestParseEscalationSteps(t *testing.T) {
	data := strings.Replace(minimalConfigYAML, "default: {commitment: 3d}",
		"default: {commitment: 3d, escalate: [{at: 50%, to: staff}, {at: 0.9, to: \"Boss <boss@example.test>\"}, {before_due: 2h, to: leads}]}", 1)
	data = strings.Replace(data, `allowed_senders: ["*@example.test"]`,
		`allowed_senders: ["*@example.test"]`+"\n    staff: [a@example.test]\n    leads: [l@example.test]", 1)
	cfg, ps := configProblems(t, "config.yaml", []byte(data))
	if len(ps) > 0 {
		t.Fatalf("unexpected problems:\n%v", ps)
	}
	got := cfg.Departments[0].Categories["default"].Escalate
	want := []EscalationStep{
		{At: 0.5, To: "staff"},
		{At: 0.9, To: "boss@example.test"},
		{BeforeDue: 2 * time.Hour, To: "leads"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d steps, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func TestHalfCommitment(t *testing.T) {
	day := []calendar.Span{{Start: 9 * time.Hour, End: 12 * time.Hour}, {Start: 13 * time.Hour, End: 17 * time.Hour}}
	tests := []struct {
		in, want calendar.Commitment
	}{
		{calendar.Commitment{Business: 4 * time.Hour}, calendar.Commitment{Business: 2 * time.Hour}},
		{calendar.Commitment{Days: 4}, calendar.Commitment{Days: 2}},
		{calendar.Commitment{Days: 3}, calendar.Commitment{Business: 3 * 7 * time.Hour / 2}},
		{calendar.Commitment{Days: 1}, calendar.Commitment{Business: 7 * time.Hour / 2}},
	}
	for _, tt := range tests {
		if got := halfCommitment(tt.in, day); got != tt.want {
			t.Errorf("halfCommitment(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	if got := halfCommitment(calendar.Commitment{Days: 1}, nil); got != (calendar.Commitment{Days: 1}) {
		t.Errorf("halfCommitment(1d) without hours = %+v, want 1d", got)
	}
}

// TestCalendarParserErrorsPointAtValue works with the stub parsers and the
// real ones alike: both refuse these values.
func TestCalendarParserErrorsPointAtValue(t *testing.T) {
	data := strings.Replace(minimalConfigYAML, "default: {commitment: 3d}", "default: {commitment: soon}", 1)
	data = strings.Replace(data, "calendar: {timezone: Europe/Berlin}",
		"calendar: {timezone: Europe/Berlin, workdays: [funday], hours: \"nine to five\", holidays: [\"christmas\"]}", 1)
	_, ps := parseConfig("config.yaml", ".", []byte(data))
	want := []string{
		`config.yaml:8:52: workdays: "funday": `,
		`config.yaml:8:68: hours: "nine to five": `,
		`config.yaml:8:95: holidays: "christmas": `,
		`config.yaml:10:29: commitment: "soon": `,
	}
	for _, w := range want {
		found := false
		for _, p := range ps {
			found = found || strings.HasPrefix(p.Error(), w)
		}
		if !found {
			t.Errorf("no problem starting %q in:\n%v", w, ps)
		}
	}
}

func TestUnknownPublicHolidays(t *testing.T) {
	data := strings.Replace(minimalConfigYAML, "calendar: {timezone: UTC}", "calendar: {timezone: UTC, public_holidays: XX-NOWHERE}", 1)
	_, ps := parseConfig("config.yaml", ".", []byte(data))
	if !strings.Contains(ps.Error(), `config.yaml:17:48:`) || !strings.Contains(ps.Error(), `unknown holiday set "XX-NOWHERE"`) {
		t.Errorf("want an unknown holiday set problem at 17:48, got:\n%v", ps)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte(minimalConfigYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(file)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"))
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "load config") {
		t.Errorf("Load(missing) = %v, want a wrapped not-exist error naming the operation", err)
	}
}

func TestLoadResolvesRelativeToConfigDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "config.yaml")
	data := "templates: tmpl\n" + strings.Replace(minimalConfigYAML, "smtp: {host: 127.0.0.1}",
		"smtp: {host: 127.0.0.1, ca_file: ca.pem}", 1)
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	// Load only returns a config without problems; use the same path
	// through parse with the directory Load would use.
	cfg, ps := configProblems(t, file, []byte(data))
	if len(ps) > 0 {
		t.Fatalf("unexpected problems:\n%v", ps)
	}
	for name, got := range map[string]string{
		"dsn":       cfg.Store.DSN,
		"templates": cfg.Templates,
		"ca_file":   cfg.SMTP.CAFile,
		"imap pw":   cfg.Departments[0].IMAP.Password.File,
	} {
		if !strings.HasPrefix(got, dir+string(filepath.Separator)) {
			t.Errorf("%s = %q, want it under %s", name, got, dir)
		}
	}
}

func TestExampleConfigLoads(t *testing.T) {
	cfg, err := Load("../config.yaml")
	if err != nil {
		t.Fatalf("the example config.yaml has problems:\n%v", err)
	}
	d := cfg.Departments[0]
	if len(d.Rules) < 6 || len(d.Categories) < 5 {
		t.Errorf("example has %d rules over %d categories, want a realistic desk", len(d.Rules), len(d.Categories))
	}
}

// TestExampleConfigStructure checks that the example config parses from its
// bytes (as `ackd demo` embeds it) and shows both ways of naming a secret.
func TestExampleConfigStructure(t *testing.T) {
	data, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, ps := configProblems(t, "../config.yaml", data)
	if len(ps) > 0 {
		t.Fatalf("the example config.yaml has problems:\n%v", ps)
	}
	if cfg.SMTP.Password.Env == "" || cfg.Departments[0].IMAP.Password.File == "" {
		t.Error("the example should show both password_env and password_file")
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"commitment", "followup", "grace", "escalate", "closing"}
	tests := map[string]string{
		"comitment":   "commitment",
		"Commitment":  "commitment",
		"escalation":  "escalate",
		"grcae":       "grace",
		"colour":      "",
		"x":           "",
		"description": "",
	}
	for in, want := range tests {
		if got := nearestKey(in, keys); got != want {
			t.Errorf("nearestKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/config/*.yaml")
	seeds = append(seeds, "../config.yaml")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(minimalConfigYAML))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil {
				t.Fatal("nil config without error")
			}
			return
		}
		var ps Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("error %v (%T) is not a non-empty Problems", err, err)
		}
		for _, p := range ps {
			if p.Line <= 0 {
				t.Errorf("problem without a line: %q", p.Error())
			}
			if p.File != "fuzz.yaml" {
				t.Errorf("problem names file %q: %q", p.File, p.Error())
			}
		}
	})
}

func TestParseSMTPKeepAlive(t *testing.T) {
	tests := []struct {
		smtp    string
		want    time.Duration
		problem string // a substring of the one problem, "" for none
	}{
		{"{host: 127.0.0.1}", 30 * time.Second, ""},
		{"{host: 127.0.0.1, keep_alive: 2m}", 2 * time.Minute, ""},
		{"{host: 127.0.0.1, keep_alive: 0}", 0, ""},
		{"{host: 127.0.0.1, keep_alive: 0s}", 0, ""},
		{"{host: 127.0.0.1, keep_alive: 30}", 30 * time.Second, `config.yaml:1:37: keep_alive: "30" needs a unit`},
		{"{host: 127.0.0.1, keep_alive: -1s}", 30 * time.Second, "config.yaml:1:37: keep_alive: must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.smtp, func(t *testing.T) {
			data := strings.Replace(minimalConfigYAML, "smtp: {host: 127.0.0.1}", "smtp: "+tt.smtp, 1)
			cfg, ps := configProblems(t, "config.yaml", []byte(data))
			if tt.problem == "" {
				if len(ps) > 0 {
					t.Fatalf("unexpected problems:\n%v", ps)
				}
				if cfg.SMTP.KeepAlive != tt.want {
					t.Errorf("keep_alive = %s, want %s", cfg.SMTP.KeepAlive, tt.want)
				}
				return
			}
			if len(ps) != 1 || !strings.Contains(ps[0].Error(), tt.problem) {
				t.Fatalf("problems = %v, want one with %q", ps, tt.problem)
			}
		})
	}
}
