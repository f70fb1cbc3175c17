package mailwatch

import (
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// HA makes a daemon one of several replicas sharing one store: each
// department's watchers run only while this replica holds that
// department's lease. The zero value (no ReplicaID) means a single
// replica without leases.
type HA struct {
	ReplicaID string        // unique per running ackd, e.g. the host name
	LeaseTTL  time.Duration // how long a dead replica keeps its departments; 15s when 0
}

// defaultLeaseTTL bounds a takeover after a crash at well under 30 s.
const defaultLeaseTTL = 15 * time.Second

// leaseWork is what runs under one department's lease.
type leaseWork struct {
	dept string
	runs []func(ctx context.Context) error
}

// superviseLeases tries every department's lease every ttl/3 and runs the
// department's work while it is held. A renewal that fails or errs stops
// the work at once: the lease may be gone, and a replica that cannot tell
// must not keep acknowledging beside the new holder. It returns when ctx
// is done, after stopping all work and releasing the leases it held, so a
// clean shutdown hands departments over without waiting for the ttl.
// owned, when not nil, mirrors the departments held, for the scheduler
// and digester.
func superviseLeases(ctx context.Context, l store.Leaser, ha HA, work []leaseWork, now func() time.Time, owned *holdings, log *slog.Logger) {
	ttl := ha.LeaseTTL
	if ttl <= 0 {
		ttl = defaultLeaseTTL
	}
	type running struct {
		cancel context.CancelFunc
		done   chan struct{}
	}
	held := map[string]*running{}
	stop := func(dept string) {
		// Off the list first: the scheduler must not fire for a
		// department another replica may be taking.
		owned.set(dept, false)
		r := held[dept]
		r.cancel()
		<-r.done
		delete(held, dept)
	}
	start := func(w leaseWork) {
		wctx, cancel := context.WithCancel(ctx)
		r := &running{cancel: cancel, done: make(chan struct{})}
		var wg sync.WaitGroup
		for _, run := range w.runs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := run(wctx); err != nil {
					log.Error("department work stopped", "dept", w.dept, "err", err)
				}
			}()
		}
		go func() { wg.Wait(); close(r.done) }()
		held[w.dept] = r
		owned.set(w.dept, true)
	}
	sort.Slice(work, func(i, j int) bool { return work[i].dept < work[j].dept })
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		for _, w := range work {
			ok, err := l.AcquireLease(ctx, w.dept, ha.ReplicaID, ttl, now())
			if ctx.Err() != nil {
				break
			}
			_, running := held[w.dept]
			switch {
			case err != nil && running:
				log.Error("cannot renew lease; stopping the department", "dept", w.dept, "err", err)
				stop(w.dept)
			case err != nil:
				log.Warn("cannot take lease", "dept", w.dept, "err", err)
			case ok && !running:
				log.Info("lease taken; watching the department", "dept", w.dept, "replica", ha.ReplicaID)
				start(w)
			case !ok && running:
				log.Warn("lease lost; stopping the department", "dept", w.dept, "replica", ha.ReplicaID)
				stop(w.dept)
			}
		}
		select {
		case <-ctx.Done():
			for dept := range held {
				stop(dept)
				// ctx is done; the release gets its own short deadline.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if err := l.ReleaseLease(rctx, dept, ha.ReplicaID); err != nil {
					log.Warn("release lease", "dept", dept, "err", err)
				}
				cancel()
			}
			return
		case <-tick.C:
		}
	}
}

// holdings is the set of departments whose lease this replica holds now.
// The scheduler and digester read it on every pass; changed (when set)
// runs after each change so they plan again at once.
type holdings struct {
	mu      sync.RWMutex
	m       map[string]bool
	changed func()
}

func newHoldings(changed func()) *holdings {
	return &holdings{m: map[string]bool{}, changed: changed}
}

// set records whether dept is held; a nil h ignores it.
func (h *holdings) set(dept string, on bool) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if on {
		h.m[dept] = true
	} else {
		delete(h.m, dept)
	}
	h.mu.Unlock()
	if h.changed != nil {
		h.changed()
	}
}

// owns says whether dept's lease is held.
func (h *holdings) owns(dept string) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.m[dept]
}

// EnableHA makes d one replica of several sharing l (the unwrapped store d
// writes to): watchers run under department leases and the sender claims
// mail before sending it. The scheduler and digester fire only for the
// departments whose lease d holds, so escalations, late notices and
// digests come from the replica that watches the department. Call it
// before Run.
func (d *Daemon) EnableHA(ha HA, l store.Leaser) {
	if ha.LeaseTTL <= 0 {
		ha.LeaseTTL = defaultLeaseTTL
	}
	d.ha, d.leaser = ha, l
	// A department just taken may owe steps its dead holder did not fire.
	d.owned = newHoldings(func() { d.sched.Kick(); d.digest.Kick() })
	d.sched.OnlyDepartments(d.owned.owns)
	d.digest.OnlyDepartments(d.owned.owns)
	d.claims.claim = func(ctx context.Context, now time.Time, limit int) ([]store.Mail, error) {
		// A claim outlives any one SMTP attempt by far, so the mail cannot
		// be claimed by another replica while this one still sends it.
		return l.ClaimMail(ctx, ha.ReplicaID, now, limit, claimTTL)
	}
}

// claimTTL is how long a claimed mail is reserved for its replica.
const claimTTL = 5 * time.Minute

// leaseWork groups the watchers by department ("it" and "it/sent").
func (d *Daemon) leaseWork() []leaseWork {
	by := map[string]*leaseWork{}
	for name, w := range d.watched {
		dept := name
		if i := strings.LastIndex(name, "/sent"); i > 0 && i == len(name)-len("/sent") {
			dept = name[:i]
		}
		lw := by[dept]
		if lw == nil {
			lw = &leaseWork{dept: dept}
			by[dept] = lw
		}
		lw.runs = append(lw.runs, w.Run)
	}
	out := make([]leaseWork, 0, len(by))
	for _, lw := range by {
		out = append(out, *lw)
	}
	return out
}
