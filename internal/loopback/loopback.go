// Package loopback says whether a host name stays on this machine, the one
// place where ackd lets a connection go without verified TLS.
package loopback

import (
	"net"
	"strings"
)

// Host says whether host names this machine: localhost, 127.0.0.0/8 or
// ::1, with or without brackets and a trailing dot. Only there may TLS be
// off or unverified.
func Host(host string) bool {
	h := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
