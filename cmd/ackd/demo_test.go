package main

import (
	"strings"
	"testing"
)

func TestDemoOnce(t *testing.T) {
	r := runAckd(t, "demo", "--once")
	if r.code != 0 {
		t.Fatalf("ackd demo --once: %s", r)
	}
	if n := strings.Count(r.stdout, "→ receipt to "); n != 5 {
		t.Errorf("%d receipts printed, want 5:\n%s", n, r.stdout)
	}
	if n := strings.Count(r.stdout, "MAIL FROM:<>, Auto-Submitted: auto-replied"); n != 5 {
		t.Errorf("%d receipts with the null path and Auto-Submitted: auto-replied, want 5:\n%s", n, r.stdout)
	}
	if !strings.Contains(r.stdout, "· not acknowledged (skipped)") {
		t.Errorf("the out-of-office reply is not shown as skipped:\n%s", r.stdout)
	}
	_, status, ok := strings.Cut(r.stdout, "== ackd status\n")
	if !ok {
		t.Fatalf("no status table:\n%s", r.stdout)
	}
	for _, want := range []string{"REF", "REQ-1", "REQ-5", "Recently skipped (1)", "Auto-Submitted"} {
		if !strings.Contains(status, want) {
			t.Errorf("the status table lacks %q:\n%s", want, status)
		}
	}
	if strings.Contains(status, "REQ-6") {
		t.Errorf("six requests recorded, want five:\n%s", status)
	}
}
