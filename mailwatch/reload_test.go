package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/templates"
)

// TestReloadSwapsBeforeKick: a reload puts the new config in force before
// it wakes the scheduler and the digester, so their next pass plans with
// it; a refused reload keeps the old config and wakes nobody.
func TestReloadSwapsBeforeKick(t *testing.T) {
	w := newHistoryWorld(t)
	cfg := w.config("IT Help Desk", "")
	st, err := store.Open(context.Background(), "sqlite", cfg.Store.DSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d, err := NewDaemon(cfg, templates.Default(), st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	// Not running: nothing drains the kick channels, so what is in them is
	// what Reload sent.
	kicked := func() (sched, digest bool) {
		select {
		case <-d.sched.kick:
			sched = true
		default:
		}
		select {
		case <-d.digest.kick:
			digest = true
		default:
		}
		return sched, digest
	}

	added := w.config("IT Help Desk", "")
	extra := *added.Departments[0]
	extra.Name, extra.Address = "Payroll", "payroll@example.test"
	added.Departments = append(added.Departments, &extra)
	if err := d.Reload(added, templates.Default()); err == nil || !strings.Contains(err.Error(), "added") {
		t.Fatalf("reload adding a department: %v, want refused", err)
	}
	if d.Runtime().Config != cfg {
		t.Fatal("a refused reload changed the config in force")
	}
	if s, g := kicked(); s || g {
		t.Fatalf("a refused reload woke the scheduler (%v) or the digester (%v)", s, g)
	}

	renamed := w.config("Service Desk", "")
	if err := d.Reload(renamed, templates.Default()); err != nil {
		t.Fatal(err)
	}
	if d.Runtime().Config != renamed {
		t.Fatal("reload did not put the new config in force")
	}
	if s, g := kicked(); !s || !g {
		t.Fatalf("after a reload: scheduler woken %v, digester woken %v; want both", s, g)
	}
}
