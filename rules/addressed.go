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
