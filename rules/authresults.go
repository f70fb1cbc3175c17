package rules

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode"

	"github.com/ackd/ackd/config"
	"github.com/emersion/go-msgauth/authres"
)

// RefuseAuthFailed is the refusal code for mail whose Authentication-Results
// say the From domain was forged (see Department.AuthFailure).
const RefuseAuthFailed Refusal = "auth-failed"

// AuthResults is one parsed Authentication-Results header field (RFC 8601).
type AuthResults struct {
	// AuthservID names the server that did the checks, lower case; empty
	// when the field has none (Exchange Online writes "spf=pass …" with no
	// authserv-id).
	AuthservID string
	// Results are go-msgauth's typed results (*authres.DMARCResult,
	// *authres.DKIMResult, *authres.SPFResult …, *authres.GenericResult
	// for other methods), in the order written.
	Results []authres.Result
}

// ParseAuthResults reads one Authentication-Results value with
// github.com/emersion/go-msgauth/authres. That parser splits at every
// semicolon and space and knows no comments or quoted strings, so the
// value is made safe for it first: comments are dropped, quoted strings
// lose their quotes and every character that would split them (a sender
// can put "a; dmarc=pass"@x into a field the server copies), method
// versions ("dkim/1") are dropped, and a value without an authserv-id
// gets an empty one. On a malformed result err says so and ar holds the
// results before it.
func ParseAuthResults(v string) (ar AuthResults, err error) {
	v = methodVersion.ReplaceAllString(cleanAuthResults(v), "$1$2=")
	first, _, _ := strings.Cut(v, ";")
	if strings.Contains(first, "=") {
		v = ";" + v
	}
	id, results, err := authres.Parse(v)
	ar = AuthResults{AuthservID: strings.ToLower(id), Results: results}
	if err != nil {
		return ar, fmt.Errorf("authentication-results: %w", err)
	}
	if ar.AuthservID == "" && len(ar.Results) == 0 {
		return ar, errors.New("authentication-results: neither an authserv-id nor a result")
	}
	return ar, nil
}

// methodVersion matches "dkim/1=" at the start of a result.
var methodVersion = regexp.MustCompile(`(^|;\s*)([A-Za-z0-9_-]+)\s*/\s*[0-9]+\s*=`)

// cleanAuthResults removes (nested) comments, replacing each by a space so
// "dkim=fail (bad sig)reason" stays two tokens, and turns a quoted string
// into its content with the quotes gone and white space, semicolons,
// equals signs and parentheses replaced by "_", so that nothing inside
// one can read as a result or a property.
func cleanAuthResults(v string) string {
	var b strings.Builder
	depth, quoted, escaped := 0, false, false
	for _, r := range v {
		switch {
		case escaped:
			escaped = false
			if depth == 0 {
				b.WriteRune(quotedSafe(r))
			}
		case r == '\\' && (quoted || depth > 0):
			escaped = true
		case quoted:
			if r == '"' {
				quoted = false
				continue
			}
			b.WriteRune(quotedSafe(r))
		case depth == 0 && r == '"':
			quoted = true
		case r == '(':
			depth++
			if depth == 1 {
				b.WriteByte(' ')
			}
		case r == ')' && depth > 0:
			depth--
		case depth == 0:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func quotedSafe(r rune) rune {
	if unicode.IsSpace(r) || strings.ContainsRune(";=()\"", r) {
		return '_'
	}
	return r
}

// resultOf is a result's method and value.
func resultOf(r authres.Result) (method string, value authres.ResultValue) {
	switch r := r.(type) {
	case *authres.DMARCResult:
		return "dmarc", r.Value
	case *authres.DKIMResult:
		return "dkim", r.Value
	case *authres.SPFResult:
		return "spf", r.Value
	case *authres.ARCResult:
		return "arc", r.Value
	case *authres.AuthResult:
		return "auth", r.Value
	case *authres.IPRevResult:
		return "iprev", r.Value
	case *authres.DomainKeysResult:
		return "domainkeys", r.Value
	case *authres.SenderIDResult:
		return "sender-id", r.Value
	case *authres.GenericResult:
		return strings.ToLower(r.Method), r.Value
	}
	return "", ""
}

// results returns every result of one method.
func (ar AuthResults) results(method string) []string {
	var out []string
	for _, r := range ar.Results {
		if m, v := resultOf(r); m == method {
			out = append(out, strings.ToLower(string(v)))
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

// Proves says whether the results prove that the message comes from the
// domain of from: dmarc=pass for that domain (header.from, when given,
// must name it), or dkim=pass whose signing domain (header.d) is aligned
// with it, and no dmarc=fail. how names the result that proves it; when
// nothing does, how lists what the results said instead.
//
// Alignment is relaxed DMARC alignment without the Public Suffix List:
// the signing domain equals the From domain or is a parent of it with at
// least two labels (d=example.test aligns with From alice@mail.example.test;
// d=test never does). A signature of a subdomain for its parent's From
// (d=mail.example.test, From example.test), which DMARC's organisational
// domains would also accept, is not taken: telling that apart from a
// public suffix needs the list.
func (ar AuthResults) Proves(from string) (how string, ok bool) {
	_, dom, found := strings.Cut(strings.ToLower(strings.TrimSpace(from)), "@")
	dom = strings.TrimSuffix(dom, ".")
	if !found || dom == "" {
		return "no From domain", false
	}
	if slices.Contains(ar.results("dmarc"), "fail") {
		return "dmarc=fail", false
	}
	for _, r := range ar.Results {
		if r, isDMARC := r.(*authres.DMARCResult); isDMARC && strings.EqualFold(string(r.Value), "pass") {
			hf := strings.TrimSuffix(strings.ToLower(r.From), ".")
			if hf == "" || hf == dom {
				return "dmarc=pass", true
			}
		}
	}
	for _, r := range ar.Results {
		if r, isDKIM := r.(*authres.DKIMResult); isDKIM && strings.EqualFold(string(r.Value), "pass") && aligned(r.Domain, dom) {
			return "dkim=pass header.d=" + strings.ToLower(r.Domain), true
		}
	}
	var said []string
	for _, r := range ar.Results {
		m, v := resultOf(r)
		said = append(said, m+"="+strings.ToLower(string(v)))
	}
	if len(said) == 0 {
		return "no results", false
	}
	return "no dmarc=pass or aligned dkim=pass (" + strings.Join(said, ", ") + ")", false
}

// aligned says whether signing domain d is the From domain or a parent of
// it with at least two labels.
func aligned(d, from string) bool {
	d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
	if d == "" || !strings.Contains(d, ".") {
		return false
	}
	return from == d || strings.HasSuffix(from, "."+d)
}

// authResultsFor picks the Authentication-Results field ackd may believe:
// the topmost one, which the receiving server added last, or, when
// authserv_id is configured, the topmost one naming that server (fields
// further down may have been written by the sender). err is the field's
// parse error; its results before the error are kept.
func authResultsFor(d *config.Department, m *Message) (ar AuthResults, found bool, err error) {
	for _, v := range m.Values("Authentication-Results") {
		ar, err := ParseAuthResults(v)
		if d.AuthservID == "" {
			return ar, ar.AuthservID != "" || len(ar.Results) > 0, err
		}
		if ar.AuthservID != "" && strings.EqualFold(ar.AuthservID, d.AuthservID) {
			return ar, true, err
		}
	}
	return AuthResults{}, false, nil
}

// AuthFailure reports whether the department trusts Authentication-Results
// and the trusted field says the message's sender was forged; reason names
// the server and the result. It does not look at the From address: staff
// commands use it for any sender.
func AuthFailure(d *config.Department, m *Message) (reason string, failed bool) {
	if d == nil || m == nil || !d.TrustAuthenticationResults {
		return "", false
	}
	ar, found, _ := authResultsFor(d, m)
	if !found {
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

// AuthProof reports whether the message's own Authentication-Results prove
// that it comes from its From address's domain (see AuthResults.Proves),
// as one of the ways staff mail proves its author. Only a field from the
// configured authserv_id counts, and only with
// trust_authentication_results on: without an authserv_id the topmost
// field may be one the sender wrote, which is enough to refuse a receipt
// but never to grant authority. A missing or unreadable field proves
// nothing. how says which result proved it, or why nothing did.
func AuthProof(d *config.Department, m *Message) (how string, ok bool) {
	switch {
	case d == nil || m == nil:
		return "no message", false
	case !d.TrustAuthenticationResults:
		return "trust_authentication_results is off", false
	case d.AuthservID == "":
		return "no authserv_id is configured", false
	}
	server := oneLine(strings.ToLower(d.AuthservID))
	ar, found, err := authResultsFor(d, m)
	switch {
	case !found:
		return "no Authentication-Results from " + server, false
	case err != nil:
		return "Authentication-Results (" + server + ") unreadable", false
	}
	how, ok = ar.Proves(m.From.Address)
	return "Authentication-Results (" + server + "): " + how, ok
}

// internalLooking says whether a From domain is one of the department's
// own: the department's, an alias's, a staff member's or lead's, or a
// domain an allowed_senders pattern names ("*@example.test"). Forging
// those is how a phisher borrows the help desk's trust.
func internalLooking(d *config.Department, from string) bool {
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
func authRefusal(d *config.Department, m *Message, from string) (refusal, bool) {
	if !internalLooking(d, from) {
		return refusal{}, false
	}
	why, failed := AuthFailure(d, m)
	if !failed {
		return refusal{}, false
	}
	return refusal{RefuseAuthFailed, why + " for internal-looking From " + quoteAddr(from)}, true
}
