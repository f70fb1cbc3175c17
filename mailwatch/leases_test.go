package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
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
