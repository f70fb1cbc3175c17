package mailwatch

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// promise: forecast end to end through the processor and the scheduler:
// on a busy morning the later receipts give the forecast, plainly; the
// ladder still runs on the commitment and its passing tells the leads
// only; the promise's passing brings the requester's late notice.
func TestForecastPromise(t *testing.T) {
	cfg := strings.Replace(lifecycleConfig, "access: {commitment: 4h, closing: true,", "access: {commitment: 4h, promise: forecast, closing: true,", 1)
	w := newWorldConfig(t, cfg)
	w.rt.Config.Departments[0].Incident.Count = 0 // 40 requests alike: no burst alert in the count
	// Two staff at the default rate (3 an hour each): the 40th request in
	// line waits far longer than the 4h commitment.
	const n = 40
	var last Outcome
	for i := range n {
		w.now = at("2026-12-01 10:00").Add(time.Duration(i) * time.Second)
		last = w.deliver(w.now, "jane@example.test", "it-help@example.test", "", "Forgot my password", "", "help")
	}
	got := w.mails()
	if len(got) != n {
		t.Fatalf("%d receipts, want %d", len(got), n)
	}
	if strings.Contains(got[0].text, "More requests than usual") {
		t.Errorf("the first receipt gives a forecast with an empty queue:\n%s", got[0].text)
	}
	if !strings.Contains(got[n-1].text, "More requests than usual reached us today; we expect to answer by") {
		t.Fatalf("the last receipt does not say the date is later:\n%s", got[n-1].text)
	}
	r := w.request(last.Ref)
	if !r.DueAt.Equal(w.now.Add(4*time.Hour)) || !r.PromisedAt.After(r.DueAt) {
		t.Fatalf("due %v, promised %v; want the commitment (4h) and a later promise", r.DueAt, r.PromisedAt)
	}
	if !strings.Contains(got[n-1].text, r.PromisedAt.In(berlin).Format("15:04")) {
		t.Errorf("receipt does not give the promise %v:\n%s", r.PromisedAt, got[n-1].text)
	}
	// The ladder on the commitment: 50% (12:00) to staff, 90% to leads,
	// then the commitment passes: leads, and no late notice for the
	// promised requests.
	promised := 0
	for i := 1; i <= n; i++ {
		if r := w.request("REQ-" + strconv.Itoa(i)); !r.PromisedAt.IsZero() {
			promised++
		}
	}
	w.tick(at("2026-12-01 14:01"))
	var lateNotices, toLeads int
	for _, m := range w.mails() {
		switch {
		case m.kind == "late-notice":
			lateNotices++
		case m.kind == "escalation" && strings.Join(m.to, ",") == "lead@example.test":
			toLeads++
		}
	}
	if promised == 0 || lateNotices != n-promised {
		t.Errorf("%d late notices at the commitment; want one for each of the %d requests without a later promise", lateNotices, n-promised)
	}
	r = w.request(last.Ref)
	if !r.PromisedAt.Equal(r.DueAt) || r.State != "acknowledged" {
		t.Errorf("after the commitment: state %s, promised %v; want acknowledged, the promise now the due time", r.State, r.PromisedAt)
	}
	// The promise passes unanswered: now the requester hears.
	w.tick(r.DueAt)
	found := false
	for _, m := range w.mails() {
		found = found || m.kind == "late-notice" && strings.Join(m.to, ",") == "jane@example.test"
	}
	if !found {
		t.Errorf("no late notice when the promise %v passed", r.DueAt)
	}
}

// Staff the store has marked away (an out-of-office reply, #away) answer
// nothing in the forecast: with one of the two staff away, the same queue
// gives a later promise than with both in.
func TestForecastPromiseCountsAwayStaff(t *testing.T) {
	cfg := strings.Replace(lifecycleConfig, "access: {commitment: 4h, closing: true,", "access: {commitment: 4h, promise: forecast, closing: true,", 1)
	promiseOfLast := func(away bool) time.Time {
		w := newWorldConfig(t, cfg)
		w.rt.Config.Departments[0].Incident.Count = 0
		start := at("2026-12-01 10:00")
		if away {
			err := w.st.SetAway(t.Context(), store.Away{Dept: "it-help@example.test", Address: "bob@example.test",
				Until: start.Add(72 * time.Hour), Reason: "#away", SetAt: start.Add(-time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
		}
		var last Outcome
		for i := range 30 {
			w.now = start.Add(time.Duration(i) * time.Second)
			last = w.deliver(w.now, "jane@example.test", "it-help@example.test", "", "Forgot my password", "", "help")
		}
		return w.request(last.Ref).PromisedAt
	}
	both, oneAway := promiseOfLast(false), promiseOfLast(true)
	if both.IsZero() || oneAway.IsZero() {
		t.Fatalf("promises %v and %v: want a forecast promise in both runs", both, oneAway)
	}
	if !oneAway.After(both) {
		t.Errorf("with bob away the 30th request is promised %v, with both in %v: want later", oneAway, both)
	}
}
