// Package pgdsn reads the parts of a PostgreSQL connection string that
// decide where a connection goes and whether its TLS certificate is
// checked: the hosts and the sslmode. It reads both forms libpq and pgx
// take, a URL (postgres://user@h1:5432,h2/db?sslmode=verify-full) and
// key=value pairs (host=h1,h2 sslmode=verify-full), without connecting or
// reading the environment, so `ackd check` and the store apply one rule.
//
// The rule: a connection that may leave this machine must verify the
// server's certificate (sslmode verify-full or verify-ca). libpq's default,
// prefer, tries TLS without checking the certificate and falls back to
// plaintext; require encrypts but lets anyone in the path present a
// certificate. IMAP and SMTP refuse the same. Loopback hosts and unix
// sockets may use any mode.
package pgdsn

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/ackd/ackd/internal/loopback"
)

// DSN is what Parse found.
type DSN struct {
	// Hosts are the hosts to try, in order, as written (a unix socket
	// directory starts with "/"); hostaddr values are included, since libpq
	// connects there instead. Empty when the string names none: pgx then
	// uses PGHOST or the local default.
	Hosts []string
	// SSLMode is the sslmode in effect from the string alone, lower case:
	// the sslmode key, "require" for the URL alias ssl=true, "verify-full"
	// for sslrootcert=system (pgx verifies against the system roots), ""
	// when none is given (pgx then uses PGSSLMODE or prefer).
	SSLMode string
}

// Modes that check the server's certificate.
const (
	VerifyFull = "verify-full"
	VerifyCA   = "verify-ca"
)

var modes = []string{"disable", "allow", "prefer", "require", VerifyCA, VerifyFull}

// Parse reads dsn. Errors never quote the string: it may hold a password.
func Parse(dsn string) (DSN, error) {
	s := strings.TrimSpace(dsn)
	lower := strings.ToLower(s)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		return parseURL(s)
	}
	return parseKeyValue(s)
}

// Verified says the sslmode checks the server's certificate.
func (d DSN) Verified() bool { return d.SSLMode == VerifyFull || d.SSLMode == VerifyCA }

// Local says host stays on this machine: a unix socket (a directory path,
// or "@name" in Linux's abstract namespace) or a loopback name or address.
func Local(host string) bool {
	return strings.HasPrefix(host, "/") || strings.HasPrefix(host, "@") || loopback.Host(host)
}

// Problem says why a connection with these settings could reach a server
// other than this machine's without verifying its certificate, or "" when
// it cannot. A string without hosts is judged by the local default.
func (d DSN) Problem() string {
	if d.Verified() {
		return ""
	}
	for _, h := range d.Hosts {
		if Local(h) {
			continue
		}
		return fmt.Sprintf("host %q is not loopback and %s; use sslmode=verify-full (or verify-ca) for a remote PostgreSQL",
			h, modeRisk(d.SSLMode))
	}
	return ""
}

// CheckTLS parses dsn and returns an error naming the Problem, if any.
func CheckTLS(dsn string) error {
	d, err := Parse(dsn)
	if err != nil {
		return err
	}
	if p := d.Problem(); p != "" {
		return errors.New(p)
	}
	return nil
}

func modeRisk(mode string) string {
	switch mode {
	case "":
		return "no sslmode is set (pgx then tries TLS without checking the certificate and falls back to plaintext)"
	case "disable":
		return "sslmode=disable sends everything in plaintext"
	case "allow", "prefer":
		return "sslmode=" + mode + " may fall back to plaintext and never checks the certificate"
	case "require":
		return "sslmode=require does not check the server's certificate"
	}
	return fmt.Sprintf("sslmode %q is not one of %s", mode, strings.Join(modes, ", "))
}

// settings are the keys Parse cares about, the last occurrence winning as
// in libpq.
type settings struct {
	host, hostaddr, sslmode, ssl, sslrootcert string
	hasHost                                   bool
}

func (s *settings) set(key, val string) {
	switch strings.ToLower(key) {
	case "host":
		s.host, s.hasHost = val, true
	case "hostaddr":
		s.hostaddr = val
	case "sslmode":
		s.sslmode = val
	case "ssl":
		s.ssl = val
	case "sslrootcert":
		s.sslrootcert = val
	}
}

func (s *settings) dsn(hosts []string) DSN {
	d := DSN{Hosts: hosts, SSLMode: strings.ToLower(strings.TrimSpace(s.sslmode))}
	if s.hasHost {
		d.Hosts = splitList(s.host)
	}
	d.Hosts = append(d.Hosts, splitList(s.hostaddr)...)
	if d.SSLMode == "" && strings.EqualFold(s.ssl, "true") {
		d.SSLMode = "require"
	}
	if s.sslrootcert == "system" {
		d.SSLMode = VerifyFull
	}
	return d
}

func splitList(v string) []string {
	var out []string
	for _, h := range strings.Split(v, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// parseURL reads postgres://[userinfo@]host[:port][,host[:port]…][/db][?k=v…].
// net/url cannot take the host list, so the authority is split by hand;
// query keys override it as in libpq.
func parseURL(s string) (DSN, error) {
	rest := s[strings.Index(s, "://")+3:]
	if i := strings.IndexByte(rest, '#'); i >= 0 {
		rest = rest[:i]
	}
	authority, query := rest, ""
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		authority, query = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(authority, '/'); i >= 0 {
		authority = authority[:i]
	}
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		authority = authority[i+1:]
	}
	var hosts []string
	for _, part := range strings.Split(authority, ",") {
		h, err := urlHost(part)
		if err != nil {
			return DSN{}, err
		}
		if h != "" {
			hosts = append(hosts, h)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return DSN{}, errors.New("postgres URL: malformed query parameters")
	}
	var st settings
	for k, vs := range q {
		if len(vs) > 0 {
			st.set(k, vs[len(vs)-1])
		}
	}
	return st.dsn(hosts), nil
}

// urlHost returns the host of one host[:port] element, unescaped (a socket
// directory is written %2Fvar%2Frun%2Fpostgresql).
func urlHost(part string) (string, error) {
	h := part
	if strings.HasPrefix(h, "[") {
		end := strings.IndexByte(h, ']')
		if end < 0 {
			return "", errors.New("postgres URL: unterminated [ in a host")
		}
		h = h[1:end]
	} else if i := strings.LastIndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	h, err := url.PathUnescape(h)
	if err != nil {
		return "", errors.New("postgres URL: malformed escape in a host")
	}
	return h, nil
}

// parseKeyValue reads libpq's key = value form: values may be single-quoted,
// and a backslash takes the next character literally.
func parseKeyValue(s string) (DSN, error) {
	var st settings
	for {
		s = strings.TrimLeft(s, " \t\n\r\v\f")
		if s == "" {
			return st.dsn(nil), nil
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return DSN{}, errors.New("connection string: want key=value pairs or a postgres:// URL")
		}
		key := strings.TrimRight(s[:eq], " \t\n\r\v\f")
		if key == "" || strings.ContainsAny(key, " \t\n\r\v\f") {
			return DSN{}, errors.New(`connection string: a key is missing its "="`)
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\v\f")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			i := 1
			for ; i < len(s) && s[i] != '\''; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			if i >= len(s) {
				return DSN{}, errors.New("connection string: unterminated quoted value")
			}
			s = s[i+1:]
		} else {
			i := 0
			for ; i < len(s) && strings.IndexByte(" \t\n\r\v\f", s[i]) < 0; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
				}
				val.WriteByte(s[i])
			}
			s = s[i:]
		}
		st.set(key, val.String())
	}
}

// kvPassword spots a password key in the key=value form.
var kvPassword = regexp.MustCompile(`(?i)(^|\s)password\s*=`)

// HasPassword reports whether dsn (a postgres:// URL or key=value
// string) names a password, even when it is malformed: config files and
// errors must not hold one.
func HasPassword(dsn string) bool {
	lower := strings.ToLower(strings.TrimSpace(dsn))
	if !strings.HasPrefix(lower, "postgres://") && !strings.HasPrefix(lower, "postgresql://") {
		return kvPassword.MatchString(dsn)
	}
	if u, err := url.Parse(strings.TrimSpace(dsn)); err == nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
		return u.Query().Has("password")
	}
	// Unparsable: look for user:password@ before the path, and for a
	// password parameter anywhere.
	rest := dsn[strings.Index(dsn, "://")+3:]
	authority, _, _ := strings.Cut(rest, "/")
	if userinfo, _, ok := strings.Cut(authority, "@"); ok && strings.Contains(userinfo, ":") {
		return true
	}
	return strings.Contains(strings.ToLower(rest), "password=")
}
