package config

import (
	"fmt"
	"net"

	"github.com/ackd/ackd/internal/loopback"
)

// PushWarnings are `ackd check` warnings about the push: listener: one
// reachable beyond this host takes the shared secret over plain HTTP, so
// anyone on the path can read it and wake the watchers at will (which
// costs IMAP traffic, never a request: a push only makes ackd look).
func (c *Config) PushWarnings() []string {
	if c.Push == nil {
		return nil
	}
	host, _, err := net.SplitHostPort(c.Push.Listen)
	if err != nil || loopback.Host(host) {
		return nil
	}
	return []string{fmt.Sprintf("push: listen %s is reachable beyond this host over plain HTTP; the shared secret crosses the network unencrypted. "+
		"Keep it on 127.0.0.1 next to Dovecot, or put a TLS proxy in front", c.Push.Listen)}
}
