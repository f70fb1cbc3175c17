package mailwatch

import (
	"context"
	"log/slog"
	"slices"
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

// superviseLeases runs a supervisor's tick every ttl/3 until ctx is
// done, then stops all work and releases the leases it held (and its
// presence), so a clean shutdown hands departments over without waiting
// for the ttl. owned, when not nil, mirrors the departments held, for the
// scheduler and digester.
func superviseLeases(ctx context.Context, l store.Leaser, ha HA, work []leaseWork, now func() time.Time, owned *holdings, log *slog.Logger) {
	s := newSupervisor(l, ha, work, now, owned, log)
	t := time.NewTicker(s.ttl / 3)
	defer t.Stop()
	for {
		s.tick(ctx)
		select {
		case <-ctx.Done():
			s.shutdown(ctx)
			return
		case <-t.C:
		}
	}
}

// supervisor holds one replica's department leases. Each tick renews its
// presence and the leases it holds, then moves it towards its share of
// the departments: see tick.
type supervisor struct {
	l     store.Leaser
	ha    HA
	ttl   time.Duration
	work  []leaseWork // by department name
	now   func() time.Time
	owned *holdings
	log   *slog.Logger
	held  map[string]*running
}

// running is one department's work under a held lease.
type running struct {
	gen    int64 // the lease generation the work's writes are fenced with
	cancel context.CancelFunc
	done   chan struct{}
}

func newSupervisor(l store.Leaser, ha HA, work []leaseWork, now func() time.Time, owned *holdings, log *slog.Logger) *supervisor {
	ttl := ha.LeaseTTL
	if ttl <= 0 {
		ttl = defaultLeaseTTL
	}
	work = slices.Clone(work)
	slices.SortFunc(work, func(a, b leaseWork) int { return strings.Compare(a.dept, b.dept) })
	return &supervisor{l: l, ha: ha, ttl: ttl, work: work, now: now, owned: owned, log: log, held: map[string]*running{}}
}

// stop ends dept's work and waits for it.
func (s *supervisor) stop(dept string) {
	// Off the list first: the scheduler must not fire for a department
	// another replica may be taking.
	s.owned.set(dept, 0)
	r := s.held[dept]
	r.cancel()
	<-r.done
	delete(s.held, dept)
}

// start runs w's work under a lease just taken with generation gen. Its
// writes carry the generation (store.WithFence), so once another replica
// has taken the lease they are refused, even if this replica froze and
// has not yet noticed.
func (s *supervisor) start(ctx context.Context, w leaseWork, gen int64) {
	wctx, cancel := context.WithCancel(store.WithFence(ctx, w.dept, gen))
	r := &running{gen: gen, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	for _, run := range w.runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(wctx); err != nil {
				s.log.Error("department work stopped", "dept", w.dept, "err", err)
			}
		}()
	}
	go func() { wg.Wait(); close(r.done) }()
	s.held[w.dept] = r
	s.owned.set(w.dept, gen)
}

// share is how many departments a replica may hold when n replicas are
// live: between lo = d/n and hi = ceil(d/n).
func share(d, n int) (lo, hi int) {
	n = max(n, 1)
	return d / n, (d + n - 1) / n
}

// tick renews this replica's presence and the leases it holds (a renewal
// that fails or errs stops the department at once: the lease may be
// gone, and a replica that cannot tell must not keep acknowledging beside
// the new holder), then balances:
//
//   - with n live replicas and d departments each may hold up to
//     hi = ceil(d/n); one holding more, while another holds fewer than
//     hi, releases its surplus one department per tick; one holding
//     exactly hi releases one when another holds fewer than lo = d/n;
//   - it takes free or expired leases while it holds fewer than hi,
//     but a replica already at lo leaves them to any replica below lo.
//
// A replica that gave a department up never holds fewer than the replica
// it gave it up for may take, so it does not take it back: the leases
// settle with every replica holding lo or hi.
func (s *supervisor) tick(ctx context.Context) {
	now := s.now()
	id := s.ha.ReplicaID
	if ok, err := s.l.AcquireLease(ctx, store.PresenceLease(id), id, s.ttl, now); err != nil {
		s.log.Warn("cannot renew presence", "replica", id, "err", err)
	} else if !ok {
		s.log.Error("another replica runs with the same replica_id", "replica", id)
	}
	for _, w := range s.work {
		r, ok := s.held[w.dept]
		if !ok {
			continue
		}
		gen, err := s.l.AcquireLeaseGeneration(ctx, w.dept, id, s.ttl, now)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			s.log.Error("cannot renew lease; stopping the department", "dept", w.dept, "err", err)
			s.stop(w.dept)
		case gen == 0:
			s.log.Warn("lease lost; stopping the department", "dept", w.dept, "replica", id)
			s.stop(w.dept)
		case gen != r.gen:
			// Another replica held it while this one was frozen: the
			// work's writes are fenced off now; start it afresh.
			s.log.Warn("lease was held by another replica meanwhile; restarting the department", "dept", w.dept, "replica", id,
				"generation", gen, "was", r.gen)
			s.stop(w.dept)
			s.start(ctx, w, gen)
		}
	}
	loads, err := s.l.LiveReplicas(ctx, now)
	if err != nil {
		// Without the count a replica could take more than its share;
		// keeping what it holds is safe, and the next tick tries again.
		s.log.Warn("cannot count live replicas", "err", err)
		return
	}
	n, othersMin := 1, -1 // this replica counts even if its presence write failed
	for _, r := range loads {
		if r.ID == id {
			continue
		}
		n++
		if othersMin < 0 || r.Leases < othersMin {
			othersMin = r.Leases
		}
	}
	lo, hi := share(len(s.work), n)
	mine := len(s.held)
	if othersMin >= 0 && (mine > hi && othersMin < hi || mine == hi && hi > lo && othersMin < lo) {
		s.release(ctx, mine, hi)
		return
	}
	for _, w := range s.work {
		if mine >= hi || mine >= lo && othersMin >= 0 && othersMin < lo {
			return
		}
		if _, ok := s.held[w.dept]; ok {
			continue
		}
		gen, err := s.l.AcquireLeaseGeneration(ctx, w.dept, id, s.ttl, now)
		if ctx.Err() != nil {
			return
		}
		switch {
		case err != nil:
			s.log.Warn("cannot take lease", "dept", w.dept, "err", err)
		case gen > 0:
			s.log.Info("lease taken; watching the department", "dept", w.dept, "replica", id, "generation", gen)
			s.start(ctx, w, gen)
			mine++
		}
	}
}

// release gives up the held department last by name, after stopping its
// work, so another replica below its share takes it on its next tick.
func (s *supervisor) release(ctx context.Context, mine, hi int) {
	var dept string
	for _, w := range s.work {
		if _, ok := s.held[w.dept]; ok {
			dept = w.dept
		}
	}
	s.log.Info("giving a department to a replica below its share", "dept", dept, "replica", s.ha.ReplicaID, "held", mine, "share", hi)
	s.stop(dept)
	if err := s.l.ReleaseLease(ctx, dept, s.ha.ReplicaID); err != nil {
		// The lease lapses after the ttl instead; the work is stopped.
		s.log.Warn("release lease", "dept", dept, "err", err)
	}
}

// shutdown stops all work and releases the leases held and the presence.
func (s *supervisor) shutdown(ctx context.Context) {
	// ctx is done; the releases get their own short deadline.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, w := range s.work {
		if _, ok := s.held[w.dept]; !ok {
			continue
		}
		s.stop(w.dept)
		if err := s.l.ReleaseLease(rctx, w.dept, s.ha.ReplicaID); err != nil {
			s.log.Warn("release lease", "dept", w.dept, "err", err)
		}
	}
	if err := s.l.ReleaseLease(rctx, store.PresenceLease(s.ha.ReplicaID), s.ha.ReplicaID); err != nil {
		s.log.Warn("release presence", "err", err)
	}
}

// holdings is the set of departments whose lease this replica holds now,
// each with the lease's generation. The scheduler and digester read it on
// every pass, and their writes are fenced with it (fence); changed (when
// set) runs after each change so they plan again at once.
type holdings struct {
	mu      sync.RWMutex
	m       map[string]int64
	changed func()
}

func newHoldings(changed func()) *holdings {
	return &holdings{m: map[string]int64{}, changed: changed}
}

// set records that dept is held with generation gen, or not held when gen
// is 0; a nil h ignores it.
func (h *holdings) set(dept string, gen int64) {
	if h == nil {
		return
	}
	h.mu.Lock()
	if gen > 0 {
		h.m[dept] = gen
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
	_, ok := h.fence(dept)
	return ok
}

// fence is a store.Fence: the generation of dept's lease if held.
func (h *holdings) fence(dept string) (int64, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	gen, ok := h.m[dept]
	return gen, ok
}

// enableHA makes d one replica of several sharing l (the unwrapped store d
// writes to): watchers run under department leases and the sender claims
// mail before sending it. NewDaemon calls it for WithHA once the sender
// and watchers exist; the scheduler and digester were built asking
// d.owned, so escalations, late notices and digests come from the replica
// that watches the department.
func (d *Daemon) enableHA(ha HA, l store.Leaser) {
	if ha.LeaseTTL <= 0 {
		ha.LeaseTTL = defaultLeaseTTL
	}
	d.ha, d.leaser = ha, l
	d.claims.claim = func(ctx context.Context, now time.Time, limit int) ([]store.Mail, error) {
		// A claim outlives any one SMTP attempt by far, so the mail cannot
		// be claimed by another replica while this one still sends it.
		return l.ClaimMail(ctx, ha.ReplicaID, now, limit, claimTTL)
	}
	d.claims.check = l.CheckClaim
	d.claims.ttl = claimTTL
	// After a failed store write a watcher tries again within ttl/3, not
	// after its IMAP reconnect backoff: a department's new holder must not
	// idle for minutes because its first writes met a zombie's locks.
	for _, w := range d.watched {
		w.SetStoreRetry(ha.LeaseTTL / 3)
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
