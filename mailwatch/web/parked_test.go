package web_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/mailwatch/web"
)

// TestMetricsParkedGauge: /metrics shows how many messages each
// department's watchers parked, 0 for a department with none.
func TestMetricsParkedGauge(t *testing.T) {
	st, err := store.Open(context.Background(), "sqlite", filepath.Join(t.TempDir(), "ackd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, uid := range []uint32{3, 7} {
		if err := st.ParkMessage(context.Background(), store.Parked{Dept: "it-help@example.test", Mailbox: "INBOX", UIDValidity: 1, UID: uid,
			Attempts: 5, LastError: "record request: database is locked"}); err != nil {
			t.Fatal(err)
		}
	}
	cfg := &config.Config{Departments: []*config.Department{{Name: "IT Help Desk", Address: "it-help@example.test"}, {Name: "Payroll", Address: "payroll@example.test"}}}
	m := web.NewMetrics(web.Sources{Store: st, Config: func() *config.Config { return cfg }})
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		if f.GetName() != "ackd_parked_messages" {
			continue
		}
		for _, s := range f.GetMetric() {
			got[s.GetLabel()[0].GetValue()] = s.GetGauge().GetValue()
		}
	}
	if got["IT Help Desk"] != 2 || got["Payroll"] != 0 || len(got) != 2 {
		t.Errorf("ackd_parked_messages = %v; want IT Help Desk 2, Payroll 0", got)
	}
}
