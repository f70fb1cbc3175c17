//go:build !linux

package store

import (
	"syscall"
	"time"
)

// tcpUserTimeout is Linux only; elsewhere the keepalives alone detect a
// silent peer.
func tcpUserTimeout(time.Duration) func(network, address string, c syscall.RawConn) error {
	return nil
}
