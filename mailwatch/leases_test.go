package mailwatch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// Two replicas on one store: a department runs in one at a time, and a
// replica that stops hands it to the other.
func TestSuperviseLeasesHandover(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := st.(store.Leaser)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	var (
		mu            sync.Mutex
		running, most int
	)
	started := make(chan string, 4)
	work := func(replica string) []leaseWork {
		return []leaseWork{{dept: "it", runs: []func(context.Context) error{func(ctx context.Context) error {
			mu.Lock()
			running++
			most = max(most, running)
			mu.Unlock()
			started <- replica
			<-ctx.Done()
			mu.Lock()
			running--
			mu.Unlock()
			return nil
		}}}}
	}
	ha := func(id string) HA { return HA{ReplicaID: id, LeaseTTL: 300 * time.Millisecond} }
	wait := func(want string) {
		t.Helper()
		select {
		case got := <-started:
			if got != want {
				t.Fatalf("department started in %s, want %s", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("department never started in %s", want)
		}
	}

	ctxA, stopA := context.WithCancel(t.Context())
	doneA := make(chan struct{})
	go func() { superviseLeases(ctxA, l, ha("a"), work("a"), time.Now, nil, log); close(doneA) }()
	wait("a")
	ctxB, stopB := context.WithCancel(t.Context())
	doneB := make(chan struct{})
	go func() { superviseLeases(ctxB, l, ha("b"), work("b"), time.Now, nil, log); close(doneB) }()
	stopA()
	<-doneA
	wait("b")
	stopB()
	<-doneB
	mu.Lock()
	defer mu.Unlock()
	if most != 1 || running != 0 {
		t.Errorf("at most %d replicas ran the department at once (want 1); %d still running", most, running)
	}
}

// A replica whose lease is taken over (its clock says the lease expired,
// e.g. after a long pause) stops the department.
func TestSuperviseLeasesStopsOnLoss(t *testing.T) {
	st, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := st.(store.Leaser)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	started, stopped := make(chan struct{}, 1), make(chan struct{}, 1)
	work := []leaseWork{{dept: "it", runs: []func(context.Context) error{func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		stopped <- struct{}{}
		return nil
	}}}}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	changed := make(chan struct{}, 4)
	owned := newHoldings(func() { changed <- struct{}{} })
	go superviseLeases(ctx, l, HA{ReplicaID: "a", LeaseTTL: 300 * time.Millisecond}, work, time.Now, owned, log)
	<-started
	<-changed
	if !owned.owns("it") || owned.owns("hr") {
		t.Errorf("holding it: owns(it) %v, owns(hr) %v", owned.owns("it"), owned.owns("hr"))
	}
	// Another replica steals the lease far in the future.
	if ok, err := l.AcquireLease(t.Context(), "it", "b", time.Hour, time.Now().Add(time.Hour)); err != nil || !ok {
		t.Fatalf("steal lease: %v %v", ok, err)
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the department kept running after its lease was lost")
	}
	// The scheduler and digester must stop before the watchers do.
	if owned.owns("it") {
		t.Error("the lost department is still owned")
	}
}

// spreadHarness drives replicas' supervisor ticks by hand on one store
// with a fake clock, and counts how many replicas run each department.
type spreadHarness struct {
	t     *testing.T
	l     store.Leaser
	ttl   time.Duration
	clock time.Time
	depts []string
	live  map[string]*spreadReplica
	mu    sync.Mutex
	runs  map[string]int // department → replicas running its work now
	worst int
}

type spreadReplica struct {
	s      *supervisor
	ctx    context.Context
	cancel context.CancelFunc
}

func newSpreadHarness(t *testing.T, depts ...string) *spreadHarness {
	st, err := store.Open(t.Context(), "sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return &spreadHarness{t: t, l: st.(store.Leaser), ttl: 15 * time.Second,
		clock: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC), depts: depts,
		live: map[string]*spreadReplica{}, runs: map[string]int{}}
}

func (h *spreadHarness) join(id string) {
	var work []leaseWork
	for _, d := range h.depts {
		work = append(work, leaseWork{dept: d, runs: []func(context.Context) error{func(ctx context.Context) error {
			h.mu.Lock()
			h.runs[d]++
			h.worst = max(h.worst, h.runs[d])
			h.mu.Unlock()
			<-ctx.Done()
			h.mu.Lock()
			h.runs[d]--
			h.mu.Unlock()
			return nil
		}}})
	}
	ctx, cancel := context.WithCancel(h.t.Context())
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	s := newSupervisor(h.l, HA{ReplicaID: id, LeaseTTL: h.ttl}, work, func() time.Time { return h.clock }, nil, log)
	h.live[id] = &spreadReplica{s: s, ctx: ctx, cancel: cancel}
}

// leave is a clean shutdown: work stopped, leases released.
func (h *spreadHarness) leave(id string) {
	r := h.live[id]
	r.cancel()
	r.s.shutdown(r.ctx)
	delete(h.live, id)
}

// kill is a SIGKILL: the work dies with the process, the leases stay
// until they expire.
func (h *spreadHarness) kill(id string) {
	r := h.live[id]
	r.cancel()
	for _, run := range r.s.held {
		<-run.done
	}
	delete(h.live, id)
}

// round advances the clock by ttl/3 and ticks every live replica in
// order, checking after each tick that no department has two holders.
func (h *spreadHarness) round(order []string) {
	h.t.Helper()
	h.clock = h.clock.Add(h.ttl / 3)
	for _, id := range order {
		r := h.live[id]
		r.s.tick(r.ctx)
		holder := map[string]string{}
		for rid, o := range h.live {
			for d := range o.s.held {
				if prev, dup := holder[d]; dup {
					h.t.Fatalf("at %s after %s ticked, %s is held by %s and %s", h.clock.Format(time.TimeOnly), id, d, prev, rid)
				}
				holder[d] = rid
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.worst > 1 {
		h.t.Fatalf("a department's work ran in %d replicas at once", h.worst)
	}
}

func (h *spreadHarness) rounds(n int) {
	h.t.Helper()
	ids := slices.Sorted(maps.Keys(h.live))
	for range n {
		h.round(ids)
	}
}

// loads is how many departments each live replica holds, and how many
// departments no live replica holds.
func (h *spreadHarness) loads() (map[string]int, int) {
	out, free := map[string]int{}, len(h.depts)
	for id, r := range h.live {
		out[id] = len(r.s.held)
		free -= len(r.s.held)
	}
	return out, free
}

// settled checks that every department is held and each replica holds
// its share: d/n or ceil(d/n).
func (h *spreadHarness) settled(what string) map[string]int {
	h.t.Helper()
	got, free := h.loads()
	lo, hi := share(len(h.depts), len(h.live))
	for id, n := range got {
		if n < lo || n > hi {
			h.t.Errorf("%s: %s holds %d departments, want %d to %d (all: %v)", what, id, n, lo, hi, got)
		}
	}
	if free != 0 {
		h.t.Errorf("%s: %d departments held by no live replica (%v)", what, free, got)
	}
	return got
}

func TestSpreadLeases(t *testing.T) {
	h := newSpreadHarness(t, "hr", "it", "sales")
	h.join("a")
	h.rounds(1)
	if got, _ := h.loads(); got["a"] != 3 {
		t.Fatalf("a alone holds %v, want all 3", got)
	}
	h.join("b")
	h.rounds(6)
	if got := h.settled("a and b"); got["a"]+got["b"] != 3 || got["a"] != 2 {
		t.Errorf("a and b hold %v, want 2 and 1 (a keeps the first two)", got)
	}
	if _, ok := h.live["a"].s.held["sales"]; ok {
		t.Error("a kept sales: it must give up its last department by name")
	}
	h.join("c")
	h.rounds(6)
	if got := h.settled("a, b and c"); got["a"] != 1 || got["b"] != 1 || got["c"] != 1 {
		t.Errorf("three replicas hold %v, want one each", got)
	}
	// A stable spread stays put: nobody gives up a department again.
	before := map[string][]string{}
	for id, r := range h.live {
		before[id] = slices.Sorted(maps.Keys(r.s.held))
	}
	h.rounds(6)
	for id, r := range h.live {
		if now := slices.Sorted(maps.Keys(r.s.held)); !slices.Equal(now, before[id]) {
			t.Errorf("settled %s moved from %v to %v", id, before[id], now)
		}
	}
	// c dies: its department waits out the ttl, then a or b takes it.
	dead := slices.Sorted(maps.Keys(h.live["c"].s.held))
	h.kill("c")
	h.rounds(2)
	if _, free := h.loads(); free != 1 {
		t.Errorf("before c's lease expired %d departments were free, want 1 (%v)", free, dead)
	}
	h.rounds(6)
	h.settled("after c died")
	// b leaves cleanly: a takes everything at once, without the ttl.
	h.leave("b")
	h.rounds(1)
	if got := h.settled("after b left"); got["a"] != 3 {
		t.Errorf("a holds %v after b left, want all 3", got)
	}
}

// Replicas join, leave and die at random: no department ever has two
// holders, and once the churn stops the departments settle into shares.
func TestSpreadLeasesChurn(t *testing.T) {
	for seed := range uint64(2) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			h := newSpreadHarness(t, "a", "b", "c", "d", "e", "f", "g")
			next := 0
			for range 100 {
				switch p := rng.IntN(20); {
				case p < 2 && len(h.live) < 5:
					h.join(fmt.Sprint("r", next))
					next++
				case p == 2 && len(h.live) > 1:
					h.leave(slices.Sorted(maps.Keys(h.live))[rng.IntN(len(h.live))])
				case p == 3 && len(h.live) > 1:
					h.kill(slices.Sorted(maps.Keys(h.live))[rng.IntN(len(h.live))])
				}
				if len(h.live) == 0 {
					h.join(fmt.Sprint("r", next))
					next++
				}
				ids := slices.Sorted(maps.Keys(h.live))
				rng.Shuffle(len(ids), func(i, j int) { ids[i], ids[j] = ids[j], ids[i] })
				h.round(ids)
			}
			// Expired leases lapse within 4 rounds; then one move per tick.
			h.rounds(4 + 2*len(h.depts))
			h.settled(fmt.Sprintf("%d replicas after the churn", len(h.live)))
		})
	}
}
