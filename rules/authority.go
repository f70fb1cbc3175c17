package rules

import (
	"path"
	"strings"

	"github.com/ackd/ackd/config"
)

// MayAssign says whether "#assign" may hand a request to addr: a staff
// member, a lead, or an address matching an assignable pattern. Anyone
// else would receive the request's escalations, quoting the request, in
// place of staff.
func MayAssign(d *config.Department, addr string) bool {
	addr = strings.ToLower(strings.TrimSpace(addr))
	if addr == "" {
		return false
	}
	for _, list := range [][]string{d.Staff, d.Leads} {
		for _, a := range list {
			if EqualAddress(a, addr) {
				return true
			}
		}
	}
	for _, p := range d.Assignable {
		if ok, err := path.Match(strings.ToLower(strings.TrimSpace(p)), addr); err == nil && ok {
			return true
		}
	}
	return false
}
