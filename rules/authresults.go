package rules

import (
	"path"
	"strings"
)

// RefuseAuthFailed is the refusal code for mail whose Authentication-Results
// say the From domain was forged (see Department.AuthFailure).
const RefuseAuthFailed = "auth-failed"

// AuthResult is one method's verdict in an Authentication-Results header:
// "dkim=pass" is {Method: "dkim", Result: "pass"}. Both are lower case.
type AuthResult struct {
	Method string
	Result string
}

// AuthResults is one parsed Authentication-Results header field (RFC 8601).
type AuthResults struct {
	// AuthservID names the server that did the checks, lower case; empty
	// when the field has none (Exchange Online writes "spf=pass …" with no
	// authserv-id).
	AuthservID string
	Results    []AuthResult
}

// ParseAuthResults reads one Authentication-Results value tolerantly:
// comments and quoted strings are skipped, properties after the result are
// ignored, and a method without "=result" is dropped. ok is false when the
// value holds neither an authserv-id nor a result.
func ParseAuthResults(v string) (ar AuthResults, ok bool) {
	pieces := splitResinfo(stripARComments(v))
	if len(pieces) == 0 {
		return ar, false
	}
	first := strings.Fields(pieces[0])
	rest := pieces[1:]
	if len(first) > 0 && strings.Contains(first[0], "=") {
		// No authserv-id: the first piece is already a result.
		rest = pieces
	} else if len(first) > 0 {
		ar.AuthservID = strings.ToLower(first[0])
	}
	for _, p := range rest {
		tok := strings.Fields(p)
		if len(tok) == 0 {
			continue
		}
		method, result, found := strings.Cut(tok[0], "=")
		if !found {
			continue // "none" (no checks done) or junk
		}
		method, _, _ = strings.Cut(method, "/") // "dkim/1=pass": the method version
		method, result = strings.ToLower(strings.TrimSpace(method)), strings.ToLower(strings.Trim(result, `" `))
		if method == "" || result == "" {
			continue
		}
		ar.Results = append(ar.Results, AuthResult{Method: method, Result: result})
	}
	return ar, ar.AuthservID != "" || len(ar.Results) > 0
}

// stripARComments removes (nested) comments outside quoted strings and
// replaces them by a space, so "dkim=fail (bad sig)reason" stays two tokens.
func stripARComments(v string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteRune(r)
			}
			continue
		case r == '\\':
			escaped = true
			if depth == 0 {
				b.WriteRune(r)
			}
			continue
		case quoted:
			if r == '"' {
				quoted = false
			}
			b.WriteRune(r)
			continue
		case r == '"' && depth == 0:
			quoted = true
			b.WriteRune(r)
			continue
		case r == '(':
			depth++
			if depth == 1 {
				b.WriteByte(' ')
			}
			continue
		case r == ')' && depth > 0:
			depth--
			continue
		}
		if depth == 0 {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// splitResinfo splits at semicolons outside quoted strings.
func splitResinfo(v string) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			out = append(out, strings.TrimSpace(v[start:i]))
			start = i + 1
		}
	}
	if s := strings.TrimSpace(v[start:]); s != "" || len(out) > 0 {
		out = append(out, s)
	}
	return out
}

// results returns every result of one method.
func (ar AuthResults) results(method string) []string {
	var out []string
	for _, r := range ar.Results {
		if r.Method == method {
			out = append(out, r.Result)
		}
	}
	return out
}

// Verdict says whether the results show a forged sender, and which result
// says so: dmarc=fail, or spf=fail with no DKIM signature that verified
// (dkim=fail, none, permerror or no dkim result). A dmarc=pass overrides
// a failing SPF: DMARC already weighed both.
func (ar AuthResults) Verdict() (failed bool, why string) {
	dmarc := ar.results("dmarc")
	for _, r := range dmarc {
		if r == "fail" {
			return true, "dmarc=fail"
		}
	}
	for _, r := range dmarc {
		if r == "pass" {
			return false, ""
		}
	}
	spfFail := false
	for _, r := range ar.results("spf") {
		if r == "fail" {
			spfFail = true
		}
	}
	if !spfFail {
		return false, ""
	}
	dkim := ar.results("dkim")
	for _, r := range dkim {
		switch r {
		case "fail", "none", "permerror":
		default:
			// pass, or temperror/neutral/policy: not proof of forgery.
			return false, ""
		}
	}
	if len(dkim) == 0 {
		return true, "spf=fail, no dkim result"
	}
	return true, "spf=fail, dkim=" + strings.Join(dkim, ",")
}

// authResultsFor picks the Authentication-Results field ackd may believe:
// the topmost one, which the receiving server added last, or, when
// authserv_id is configured, the topmost one naming that server (fields
// further down may have been written by the sender).
func (d *Department) authResultsFor(m *Message) (AuthResults, bool) {
	for _, v := range m.Values("Authentication-Results") {
		ar, ok := ParseAuthResults(v)
		if d.AuthservID == "" {
			return ar, ok
		}
		if ok && strings.EqualFold(ar.AuthservID, d.AuthservID) {
			return ar, true
		}
	}
	return AuthResults{}, false
}

// AuthFailure reports whether the department trusts Authentication-Results
// and the trusted field says the message's sender was forged; reason names
// the server and the result. It does not look at the From address: staff
// commands use it for any sender.
func (d *Department) AuthFailure(m *Message) (reason string, failed bool) {
	if d == nil || m == nil || !d.TrustAuthenticationResults {
		return "", false
	}
	ar, ok := d.authResultsFor(m)
	if !ok {
		return "", false
	}
	bad, why := ar.Verdict()
	if !bad {
		return "", false
	}
	server := ar.AuthservID
	if server == "" {
		server = "no authserv-id"
	}
	return "Authentication-Results (" + oneLine(server) + "): " + why, true
}

// internalLooking says whether a From domain is one of the department's
// own: the department's, an alias's, a staff member's or lead's, or a
// domain an allowed_senders pattern names ("*@example.test"). Forging
// those is how a phisher borrows the help desk's trust.
func (d *Department) internalLooking(from string) bool {
	_, dom, ok := strings.Cut(strings.ToLower(from), "@")
	if !ok || dom == "" {
		return false
	}
	for _, list := range [][]string{{d.Address}, d.Aliases, d.Staff, d.Leads} {
		for _, a := range list {
			if _, ad, ok := strings.Cut(strings.ToLower(a), "@"); ok && ad == dom {
				return true
			}
		}
	}
	for _, p := range d.AllowedSenders {
		_, pd, ok := strings.Cut(strings.ToLower(strings.TrimSpace(p)), "@")
		if !ok || pd == "" || pd == "*" {
			continue
		}
		if m, err := path.Match(pd, dom); err == nil && m {
			return true
		}
	}
	return false
}

// authRefusal refuses a receipt to an internal-looking From whose trusted
// Authentication-Results say it was forged.
func (d *Department) authRefusal(m *Message, from string) (refusal, bool) {
	if !d.internalLooking(from) {
		return refusal{}, false
	}
	why, failed := d.AuthFailure(m)
	if !failed {
		return refusal{}, false
	}
	return refusal{RefuseAuthFailed, why + " for internal-looking From " + quoteAddr(from)}, true
}
