package config

import (
	"fmt"
	"path"
	"strings"
)

// AuthorityWarnings lists settings that weaken how staff mail proves its
// author, for "ackd check": Authentication-Results trusted without an
// authserv_id (a sender's own field may be believed for refusals, and
// positive results never count as proof), an authserv_id that has no effect,
// and assignable patterns that let "#assign" reach any address.
func (c *Config) AuthorityWarnings() []string {
	var out []string
	for _, d := range c.Departments {
		name := fmt.Sprintf("department %q", d.Name)
		switch {
		case d.TrustAuthenticationResults && d.AuthservID == "":
			out = append(out, name+": trust_authentication_results without authserv_id: the topmost "+
				"Authentication-Results field is believed, which a sender may have written, and no "+
				"result proves staff mail; set authserv_id to the name your receiving server writes")
		case !d.TrustAuthenticationResults && d.AuthservID != "":
			out = append(out, name+": authserv_id has no effect while trust_authentication_results is off")
		}
		for _, p := range d.Assignable {
			if anyAddress(p) {
				out = append(out, fmt.Sprintf("%s: assignable %q lets #assign hand requests, and the "+
					"escalations quoting them, to any address", name, p))
			}
		}
	}
	return out
}

// anyAddress says whether a glob matches addresses at any domain.
func anyAddress(p string) bool {
	p = strings.TrimSpace(p)
	if p == "*" {
		return true
	}
	_, dom, ok := strings.Cut(p, "@")
	if !ok {
		return false
	}
	// A pattern that matches a made-up domain matches every domain.
	m, err := path.Match(strings.ToLower(dom), "ackd-any-domain.invalid")
	return err == nil && m
}
