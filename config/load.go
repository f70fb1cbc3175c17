package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ackd/ackd/lang"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/internal/addrspec"
	"github.com/ackd/ackd/internal/loopback"
	"github.com/ackd/ackd/internal/pgdsn"
)

// DefaultCategory is the category every department has: it catches the
// mail no rule matched.
const DefaultCategory = "default"

// Defaults for keys a config may leave out.
const (
	DefaultStoreDriver     = "sqlite"
	DefaultStoreDSN        = "ackd.db"
	DefaultSMTPPort        = 587
	DefaultSMTPTimeout     = 30 * time.Second
	DefaultSMTPKeepAlive   = 30 * time.Second
	DefaultHTTPListen      = "127.0.0.1:8025"
	DefaultPushListen      = "127.0.0.1:8026"
	DefaultMailbox         = "INBOX"
	DefaultPollInterval    = 60 * time.Second
	DefaultHours           = "09:00-17:00"
	DefaultPerSenderHour   = 10
	DefaultGlobalPerMinute = 60
	DefaultMaxMessageBytes = 25 << 20
	DefaultMaxTextBytes    = 64 << 10
)

// Per-request daily caps (limits.escalations_per_request_per_day and
// limits.relays_per_request_per_day).
const (
	// A bad day for one request: two or three rungs of its ladder, an
	// overdue step and a couple of reminders (each escalates at once).
	// More escalations of the same request in a day tell staff nothing
	// new; they are the loop or the stranger chasing a thread.
	DefaultEscalationsPerRequestDay = 6
	// A lively exchange through ackd (staff writing to the department,
	// ackd passing it on) seldom needs ten answers on one request a day;
	// a walk over REQ-1…REQ-n or a mail loop does.
	DefaultRelaysPerRequestDay = 10
)

// Load reads and validates a config file. A config with problems returns a
// Problems error listing all of them. Relative paths in the file are
// resolved against the file's directory, made absolute so that the daemon's
// working directory does not matter.
//
// Rules' match: clauses are kept as written (Rule.Match); they are checked
// only when an option such as CheckMatches says how. rules.Load does, so
// that `ackd check` reports a bad pattern with every other problem.
func Load(path string, opts ...Option) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	cfg, probs := parseConfig(path, dir, data, opts...)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// Parse validates config bytes; file names the source in problems, and its
// directory is the base for relative paths.
func Parse(file string, data []byte, opts ...Option) (*Config, error) {
	cfg, probs := parseConfig(file, filepath.Dir(file), data, opts...)
	if len(probs) > 0 {
		return nil, probs
	}
	return cfg, nil
}

// An Option changes how Load and Parse read a file.
type Option func(*loader)

// A MatchChecker checks one rule's match: clause (n, aliases followed) in
// the file named file and returns its problems. A problem without a line
// is placed at the clause.
type MatchChecker func(n *yaml.Node, file string) Problems

// CheckMatches has the loader check every rule's match: clause with f, the
// language of which config does not know. f's problems are sorted, merged
// and redacted with the loader's own, so one run reports everything.
func CheckMatches(f MatchChecker) Option {
	return func(l *loader) { l.matchCheck = f }
}

// parseConfig does the work of Parse and also returns the config built so far when
// there are problems, so tests can check defaults one field at a time.
func parseConfig(file, dir string, data []byte, opts ...Option) (cfg *Config, probs Problems) {
	l := &loader{file: file, dir: dir}
	for _, o := range opts {
		o(l)
	}
	cfg = &Config{File: file}
	root := l.document(data)
	var secrets []string
	if root != nil {
		secrets = l.scanPasswords(root, map[*yaml.Node]bool{})
		l.config(root, cfg)
	}
	probs = l.sorted()
	redactSecrets(probs, secrets)
	return cfg, probs
}

// checkMatch checks a rule's match: clause with the loader's MatchChecker,
// if it has one.
func (l *loader) checkMatch(v *yaml.Node) {
	if l.matchCheck == nil {
		return
	}
	for _, p := range l.matchCheck(v, l.file) {
		if p.File == "" {
			p.File = l.file
		}
		if p.Line <= 0 {
			p.Line, p.Col = v.Line, v.Column
		}
		l.probs = append(l.probs, p)
	}
}

// document parses data into its root node, reporting syntax errors, empty
// files and extra documents. yaml.v3 is not known to panic on any input,
// but a config loader must never take the daemon down on a SIGHUP, so a
// panic in the parser becomes a problem too.
func (l *loader) document(data []byte) (root *yaml.Node) {
	defer func() {
		if r := recover(); r != nil {
			l.at(nil, "yaml parser failed: %v", r)
			root = nil
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.at(nil, "config is empty")
		} else {
			l.syntax(err)
		}
		return nil
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		l.at(&extra, "only one YAML document is allowed; remove the second ---")
	case !errors.Is(err, io.EOF):
		l.syntax(err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		l.at(&doc, "config is empty")
		return nil
	}
	root = followAlias(doc.Content[0])
	if root == nil || (root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null") {
		l.at(&doc, "config is empty")
		return nil
	}
	return root
}

// scanPasswords reports every `password` key anywhere in the tree, including
// places the schema walk never reaches (a match expression, a mapping of
// the wrong kind), and returns the values so they can be scrubbed from any
// message a library may have built.
func (l *loader) scanPasswords(n *yaml.Node, seen map[*yaml.Node]bool) []string {
	if n == nil || seen[n] {
		return nil
	}
	seen[n] = true
	var vals []string
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], followAlias(n.Content[i+1])
			if k.Kind == yaml.ScalarNode && k.Value == "password" {
				l.at(k, inlinePassword)
				if v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
					vals = append(vals, v.Value)
				}
			}
		}
	}
	for _, c := range n.Content {
		vals = append(vals, l.scanPasswords(c, seen)...)
	}
	if n.Alias != nil {
		vals = append(vals, l.scanPasswords(n.Alias, seen)...)
	}
	return vals
}

// redactSecrets replaces inline password values in problem messages. The loader
// never formats those values itself; this guards against a library message
// (the matcher's, yaml's) quoting a line that holds one. Very short values
// are left alone: they would shred every message and protect nothing.
func redactSecrets(probs Problems, secrets []string) {
	for _, s := range secrets {
		if len(s) < 4 {
			continue
		}
		for i := range probs {
			probs[i].Msg = strings.ReplaceAll(probs[i].Msg, s, "[redacted]")
		}
	}
}

// resolve makes a relative path relative to the config file's directory.
func (l *loader) resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(l.dir, p)
}

func (l *loader) config(root *yaml.Node, cfg *Config) {
	m := l.mapping(root, "config", "store", "smtp", "http", "templates", "limits", "departments",
		"trust_authentication_results", "authserv_id", "ha", "backfill", "max_age", "reload", "rule_tests", "push")
	if m == nil {
		return
	}
	l.admin(m, cfg)
	l.require(m, "config", "smtp", "departments")
	l.store(m.get("store"), &cfg.Store)
	cfg.HA = l.ha(m.get("ha"), cfg.Store.Driver)
	l.smtp(m.get("smtp"), &cfg.SMTP)
	cfg.HTTP.Listen = DefaultHTTPListen
	l.http(m.get("http"), &cfg.HTTP)
	cfg.Push = l.push(m.get("push"))
	if n := m.get("templates"); n != nil {
		if s, ok := l.str(n, "templates"); ok {
			if s == "" {
				l.at(n, "templates: empty path; leave the key out to use the built-in templates")
			}
			cfg.Templates = l.resolve(s)
		}
	}
	l.limits(m.get("limits"), &cfg.Limits)
	l.authResults(m, &cfg.TrustAuthenticationResults, &cfg.AuthservID)
	cfg.MaxAge = DefaultMaxAge
	l.topHistory = l.history(m, &cfg.Backfill, &cfg.MaxAge)
	if n := m.get("departments"); n != nil {
		cfg.Departments = l.departments(n, cfg)
	}
}

func (l *loader) http(n *yaml.Node, hc *HTTPConfig) {
	hm := l.mapping(n, "http", "listen", "basic_auth_user", "basic_auth_password_file")
	if hm == nil {
		return
	}
	if n := hm.get("listen"); n != nil {
		if s, ok := l.str(n, "listen"); ok {
			hc.Listen = s
			l.listenAddr(n, s)
		}
	}
	if v := hm.get("basic_auth_user"); v != nil {
		if s, ok := l.str(v, "basic_auth_user"); ok {
			switch {
			case s == "":
				l.at(v, "basic_auth_user: empty; leave the key out to serve without a password")
			case strings.ContainsAny(s, ":\r\n"):
				// RFC 7617: the user-id cannot hold a colon.
				l.at(v, "basic_auth_user: %q must not contain a colon or a line break", s)
			}
			hc.BasicAuthUser = s
		}
	}
	if v := hm.get("basic_auth_password_file"); v != nil {
		if s, ok := l.str(v, "basic_auth_password_file"); ok {
			if s == "" {
				l.at(v, "basic_auth_password_file: empty path")
			}
			hc.BasicAuthPasswordFile = l.resolve(s)
		}
	}
	switch {
	case hm.has("basic_auth_user") && !hm.has("basic_auth_password_file") && !hm.hinted["basic_auth_password_file"]:
		l.at(hm.keyNode("basic_auth_user"), "http: basic_auth_user needs basic_auth_password_file (the password is read from a file, never written here)")
	case hm.has("basic_auth_password_file") && !hm.has("basic_auth_user"):
		l.at(hm.keyNode("basic_auth_password_file"), "http: basic_auth_password_file needs basic_auth_user")
	}
}

// push reads the push: section; nil when absent.
func (l *loader) push(n *yaml.Node) *PushConfig {
	if n == nil {
		return nil
	}
	m := l.mapping(n, "push", "listen", "password_env", "password_file")
	if m == nil {
		return nil
	}
	pc := &PushConfig{Listen: DefaultPushListen}
	if v := m.get("listen"); v != nil {
		if s, ok := l.str(v, "listen"); ok {
			if s == "" {
				l.at(v, "listen: empty; leave the push: section out to receive no pushes")
			}
			pc.Listen = s
			l.listenAddr(v, s)
		}
	}
	pc.Password = l.secret(m, "push")
	inline := false // an inline password was refused already
	for i := 0; i+1 < len(m.node.Content); i += 2 {
		inline = inline || m.node.Content[i].Value == "password"
	}
	if !pc.Password.IsSet() && !inline && !m.hinted["password_env"] && !m.hinted["password_file"] {
		l.at(m.node, "push: needs password_env or password_file: the shared secret the IMAP server must present (ackd takes no unauthenticated wake-ups)")
	}
	return pc
}

func (l *loader) listenAddr(n *yaml.Node, s string) {
	if s == "" {
		return // explicitly disabled
	}
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		l.at(n, "listen: %q is not host:port: %v", s, err)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		l.at(n, "listen: port %q is not a number from 0 to 65535", port)
	}
}

func (l *loader) store(n *yaml.Node, st *StoreConfig) {
	st.Driver = DefaultStoreDriver
	m := l.mapping(n, "store", "driver", "dsn", "password_env", "password_file")
	dsnOK := false
	if m != nil {
		if v := m.get("driver"); v != nil {
			// An unknown driver is kept too, so nothing after it is judged
			// as if it were sqlite.
			if s, _ := l.choice(v, "driver", "sqlite", "postgres"); s != "" {
				st.Driver = s
			}
		}
		if v := m.get("dsn"); v != nil {
			// The DSN is never quoted in messages: it may hold a password.
			if s, ok := l.str(v, "dsn"); ok {
				switch {
				case s == "":
					l.at(v, "dsn: empty")
				case pgdsn.HasPassword(s):
					l.at(v, "dsn: "+inlinePassword)
				default:
					dsnOK = true
				}
				st.DSN = s
			}
		}
		sec := l.secret(m, "store")
		st.PasswordEnv, st.PasswordFile = sec.Env, sec.File
		if st.Driver == "sqlite" && sec.IsSet() {
			l.at(m.node, "store: sqlite takes no password; password_env and password_file are for postgres")
		}
	}
	switch st.Driver {
	case "sqlite":
		if st.DSN == "" {
			st.DSN = DefaultStoreDSN
		}
		if st.DSN != ":memory:" && !strings.HasPrefix(st.DSN, "file:") {
			st.DSN = l.resolve(st.DSN)
		}
	case "postgres":
		if !m.has("dsn") {
			l.at(m.node, "store: postgres needs a dsn")
		} else if dsnOK {
			l.postgresTLS(m.get("dsn"), st.DSN)
		}
	}
}

// postgresTLS refuses a DSN that could reach a remote PostgreSQL without
// verifying its certificate, as transport does for IMAP and SMTP; the
// store's Open refuses it too. Loopback hosts and unix sockets may use any
// sslmode. Messages name the host, never the DSN.
func (l *loader) postgresTLS(n *yaml.Node, dsn string) {
	d, err := pgdsn.Parse(dsn)
	if err != nil {
		l.at(n, "dsn: %v", err)
		return
	}
	if p := d.Problem(); p != "" {
		l.at(n, "dsn: %s", p)
	}
}

// secret reads password_env / password_file from m; at most one may be set.
func (l *loader) secret(m *cfgMapping, what string) Secret {
	var s Secret
	if v := m.get("password_env"); v != nil {
		if e, ok := l.str(v, "password_env"); ok {
			if e == "" {
				l.at(v, "password_env: empty variable name")
			}
			s.Env = e
		}
	}
	if v := m.get("password_file"); v != nil {
		if f, ok := l.str(v, "password_file"); ok {
			if f == "" {
				l.at(v, "password_file: empty path")
			}
			s.File = l.resolve(f)
		}
	}
	if m.has("password_env") && m.has("password_file") {
		l.at(m.keyNode("password_file"), "%s: set only one of password_env and password_file", what)
	}
	return s
}

// tlsMode reads a tls: key.
func (l *loader) tlsMode(m *cfgMapping) (string, bool) {
	v := m.get("tls")
	if v == nil {
		return "", false
	}
	s, ok := l.str(v, "tls")
	if !ok {
		return "", false
	}
	switch s {
	case TLSImplicit, TLSStartTLS, TLSNone:
		return s, true
	}
	l.at(v, "tls: %q is not implicit, starttls or none", s)
	return "", false
}

// host reads a host name or IP address without a port.
func (l *loader) host(m *cfgMapping, what string) string {
	v := m.get("host")
	if v == nil {
		return ""
	}
	s, ok := l.str(v, "host")
	if !ok {
		return ""
	}
	switch {
	case s == "":
		l.at(v, "%s: host is empty", what)
	case strings.ContainsAny(s, " \t/@"):
		l.at(v, "%s: host %q is not a host name or IP address", what, s)
	case strings.Contains(s, ":") && net.ParseIP(strings.Trim(s, "[]")) == nil:
		l.at(v, "%s: host %q includes a port; put the port in port:", what, s)
	}
	return s
}

// transport checks what TLS settings may be used against host.
func (l *loader) transport(m *cfgMapping, what, host, tls string, insecure bool) {
	if host == "" || loopback.Host(host) {
		return
	}
	if tls == TLSNone {
		l.at(m.get("tls"), "%s: tls: none is allowed only for loopback hosts (localhost, 127.0.0.1, ::1), not %q", what, host)
	}
	if insecure {
		l.at(m.get("insecure_skip_verify"), "%s: insecure_skip_verify is allowed only for loopback hosts, not %q", what, host)
	}
}

// duration reads a positive Go duration such as 60s or 1m30s.
func (l *loader) duration(n *yaml.Node, key string) (time.Duration, bool) {
	s, ok := l.str(n, key)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			l.at(n, "%s: %q needs a unit, like %ss", key, s, s)
		} else {
			l.at(n, "%s: %q is not a duration like 30s, 5m or 1h30m", key, s)
		}
		return 0, false
	}
	if d <= 0 {
		l.at(n, "%s: must be positive, got %s", key, s)
		return 0, false
	}
	return d, true
}

func (l *loader) smtp(n *yaml.Node, sc *SMTPConfig) {
	sc.Port, sc.TLS, sc.Timeout = DefaultSMTPPort, TLSStartTLS, DefaultSMTPTimeout
	sc.KeepAlive = DefaultSMTPKeepAlive
	m := l.mapping(n, "smtp", "host", "port", "tls", "username", "password_env", "password_file",
		"ca_file", "insecure_skip_verify", "timeout", "keep_alive", "provider", "oauth2")
	if m == nil {
		return
	}
	provider, pre := l.provider(m, "smtp")
	sc.Provider = provider
	if pre.smtpHost == "" {
		l.require(m, "smtp", "host")
	}
	if sc.Host = l.host(m, "smtp"); sc.Host == "" && !m.has("host") {
		sc.Host = pre.smtpHost
	}
	tls, tlsSet := l.tlsMode(m)
	if v := m.get("port"); v != nil {
		if p, ok := l.integer(v, "port", 1, 65535); ok {
			sc.Port = int(p)
		}
	}
	switch {
	case tlsSet:
		sc.TLS = tls
		// Implicit TLS on the submission port would never connect; 465 is
		// its port (RFC 8314).
		if tls == TLSImplicit && !m.has("port") {
			sc.Port = 465
		}
	case sc.Port == 465:
		sc.TLS = TLSImplicit
	}
	if v := m.get("username"); v != nil {
		if s, ok := l.str(v, "username"); ok {
			sc.Username = s
		}
	}
	sc.Password = l.secret(m, "smtp")
	if v := m.get("oauth2"); v != nil {
		sc.OAuth2 = l.oauth2(v, "smtp", provider, pre)
		l.oauthLogin(m, "smtp", sc.Username, sc.Password, sc.OAuth2)
	}
	if sc.Username != "" && !sc.Password.IsSet() && !m.has("oauth2") {
		l.at(m.keyNode("username"), "smtp: username without password_env or password_file")
	}
	if sc.Username == "" && sc.Password.IsSet() {
		l.at(m.node, "smtp: a password source without username; add username, or drop the password for a relay without AUTH")
	}
	if v := m.get("ca_file"); v != nil {
		if s, ok := l.str(v, "ca_file"); ok {
			sc.CAFile = l.resolve(s)
		}
	}
	if v := m.get("insecure_skip_verify"); v != nil {
		sc.InsecureSkipVerify, _ = l.boolean(v, "insecure_skip_verify")
	}
	if v := m.get("timeout"); v != nil {
		if d, ok := l.duration(v, "timeout"); ok {
			sc.Timeout = d
		}
	}
	if v := m.get("keep_alive"); v != nil {
		// 0 closes the connection after each batch.
		if v.Kind == yaml.ScalarNode && (v.Value == "0" || v.Value == "0s") {
			sc.KeepAlive = 0
		} else if d, ok := l.duration(v, "keep_alive"); ok {
			sc.KeepAlive = d
		}
	}
	l.transport(m, "smtp", sc.Host, sc.TLS, sc.InsecureSkipVerify)
}

func (l *loader) limits(n *yaml.Node, lim *Limits) {
	*lim = Limits{
		PerSenderPerHour:            DefaultPerSenderHour,
		GlobalPerMinute:             DefaultGlobalPerMinute,
		EscalationsPerRequestPerDay: DefaultEscalationsPerRequestDay,
		RelaysPerRequestPerDay:      DefaultRelaysPerRequestDay,
		MaxMessageBytes:             DefaultMaxMessageBytes,
		MaxTextBytes:                DefaultMaxTextBytes,
	}
	m := l.mapping(n, "limits", "per_sender_per_hour", "global_per_minute", "escalations_per_request_per_day",
		"relays_per_request_per_day", "max_message_bytes", "max_text_bytes")
	if m == nil {
		return
	}
	if v, ok := l.integer(m.get("escalations_per_request_per_day"), "escalations_per_request_per_day", 1, 10_000); ok {
		lim.EscalationsPerRequestPerDay = int(v)
	}
	if v, ok := l.integer(m.get("relays_per_request_per_day"), "relays_per_request_per_day", 1, 10_000); ok {
		lim.RelaysPerRequestPerDay = int(v)
	}
	if v, ok := l.integer(m.get("per_sender_per_hour"), "per_sender_per_hour", 1, 1_000_000); ok {
		lim.PerSenderPerHour = int(v)
	}
	if v, ok := l.integer(m.get("global_per_minute"), "global_per_minute", 1, 1_000_000); ok {
		lim.GlobalPerMinute = int(v)
	}
	if v, ok := l.integer(m.get("max_message_bytes"), "max_message_bytes", 1024, 1<<40); ok {
		lim.MaxMessageBytes = v
	}
	if v, ok := l.integer(m.get("max_text_bytes"), "max_text_bytes", 1, 1<<30); ok {
		lim.MaxTextBytes = int(v)
	}
}

// address reads one email address and returns its bare form
// (local@domain), whatever display name was written around it.
func (l *loader) address(n *yaml.Node, key string) (string, bool) {
	s, ok := l.str(n, key)
	if !ok {
		return "", false
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		l.at(n, "%s: invalid email address %q: %v", key, s, err)
		return "", false
	}
	// What the composer would refuse must fail here, not on the first mail.
	addr, err := addrspec.Check(a.Address)
	if err != nil {
		l.at(n, "%s: %v", key, err)
		return "", false
	}
	return addr, true
}

// addresses reads a list of email addresses.
func (l *loader) addresses(n *yaml.Node, key string) []string {
	out, _ := l.addressNodes(n, key)
	return out
}

// addressNodes reads a list of email addresses and the node of each.
func (l *loader) addressNodes(n *yaml.Node, key string) ([]string, []*yaml.Node) {
	return l.listOf(n, key, l.address)
}

var departmentKeys = []string{"name", "address", "aliases", "imap", "staff", "leads",
	"allowed_senders", "calendar", "digest", "categories", "rules",
	"trust_authentication_results", "authserv_id", "assignable", "assign", "incident", "primary", "backfill", "max_age", "language", "satisfaction"}

// authResults reads trust_authentication_results and authserv_id into the
// values given, which hold the inherited defaults.
func (l *loader) authResults(m *cfgMapping, trust *bool, id *string) {
	if v := m.get("trust_authentication_results"); v != nil {
		if b, ok := l.boolean(v, "trust_authentication_results"); ok {
			*trust = b
		}
	}
	if v := m.get("authserv_id"); v != nil {
		if s, ok := l.str(v, "authserv_id"); ok {
			switch {
			case strings.TrimSpace(s) == "":
				l.at(v, "authserv_id: empty; leave the key out to trust the topmost Authentication-Results")
			case strings.ContainsAny(s, " \t;()\"="):
				l.at(v, "authserv_id: %q is not a server name such as mx.example.test", s)
			default:
				*id = s
			}
		}
	}
}

func (l *loader) departments(n *yaml.Node, cfg *Config) []*Department {
	items, ok := l.list(n, "departments")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		l.at(n, "departments: at least one department is needed")
		return nil
	}
	var depts []*Department
	names := map[string]*yaml.Node{}
	owners := map[string]*yaml.Node{} // lower-cased address → where first claimed
	for _, it := range items {
		m := l.mapping(it, "department", departmentKeys...)
		if m == nil {
			continue
		}
		d := l.department(m, cfg)
		if v := m.get("name"); v != nil && d.Name != "" {
			key := strings.ToLower(d.Name)
			if first, dup := names[key]; dup {
				l.at(v, "duplicate department name %q (first at line %d)", d.Name, first.Line)
			} else {
				names[key] = v
			}
		}
		claim := func(addr string, at *yaml.Node) {
			key := strings.ToLower(addr)
			if first, dup := owners[key]; dup {
				l.at(at, "duplicate department address %q (first at line %d)", addr, first.Line)
				return
			}
			owners[key] = at
		}
		if d.Address != "" {
			claim(d.Address, m.get("address"))
		}
		for i, a := range d.Aliases {
			claim(a, d.aliasNodes[i])
		}
		depts = append(depts, d.Department)
	}
	for _, d := range depts {
		for _, o := range depts {
			if o == d {
				continue
			}
			if o.Address != "" {
				d.Others = append(d.Others, strings.ToLower(o.Address))
			}
			for _, a := range o.Aliases {
				d.Others = append(d.Others, strings.ToLower(a))
			}
		}
	}
	return depts
}

// listNoReport returns a sequence's items without reporting a wrong kind
// (which the first read of the node already did).
func (l *loader) listNoReport(n *yaml.Node) ([]*yaml.Node, bool) {
	n = followAlias(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil, false
	}
	return n.Content, true
}

// deptBuild is a Department being built, with the nodes needed for checks
// across departments.
type deptBuild struct {
	*Department
	aliasNodes []*yaml.Node
}

func (l *loader) department(m *cfgMapping, cfg *Config) deptBuild {
	d := deptBuild{Department: &Department{
		TrustAuthenticationResults: cfg.TrustAuthenticationResults,
		AuthservID:                 cfg.AuthservID,
		Backfill:                   cfg.Backfill,
		MaxAge:                     cfg.MaxAge,
		Incident:                   DefaultIncident,
	}}
	l.authResults(m, &d.TrustAuthenticationResults, &d.AuthservID)
	l.checkHistory(d.Department, l.history(m, &d.Backfill, &d.MaxAge), l.topHistory, m.node)
	l.require(m, "department", "name", "address", "imap", "allowed_senders", "calendar", "categories", "rules")
	if v := m.get("name"); v != nil {
		if s, ok := l.str(v, "name"); ok {
			if strings.TrimSpace(s) == "" {
				l.at(v, "name: empty")
			}
			d.Name = s
		}
	}
	if v := m.get("address"); v != nil {
		d.Address, _ = l.address(v, "address")
	}
	if v := m.get("aliases"); v != nil {
		d.Aliases, d.aliasNodes = l.addressNodes(v, "aliases")
	}
	if v := m.get("imap"); v != nil {
		l.imap(v, &d.IMAP)
	}
	if v := m.get("staff"); v != nil {
		d.Staff = l.addresses(v, "staff")
	}
	if v := m.get("leads"); v != nil {
		d.Leads = l.addresses(v, "leads")
	}
	if v := m.get("allowed_senders"); v != nil {
		d.AllowedSenders = l.globs(v, "allowed_senders")
	}
	if v := m.get("assignable"); v != nil {
		d.Assignable = l.globs(v, "assignable")
	}
	if v := m.get("primary"); v != nil {
		d.Primary, _ = l.boolean(v, "primary")
	}
	if v := m.get("incident"); v != nil {
		l.incident(v, &d.Incident)
	}
	if v := m.get("assign"); v != nil {
		if s, ok := l.str(v, "assign"); ok {
			mode, known := assignModes[s]
			switch {
			case !known:
				l.at(v, "assign: %q is not none, round_robin or least_open", s)
			case mode != AssignNone && len(d.Staff) == 0:
				l.at(v, "assign: %s needs staff to assign to", s)
			}
			d.Assign = mode
		}
	}
	if v := m.get("satisfaction"); v != nil {
		d.Satisfaction = l.satisfaction(v)
	}
	d.Language = lang.Default
	if v := m.get("language"); v != nil {
		if s, ok := l.language(v); ok {
			d.Language = s
		}
	}
	var spans []calendar.Span
	if v := m.get("calendar"); v != nil {
		d.Calendar, spans = l.calendar(v)
	}
	if v := m.get("digest"); v != nil {
		l.digest(v, &d.Digest)
	}
	if v := m.get("categories"); v != nil {
		d.Categories = l.categories(v, d.Department, spans)
	}
	if v := m.get("rules"); v != nil {
		d.Rules = l.rules(v, d.Department)
	}
	return d
}

// globs reads a list of address glob patterns ("*@example.test").
func (l *loader) globs(v *yaml.Node, key string) []string {
	var out []string
	pats, nodes := l.strs(v, key)
	for i, p := range pats {
		if p == "" {
			l.at(nodes[i], "%s: empty pattern; use \"*\" for anyone", key)
			continue
		}
		// path.Match reports a malformed pattern whatever the name.
		if _, err := path.Match(p, ""); err != nil {
			l.at(nodes[i], "%s: bad glob %q: %v", key, p, err)
			continue
		}
		out = append(out, p)
	}
	return out
}

func (l *loader) imap(n *yaml.Node, ic *IMAPConfig) {
	ic.TLS, ic.Mailbox, ic.IDLE, ic.PollInterval = TLSImplicit, DefaultMailbox, true, DefaultPollInterval
	m := l.mapping(n, "imap", "host", "port", "tls", "username", "password_env", "password_file",
		"ca_file", "insecure_skip_verify", "mailbox", "sent_mailbox", "idle", "poll_interval", "append_sent",
		"provider", "oauth2", "discover_sent")
	if m == nil {
		return
	}
	provider, pre := l.provider(m, "imap")
	ic.Provider = provider
	if pre.imapHost == "" {
		l.require(m, "imap", "host")
	}
	l.require(m, "imap", "username")
	if ic.Host = l.host(m, "imap"); ic.Host == "" && !m.has("host") {
		ic.Host = pre.imapHost
	}
	if tls, ok := l.tlsMode(m); ok {
		ic.TLS = tls
	}
	ic.Port = 143
	if ic.TLS == TLSImplicit {
		ic.Port = 993
	}
	if v := m.get("port"); v != nil {
		if p, ok := l.integer(v, "port", 1, 65535); ok {
			ic.Port = int(p)
		}
	}
	if v := m.get("username"); v != nil {
		if s, ok := l.str(v, "username"); ok {
			if s == "" {
				l.at(v, "imap: username is empty")
			}
			ic.Username = s
		}
	}
	ic.Password = l.secret(m, "imap")
	if v := m.get("oauth2"); v != nil {
		ic.OAuth2 = l.oauth2(v, "imap", provider, pre)
		l.oauthLogin(m, "imap", ic.Username, ic.Password, ic.OAuth2)
	}
	if !ic.Password.IsSet() && !m.has("password_env") && !m.has("password_file") && !m.has("oauth2") {
		l.at(m.node, "imap: missing password_env or password_file")
	}
	if v := m.get("ca_file"); v != nil {
		if s, ok := l.str(v, "ca_file"); ok {
			ic.CAFile = l.resolve(s)
		}
	}
	if v := m.get("insecure_skip_verify"); v != nil {
		ic.InsecureSkipVerify, _ = l.boolean(v, "insecure_skip_verify")
	}
	if v := m.get("mailbox"); v != nil {
		if s, ok := l.str(v, "mailbox"); ok {
			if s == "" {
				l.at(v, "mailbox: empty; leave the key out for INBOX")
			} else {
				ic.Mailbox = s
			}
		}
	}
	if v := m.get("sent_mailbox"); v != nil {
		if s, ok := l.str(v, "sent_mailbox"); ok {
			ic.SentMailbox = s
			if s == ic.Mailbox {
				l.at(v, "sent_mailbox: must differ from mailbox %q", ic.Mailbox)
			}
		}
	}
	// Without sent_mailbox, the Sent folder is found by its \Sent
	// attribute, so staff replies are followed with no setting at all.
	ic.DiscoverSent = ic.SentMailbox == ""
	if v := m.get("discover_sent"); v != nil {
		if b, ok := l.boolean(v, "discover_sent"); ok {
			if b && ic.SentMailbox != "" {
				l.at(v, "discover_sent: sent_mailbox already names the Sent mailbox; drop one of them")
			}
			ic.DiscoverSent = b && ic.SentMailbox == ""
		}
	}
	if v := m.get("idle"); v != nil {
		if b, ok := l.boolean(v, "idle"); ok {
			ic.IDLE = b
		}
	}
	if v := m.get("poll_interval"); v != nil {
		if d, ok := l.duration(v, "poll_interval"); ok {
			ic.PollInterval = d
		}
	}
	if v := m.get("append_sent"); v != nil {
		if b, ok := l.boolean(v, "append_sent"); ok {
			ic.AppendSent = b
			if b && ic.SentMailbox == "" {
				l.at(v, "append_sent: needs sent_mailbox")
			}
		}
	}
	l.transport(m, "imap", ic.Host, ic.TLS, ic.InsecureSkipVerify)
}

// calendar builds the department calendar; it also returns the working
// hours so category defaults can speak of half a working day.
func (l *loader) calendar(n *yaml.Node) (*calendar.Calendar, []calendar.Span) {
	m := l.mapping(n, "calendar", "timezone", "workdays", "hours", "holidays", "public_holidays")
	if m == nil {
		return nil, nil
	}
	l.require(m, "calendar", "timezone")
	ok := true
	spec := calendar.CalendarSpec{
		Workdays: []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday},
		Hours:    []calendar.Span{{Start: 9 * time.Hour, End: 17 * time.Hour}},
	}
	if v := m.get("timezone"); v != nil {
		tz, good := l.str(v, "timezone")
		switch {
		case !good:
			ok = false
		case tz == "" || tz == "Local":
			// Local would follow whatever machine runs ackd.
			l.at(v, "timezone: name an IANA zone such as Europe/Berlin or UTC")
			ok = false
		default:
			loc, err := time.LoadLocation(tz)
			if err != nil {
				l.at(v, "timezone: unknown time zone %q", tz)
				ok = false
			}
			spec.Location = loc
		}
	} else {
		ok = false
	}
	if v := m.get("workdays"); v != nil {
		days, nodes := l.strs(v, "workdays")
		if items, isList := l.listNoReport(v); isList && len(items) == 0 {
			l.at(v, "workdays: at least one working day is needed")
		}
		if len(days) == 0 {
			ok = false
		}
		spec.Workdays = nil
		seen := map[time.Weekday]bool{}
		for i, s := range days {
			wd, err := calendar.ParseWeekday(s)
			if err != nil {
				l.at(nodes[i], "workdays: %q: %v", s, err)
				ok = false
				continue
			}
			if seen[wd] {
				l.at(nodes[i], "workdays: %q listed twice", s)
				continue
			}
			seen[wd] = true
			spec.Workdays = append(spec.Workdays, wd)
		}
	}
	if v := m.get("hours"); v != nil {
		if s, good := l.str(v, "hours"); good {
			spans, err := calendar.ParseHours(s)
			if err != nil {
				l.at(v, "hours: %q: %v", s, err)
				ok = false
			} else {
				spec.Hours = spans
			}
		} else {
			ok = false
		}
	}
	if v := m.get("holidays"); v != nil {
		days, nodes := l.strs(v, "holidays")
		for i, s := range days {
			d, err := calendar.ParseDate(s)
			if err != nil {
				l.at(nodes[i], "holidays: %q: %v", s, err)
				ok = false
				continue
			}
			spec.Holidays = append(spec.Holidays, d)
		}
	}
	if v := m.get("public_holidays"); v != nil {
		if s, good := l.str(v, "public_holidays"); good {
			if !calendar.ValidPublicHolidays(s) {
				l.at(v, "public_holidays: unknown holiday set %q (use a code such as DE, DE-BY, US or GB)", s)
				ok = false
			}
			spec.Public = s
		}
	}
	if !ok {
		return nil, spec.Hours
	}
	cal, err := calendar.NewCalendar(spec)
	if err != nil {
		l.at(m.node, "calendar: %v", err)
		return nil, spec.Hours
	}
	return cal, spec.Hours
}

// hhmm is HH:MM on a 24-hour clock.
var hhmm = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)

func (l *loader) digest(n *yaml.Node, dc *DigestConfig) {
	m := l.mapping(n, "digest", "to", "at", "skip_empty")
	if m == nil {
		return
	}
	if v := m.get("to"); v != nil {
		dc.To = l.addresses(v, "to")
	}
	if v := m.get("at"); v != nil {
		if s, ok := l.str(v, "at"); ok {
			if !hhmm.MatchString(s) {
				l.at(v, "at: %q is not a time of day as HH:MM, such as \"08:30\"", s)
			} else {
				dc.At = s
			}
		}
	}
	if v := m.get("skip_empty"); v != nil {
		dc.SkipEmpty, _ = l.boolean(v, "skip_empty")
	}
	if m.has("at") && !m.has("to") {
		l.at(m.node, "digest: at is set but to is missing: who gets the digest?")
	}
}

// incident reads burst detection: incident: {count: 6, within: 30m};
// count 0 turns it off.
func (l *loader) incident(n *yaml.Node, ic *IncidentConfig) {
	m := l.mapping(n, "incident", "count", "within")
	if m == nil {
		return
	}
	if v := m.get("count"); v != nil {
		if c, ok := l.integer(v, "count", 0, 1000); ok {
			if c == 1 {
				l.at(v, "count: 1 would call every request an incident; use 0 to turn detection off, or 2 or more")
			}
			ic.Count = int(c)
		}
	}
	if v := m.get("within"); v != nil {
		if d, ok := l.duration(v, "within"); ok {
			if d > 24*time.Hour {
				l.at(v, "within: %s is more than a day; bursts are minutes to hours", d)
			}
			ic.Within = d
		}
	}
}

func (l *loader) commitment(n *yaml.Node, key string) (calendar.Commitment, bool) {
	s, ok := l.str(n, key)
	if !ok {
		return calendar.Commitment{}, false
	}
	c, err := calendar.ParseCommitment(s)
	if err != nil {
		l.at(n, "%s: %q: %v", key, s, err)
		return calendar.Commitment{}, false
	}
	if c.IsZero() {
		l.at(n, "%s: must be more than zero", key)
		return calendar.Commitment{}, false
	}
	return c, true
}

// halfCommitment is the default grace: half of c, in whole days when that is exact,
// else in business time (a working day being the sum of the hours spans).
func halfCommitment(c calendar.Commitment, spans []calendar.Span) calendar.Commitment {
	if c.Days == 0 {
		return calendar.Commitment{Business: c.Business / 2}
	}
	if c.Days%2 == 0 {
		return calendar.Commitment{Days: c.Days / 2}
	}
	var day time.Duration
	for _, s := range spans {
		day += s.End - s.Start
	}
	if day <= 0 {
		return calendar.Commitment{Days: max(1, c.Days/2)}
	}
	return calendar.Commitment{Business: time.Duration(c.Days) * day / 2}
}

var categoryKeys = []string{"commitment", "aim", "followup", "grace", "escalate", "closing", "auto_resolve", "promise", "ask_for", "links"}

func (l *loader) categories(n *yaml.Node, d *Department, spans []calendar.Span) map[string]*Category {
	n = followAlias(n)
	cats := map[string]*Category{}
	if n == nil {
		return cats
	}
	if n.Kind != yaml.MappingNode {
		l.at(n, "categories: expected a mapping of category names, got %s", yamlKind(n))
		return cats
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := followAlias(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.ShortTag() == "!!merge" {
			l.at(k, "categories: keys must be category names")
			continue
		}
		name := k.Value
		if name == "password" {
			continue // reported by scanPasswords
		}
		if first, dup := seen[name]; dup {
			l.at(k, "duplicate category %q (first at line %d)", name, first.Line)
			continue
		}
		seen[name] = k
		if strings.TrimSpace(name) == "" {
			l.at(k, "categories: empty category name")
			continue
		}
		what := fmt.Sprintf("category %q", name)
		m := l.mapping(v, what, categoryKeys...)
		c := &Category{Name: name}
		cats[name] = c
		if m == nil {
			continue
		}
		l.require(m, what, "commitment")
		cmOK := false
		if v := m.get("commitment"); v != nil {
			c.Commitment, cmOK = l.commitment(v, "commitment")
		}
		c.Followup = c.Commitment
		if v := m.get("followup"); v != nil {
			if f, ok := l.commitment(v, "followup"); ok {
				c.Followup = f
			}
		}
		if cmOK {
			c.Grace = halfCommitment(c.Commitment, spans)
		}
		if v := m.get("grace"); v != nil {
			if g, ok := l.commitment(v, "grace"); ok {
				c.Grace = g
			}
		}
		if v := m.get("closing"); v != nil {
			c.Closing, _ = l.boolean(v, "closing")
		}
		if v := m.get("auto_resolve"); v != nil {
			c.AutoResolve, _ = l.commitment(v, "auto_resolve")
		}
		if v := m.get("promise"); v != nil {
			if s, ok := l.choice(v, "promise", "commitment", "forecast"); ok && s == "forecast" {
				c.Promise = PromiseForecast
			}
		}
		if v := m.get("escalate"); v != nil {
			c.Escalate = l.escalate(v, d)
		}
		if v := m.get("aim"); v != nil {
			if a, ok := l.commitment(v, "aim"); ok && cmOK {
				if longerThan(a, c.Commitment) {
					l.at(v, "aim: %s is longer than the commitment %s (the aim is the team's own, shorter goal)", a, c.Commitment)
				} else {
					c.Aim = a
				}
			}
		}
		if v := m.get("ask_for"); v != nil {
			c.AskFor = l.askFor(v, what)
		}
		if v := m.get("links"); v != nil {
			c.Links = l.links(v, what)
		}
	}
	if _, ok := cats[DefaultCategory]; !ok {
		l.at(n, "categories: missing the \"default\" category (used when no rule matches)")
	}
	return cats
}

// longerThan says whether a is longer than b when both count the same
// unit (business time or working days); mixed units are not compared.
func longerThan(a, b calendar.Commitment) bool {
	switch {
	case a.Days > 0 && b.Days > 0:
		return a.Days > b.Days
	case a.Days == 0 && b.Days == 0:
		return a.Business > b.Business
	}
	return false
}

func (l *loader) escalate(n *yaml.Node, d *Department) []EscalationStep {
	items, ok := l.list(n, "escalate")
	if !ok {
		return nil
	}
	var steps []EscalationStep
	for _, it := range items {
		m := l.mapping(it, "escalation step", "at", "before_due", "to")
		if m == nil {
			continue
		}
		var st EscalationStep
		l.require(m, "escalation step", "to")
		switch at, bd := m.get("at"), m.get("before_due"); {
		case at != nil && bd != nil:
			l.at(m.keyNode("before_due"), "escalation step: set one of at and before_due, not both")
		case at == nil && bd == nil:
			l.at(m.node, "escalation step: needs at (share of the commitment, like 50%%) or before_due (like 2h)")
		case at != nil:
			st.At = l.share(at)
		default:
			st.BeforeDue, _ = l.duration(bd, "before_due")
		}
		if v := m.get("to"); v != nil {
			if s, ok := l.str(v, "to"); ok {
				switch s {
				case "staff":
					if len(d.Staff) == 0 {
						l.at(v, "to: staff, but the department lists no staff")
					}
				case "leads":
					if len(d.Leads) == 0 {
						l.at(v, "to: leads, but the department lists no leads")
					}
				default:
					if a, err := mail.ParseAddress(s); err != nil {
						l.at(v, "to: %q is not staff, leads or an email address", s)
					} else if addr, err := addrspec.Check(a.Address); err != nil {
						l.at(v, "to: %v", err)
					} else {
						s = addr
					}
				}
				st.To = s
			}
		}
		steps = append(steps, st)
	}
	return steps
}

// share reads at: as a percentage ("50%") or a fraction (0.5), 0 < x ≤ 1.
func (l *loader) share(n *yaml.Node) float64 {
	n = followAlias(n)
	if n == nil {
		return 0
	}
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		l.at(n, "at: expected a percentage like 50%%, got %s", yamlKind(n))
		return 0
	}
	s := strings.TrimSpace(n.Value)
	scale := 1.0
	if strings.HasSuffix(s, "%") {
		s, scale = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		l.at(n, "at: %q is not a percentage like 50%%", n.Value)
		return 0
	}
	v /= scale
	if !(v > 0 && v <= 1) { // also false for NaN
		l.at(n, "at: %q must be more than 0%% and at most 100%%", n.Value)
		return 0
	}
	return v
}

func (l *loader) rules(n *yaml.Node, d *Department) []*Rule {
	items, ok := l.list(n, "rules")
	if !ok {
		return nil
	}
	if len(items) == 0 {
		l.at(n, "rules: empty; add at least one rule (unmatched mail goes to the default category)")
		return nil
	}
	var rules []*Rule
	names := map[string]*yaml.Node{}
	for _, it := range items {
		m := l.mapping(it, "rule", "name", "category", "match", "language", "ask_for", "links")
		if m == nil {
			continue
		}
		l.require(m, "rule", "name", "category", "match")
		r := &Rule{}
		if v := m.get("name"); v != nil {
			if s, ok := l.str(v, "name"); ok {
				if first, dup := names[s]; dup {
					l.at(v, "duplicate rule name %q (first at line %d)", s, first.Line)
				} else {
					names[s] = v
				}
				if strings.TrimSpace(s) == "" {
					l.at(v, "rule: empty name")
				}
				r.Name = s
			}
		}
		if v := m.get("category"); v != nil {
			if s, ok := l.str(v, "category"); ok {
				if _, exists := d.Categories[s]; !exists && d.Categories != nil {
					if hint := nearestKey(s, categoryNamesOf(d)); hint != "" {
						l.at(v, "category %q does not exist (did you mean %q?)", s, hint)
					} else {
						l.at(v, "category %q does not exist", s)
					}
				}
				r.Category = s
			}
		}
		if v := m.get("language"); v != nil {
			r.Language, _ = l.language(v)
		}
		if v := m.get("ask_for"); v != nil {
			r.AskFor = l.askFor(v, "rule")
		}
		if v := m.get("links"); v != nil {
			r.Links = l.links(v, "rule")
		}
		if v := m.get("match"); v != nil {
			r.Match = followAlias(v)
			l.checkMatch(r.Match)
		}
		rules = append(rules, r)
	}
	return rules
}

// language reads a language key: a BCP 47 tag, kept as its base language
// ("de-AT" is "de"); whether templates exist for it is checked where the
// templates are loaded (ackd check, ackd run, reload).
func (l *loader) language(n *yaml.Node) (string, bool) {
	s, ok := l.str(n, "language")
	if !ok {
		return "", false
	}
	b, ok := lang.Normalize(s)
	if !ok {
		l.at(n, "language: %q is not a language code (like \"en\", \"de\" or \"pt-BR\")", s)
		return "", false
	}
	return b, true
}

func categoryNamesOf(d *Department) []string {
	names := make([]string, 0, len(d.Categories))
	for n := range d.Categories {
		names = append(names, n)
	}
	sort.Strings(names) // a stable hint when two names are equally near
	return names
}
