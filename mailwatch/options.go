package mailwatch

import "github.com/ackd/ackd/mailwatch/store"

// Option sets a part of the daemon (Daemon, Processor, Scheduler,
// Digester) at construction, so nothing is attached to a part after New.
// Each constructor reads the options that concern it and ignores the rest.
type Option func(*options)

type options struct {
	owns      func(dept string) bool       // Scheduler, Digester; nil = every department
	onOutcome func(dept string, o Outcome) // Processor, Daemon
	ha        *HA                          // Daemon
	leaser    store.Leaser                 // Daemon, with ha
}

func buildOptions(opts []Option) options {
	var o options
	for _, f := range opts {
		if f != nil {
			f(&o)
		}
	}
	return o
}

// OnlyDepartments limits a Scheduler or Digester to the departments owns
// reports true for, asked on every pass. Without it they serve every
// department.
func OnlyDepartments(owns func(dept string) bool) Option {
	return func(o *options) { o.owns = owns }
}

// WithHA makes a Daemon one replica of several sharing l (the unwrapped
// store, which takes leases and claims mail; see HA). Without it the
// daemon is the only replica.
func WithHA(ha HA, l store.Leaser) Option {
	return func(o *options) { o.ha, o.leaser = &ha, l }
}

// OnOutcome has a Processor (and the processor a Daemon builds) tell f of
// every message its watcher handlers process without error, from the
// INBOX and from the Sent mailbox, after the outcome is stored. The demo
// and tests use it; metrics count through the observed store instead.
func OnOutcome(f func(dept string, o Outcome)) Option {
	return func(o *options) { o.onOutcome = f }
}
