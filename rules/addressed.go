package rules

import (
	"strings"

	"github.com/ackd/ackd/config"
)

// AddressedDepartment picks the department of cfg that m names in its
// recipient headers (To, Cc, Delivered-To, X-Original-To; its address or
// an alias), else the first one, whose loop protection then says the
// message does not name it. `ackd classify` and rule test cases use it to
// decide a saved message as its department's mailbox would.
func AddressedDepartment(cfg *config.Config, m *Message) *config.Department {
	var addrs []string
	for _, a := range append(append([]Address{}, m.To...), m.Cc...) {
		addrs = append(addrs, a.Address)
	}
	for _, h := range []string{"Delivered-To", "X-Original-To"} {
		addrs = append(addrs, m.Values(h)...)
	}
	for _, d := range cfg.Departments {
		for _, a := range addrs {
			if EqualAddress(strings.Trim(a, "<> "), d.Address) {
				return d
			}
			for _, alias := range d.Aliases {
				if EqualAddress(strings.Trim(a, "<> "), alias) {
					return d
				}
			}
		}
	}
	return cfg.Departments[0]
}

// AlsoAddressed lists the departments of cfg other than d that m names in
// its To or Cc (their address or an alias), in config order: a message
// written to two departments at once.
func AlsoAddressed(cfg *config.Config, d *config.Department, m *Message) []*config.Department {
	var out []*config.Department
	for _, o := range cfg.Departments {
		if o == d || EqualAddress(o.Address, d.Address) {
			continue
		}
		for _, a := range append(append([]Address{}, m.To...), m.Cc...) {
			addr := strings.Trim(a.Address, "<> ")
			if EqualAddress(addr, o.Address) || slicesContainsAddress(o.Aliases, addr) {
				out = append(out, o)
				break
			}
		}
	}
	return out
}

func slicesContainsAddress(list []string, addr string) bool {
	for _, a := range list {
		if EqualAddress(a, addr) {
			return true
		}
	}
	return false
}
