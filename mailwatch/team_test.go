package mailwatch

import (
	"context"
	"testing"
	"time"
)

// TestAwayCommandByMail: "#away until <date>" and "#back" sent to the
// department on no thread (issue 15 item 2) never become a request; they
// mark the sender away, or back, only with proof (here: trusted,
// aligned authentication).
func TestAwayCommandByMail(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	when := at("2026-12-01 10:00")
	auth := "Authentication-Results: mx.example.test; dmarc=pass header.from=example.test\r\n"
	away := func() []string {
		t.Helper()
		list, err := w.st.AwayAt(ctx, w.rt.Config.Departments[0].Key(), when.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.Address+" "+a.Until.In(w.rt.Config.Departments[0].Calendar.Location()).Format("2006-01-02"))
		}
		return out
	}
	o := w.deliverTo("INBOX", when, "alice@example.test", dept, "", "away", "", "", "#away until friday\n\nAlice")
	if o.Action != "skipped" || o.Decision.Refusal != "team-command" || len(away()) != 0 {
		t.Fatalf("unproven #away: %s (%s), away %q; want skipped, nobody away", o.Action, o.Decision.Reason, away())
	}
	trustMX(w)
	o = w.deliverTo("INBOX", when, "alice@example.test", dept, "", "away", "", auth, "#away until friday\n\nAlice")
	if got := away(); o.Action != "skipped" || len(got) != 1 || got[0] != "alice@example.test 2026-12-04" {
		t.Fatalf("proven #away: %s (%s), away %q; want alice until Friday", o.Action, o.Decision.Reason, got)
	}
	o = w.deliverTo("INBOX", when, "alice@example.test", dept, "", "back", "", auth, "#back")
	if got := away(); o.Action != "skipped" || len(got) != 0 {
		t.Fatalf("#back: %s, away %q; want nobody", o.Action, got)
	}
	if n := len(w.mails()); n != 0 {
		t.Errorf("%d mails queued for #away/#back, want none", n)
	}
}
