package mailwatch

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// Authority needs proof (issue 11, findings 3–5): a staff action takes
// effect only when the mail is proven to come from its author; anyone
// else's mail on a thread is information only.

const phish = "Your password expires today. Log in at http://it-help.example.test.evil.example/reset to keep it.\n#done"

// openRequest records a request from Jane (cc'd to cc, if any) and drains
// its receipt.
func (w *world) openRequest(when time.Time, cc, subject string) Outcome {
	w.t.Helper()
	o := w.deliver(when, jane, dept, cc, subject, "", "Please help.")
	if o.Action != "receipt" {
		w.t.Fatalf("request %q: %s (%s)", subject, o.Action, o.Decision.Reason)
	}
	w.mails()
	return o
}

// mailsOfKind counts queued mail of one kind, optionally to one address.
func mailsOfKind(ms []sentMail, kind, to string) int {
	n := 0
	for _, m := range ms {
		if m.kind == kind && (to == "" || slices.Contains(m.to, to)) {
			n++
		}
	}
	return n
}

// escalationMessageID returns the Message-ID of the newest escalation of req.
func (w *world) escalationMessageID(ref string) string {
	w.t.Helper()
	rows, err := w.st.DueMail(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	id := ""
	for _, r := range rows {
		if r.Kind == "escalation" && r.RequestID == w.request(ref).ID {
			id = r.MessageID
		}
	}
	if id == "" {
		w.t.Fatalf("no escalation of %s queued", ref)
	}
	return id
}

func TestForgedStaffMailIsInformationOnly(t *testing.T) {
	type result struct {
		action   string
		state    store.State
		answered bool
		mails    []string // kind→to of what was queued
	}
	tests := []struct {
		name      string
		from      string
		subject   string
		inReplyTo func(w *world, o Outcome) string
		extra     string
		mailbox   string
		setup     func(w *world)
		want      result
	}{
		{"forged display name, tag only, no auth", `"Alice (IT Help Desk)" <alice@example.test>`, "Re: [REQ-1] Password", nil, "", "INBOX", nil,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"forged lead", "lead@example.test", "Re: [REQ-1] Password", nil, "", "INBOX", nil,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→lead@example.test"}}},
		{"forged department address", "IT Help Desk <" + dept + ">", "Re: [REQ-1] Password", nil, "", "INBOX", nil,
			result{"unproven", store.StateAcknowledged, false, nil}},
		{"replying to the receipt proves nothing", "alice@example.test", "Re: [REQ-1] Password",
			func(w *world, o Outcome) string { return w.receiptID(o.Ref) }, "", "INBOX", nil,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"an unknown Message-ID proves nothing", "alice@example.test", "Re: [REQ-1] Password",
			func(*world, Outcome) string { return "guess-0001@example.test" }, "", "INBOX", nil,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"no Authentication-Results with trust on", "alice@example.test", "Re: [REQ-1] Password", nil, "", "INBOX", trustMX,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"spf=softfail", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.example.test; spf=softfail smtp.mailfrom=example.test\r\n", "INBOX", trustMX,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"dmarc=none", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.example.test; dmarc=none header.from=example.test\r\n", "INBOX", trustMX,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"dmarc=pass from another server", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.evil.example; dmarc=pass header.from=example.test\r\n", "INBOX", trustMX,
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"dmarc=pass without authserv_id configured", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.example.test; dmarc=pass header.from=example.test\r\n", "INBOX",
			func(w *world) { w.rt.Config.Departments[0].TrustAuthenticationResults = true },
			result{"unproven", store.StateAcknowledged, false, []string{"unproven-notice→alice@example.test"}}},
		{"in reply to an escalation but dmarc=fail", "alice@example.test", "Re: [REQ-1] Password",
			func(w *world, o Outcome) string { return w.chase(o) }, "Authentication-Results: mx.example.test; dmarc=fail header.from=example.test\r\n", "INBOX", trustMX,
			// Refused before threading, as a forged internal From.
			result{"skipped", store.StateAcknowledged, false, nil}},

		// Proven: each way works.
		{"dmarc=pass from the configured authserv-id", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.example.test; dmarc=pass header.from=example.test\r\n", "INBOX", trustMX,
			result{"resolved", store.StateResolved, true, []string{"relay→jane@example.test", "closing→jane@example.test"}}},
		{"aligned dkim=pass from the configured authserv-id", "alice@example.test", "Re: [REQ-1] Password", nil,
			"Authentication-Results: mx.example.test; spf=softfail; dkim=pass header.d=example.test\r\n", "INBOX", trustMX,
			result{"resolved", store.StateResolved, true, []string{"relay→jane@example.test", "closing→jane@example.test"}}},
		{"in reply to the request", "alice@example.test", "Re: Password",
			func(w *world, o Outcome) string { return o.Request.MessageID }, "", "INBOX", nil,
			result{"resolved", store.StateResolved, true, []string{"relay→jane@example.test", "closing→jane@example.test"}}},
		{"in reply to an escalation", "alice@example.test", "Re: [REQ-1] Escalation",
			func(w *world, o Outcome) string { return w.chase(o) }, "", "INBOX", nil,
			result{"resolved", store.StateResolved, true, []string{"relay→jane@example.test", "closing→jane@example.test"}}},
		{"from the Sent mailbox, tag only", "IT Help Desk <" + dept + ">", "Re: [REQ-1] Password", nil, "", "Sent", nil,
			result{"resolved", store.StateResolved, true, []string{"closing→jane@example.test"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.setup != nil {
				tt.setup(w)
			}
			o := w.openRequest(at("2026-12-01 10:00"), "", "Password")
			irt := ""
			if tt.inReplyTo != nil {
				irt = tt.inReplyTo(w, o)
			}
			before := w.request("REQ-1")
			got := w.deliverTo(tt.mailbox, at("2026-12-01 10:40"), tt.from, dept, "", tt.subject, irt, tt.extra, phish)
			r := w.request("REQ-1")
			var kinds []string
			for _, m := range w.mails() {
				kinds = append(kinds, m.kind+"→"+strings.Join(m.to, ","))
			}
			res := result{got.Action, r.State, !r.AnsweredAt.IsZero(), kinds}
			if res.action != tt.want.action || res.state != tt.want.state || res.answered != tt.want.answered || !slices.Equal(res.mails, tt.want.mails) {
				t.Fatalf("got %+v\nwant %+v\nhistory %v", res, tt.want, w.history("REQ-1"))
			}
			if tt.want.answered {
				return
			}
			// Nothing changed: the clock still runs and escalates as before.
			if r.EscalationLevel != before.EscalationLevel || r.Reminders != before.Reminders || !r.DueAt.Equal(before.DueAt) ||
				!r.LastActivityAt.Equal(before.LastActivityAt) || r.AssignedTo != "" {
				t.Errorf("unproven mail changed the request: %+v → %+v", before, r)
			}
			if evs := w.events("REQ-1"); got.Action != "skipped" && !slices.Contains(evs, EventUnproven) {
				t.Errorf("history %v has no %s event", evs, EventUnproven)
			}
			if before.EscalationLevel == 0 {
				w.tick(at("2026-12-01 12:00"))
				w.expectMails("50% step after the forged mail", "escalation→alice@example.test,bob@example.test")
			}
		})
	}
}

var trustMX = func(w *world) {
	d := w.rt.Config.Departments[0]
	d.TrustAuthenticationResults, d.AuthservID = true, "mx.example.test"
}

// receiptID is the Message-ID of a request's receipt.
func (w *world) receiptID(ref string) string {
	w.t.Helper()
	rows, err := w.st.DueMail(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Kind == "receipt" && r.RequestID == w.request(ref).ID {
			return r.MessageID
		}
	}
	w.t.Fatalf("no receipt of %s", ref)
	return ""
}

// chase has Jane send a reminder, which escalates to staff at once, and
// returns that escalation's Message-ID.
func (w *world) chase(o Outcome) string {
	w.t.Helper()
	if r := w.deliver(at("2026-12-01 10:30"), jane, dept, "", "Re: Password", o.Request.MessageID, "Any news?"); r.Action != "reminder" {
		w.t.Fatalf("chase: %s", r.Action)
	}
	w.mails()
	return w.escalationMessageID(o.Ref)
}

func (w *world) history(ref string) []string {
	w.t.Helper()
	evs, err := w.st.Events(context.Background(), w.request(ref).ID)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		out = append(out, e.Kind+" "+e.Actor+" "+e.Detail)
	}
	return out
}

// TestWalkingRefsRelaysNothing: a forger walks REQ-1…REQ-30 twice a day
// for two days; nothing is relayed, answered or closed, and each staff
// member hears at most once per request per day.
func TestWalkingRefsRelaysNothing(t *testing.T) {
	w := newWorld(t)
	const n = 30
	for i := range n {
		w.deliver(at("2026-12-01 09:00").Add(time.Duration(i)*time.Minute), jane, dept, "", fmt.Sprintf("Request %d", i+1), "", "x")
	}
	w.mails()
	relays, notices := 0, map[string]int{} // "addr ref day" → notices
	forged := 0
	for _, day := range []string{"2026-12-01", "2026-12-02"} {
		for _, hour := range []string{"10:00", "15:00"} {
			for i := 1; i <= n; i++ {
				for _, staff := range []string{`"Alice (IT Help Desk)" <alice@example.test>`, "bob@example.test", "IT Help Desk <" + dept + ">"} {
					forged++
					w.deliver(at(day+" "+hour), staff, dept, "", fmt.Sprintf("Re: [REQ-%d] your request", i), "", phish)
				}
				for _, m := range w.mails() {
					switch m.kind {
					case "relay", "closing", "due-update":
						relays++
					case "unproven-notice":
						notices[fmt.Sprintf("%s REQ-%d %s", m.to[0], i, day)]++
					default:
						t.Errorf("forged mail queued %s to %v", m.kind, m.to)
					}
				}
			}
		}
	}
	answered := 0
	for i := 1; i <= n; i++ {
		if r := w.request(fmt.Sprintf("REQ-%d", i)); !r.AnsweredAt.IsZero() || r.State != store.StateAcknowledged {
			answered++
		}
	}
	t.Logf("%d forged staff mails on %d requests: %d relayed, %d answered or closed, %d notices", forged, n, relays, answered, len(notices))
	if relays != 0 || answered != 0 {
		t.Errorf("%d relays, %d requests answered or closed; want 0 and 0", relays, answered)
	}
	for k, c := range notices {
		if c > 1 {
			t.Errorf("%s: %d notices, want at most 1", k, c)
		}
	}
	// Alice and Bob, each request, each of two days; never the department.
	if len(notices) != 2*n*2 {
		t.Errorf("%d (address, request, day) notices, want %d", len(notices), 2*n*2)
	}
}

// TestAssignOnlyStaffLeadsOrAssignable: #assign to anyone else is refused
// with the command help and an event; escalations keep going to staff.
func TestAssignOnlyStaffLeadsOrAssignable(t *testing.T) {
	tests := []struct {
		name       string
		to         string
		assignable []string
		ok         bool
	}{
		{"outsider", "mallory@evil.example", nil, false},
		{"coworker who is not staff", "carol@example.test", nil, false},
		{"staff", "bob@example.test", nil, true},
		{"lead, any case", "Lead@Example.Test", nil, true},
		{"assignable pattern", "tom@contractor.example", []string{"*@contractor.example"}, true},
		{"assignable elsewhere", "mallory@evil.example", []string{"*@contractor.example"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.rt.Config.Departments[0].Assignable = tt.assignable
			o := w.openRequest(at("2026-12-01 10:00"), "", "Password")
			w.deliver(at("2026-12-01 10:10"), "alice@example.test", dept, "", "Re: Password", o.Request.MessageID, "#assign "+tt.to)
			r := w.request("REQ-1")
			got := w.mails()
			if tt.ok {
				if !strings.EqualFold(r.AssignedTo, tt.to) || len(got) != 0 {
					t.Fatalf("assigned to %q, queued %v; want %q and nothing", r.AssignedTo, got, tt.to)
				}
				return
			}
			if r.AssignedTo != "" {
				t.Fatalf("assigned to %q", r.AssignedTo)
			}
			if len(got) != 1 || got[0].kind != "command-help" || !slices.Equal(got[0].to, []string{"alice@example.test"}) ||
				!strings.Contains(got[0].text, tt.to) {
				t.Fatalf("queued %+v, want one command help to alice naming %s", got, tt.to)
			}
			if evs := w.events("REQ-1"); !slices.Contains(evs, store.EventCommandRefused) || slices.Contains(evs, store.EventAssigned) {
				t.Errorf("history %v, want command-refused and no assigned", evs)
			}
			w.tick(at("2026-12-01 12:00"))
			w.expectMails("50% step after the refused #assign", "escalation→alice@example.test,bob@example.test")
		})
	}
}

// TestRemindersOnlyFromTheThread: mail carrying [REQ-n] from outside
// allowed_senders, or from anyone the request was not written to, neither
// escalates nor counts; the requester and the request's Cc do.
func TestRemindersOnlyFromTheThread(t *testing.T) {
	w := newWorld(t)
	o := w.openRequest(at("2026-12-01 10:00"), "Max <max@example.test>, "+dept, "Password")
	if r := w.request("REQ-1"); !slices.Equal(r.Recipients, []string{"max@example.test"}) {
		t.Fatalf("recipients %q, want Max alone (not the department, not Jane)", r.Recipients)
	}
	escalations := 0
	for i := range 10 {
		for _, from := range []string{fmt.Sprintf("stranger%d@elsewhere.example", i), fmt.Sprintf("coworker%d@example.test", i)} {
			got := w.deliver(at("2026-12-01 10:05").Add(time.Duration(i)*time.Minute), from, dept, "", "Re: [REQ-1] Password", "", "Any news??")
			if got.Action != "information" {
				t.Errorf("mail from %s: %s, want information", from, got.Action)
			}
			escalations += mailsOfKind(w.mails(), "escalation", "")
		}
	}
	// Even naming the request's own Message-ID does not make a stranger
	// a participant.
	w.deliver(at("2026-12-01 10:20"), "stranger@elsewhere.example", dept, "", "Re: Password", o.Request.MessageID, "Hello?")
	escalations += mailsOfKind(w.mails(), "escalation", "")
	if r := w.request("REQ-1"); escalations != 0 || r.Reminders != 0 || r.EscalationLevel != 0 {
		t.Fatalf("20 outsiders' mails: %d escalations, %d reminders, level %d; want 0", escalations, r.Reminders, r.EscalationLevel)
	}
	// The Cc'd colleague chases: a reminder.
	if got := w.deliver(at("2026-12-01 10:30"), "max@example.test", dept, "", "Re: [REQ-1] Password", "", "Any news?"); got.Action != "reminder" {
		t.Fatalf("Cc'd colleague's chase: %s, want reminder", got.Action)
	}
	w.expectMails("colleague's reminder", "escalation→alice@example.test,bob@example.test")
	if got := w.deliver(at("2026-12-01 10:35"), jane, dept, "", "Re: [REQ-1] Password", "", "Hello?"); got.Action != "reminder" {
		t.Fatalf("requester's chase: %s, want reminder", got.Action)
	}
	w.expectMails("requester's reminder", "escalation→lead@example.test")
	if r := w.request("REQ-1"); r.Reminders != 2 {
		t.Errorf("%d reminders, want 2", r.Reminders)
	}
}

// TestNoticeOncePerDay: the same staff address hears once a day per
// request however often its name is forged; replying to the notice proves
// the reply.
func TestNoticeOncePerDay(t *testing.T) {
	w := newWorld(t)
	w.openRequest(at("2026-12-01 10:00"), "", "Password")
	for i := range 5 {
		w.deliver(at("2026-12-01 10:10").Add(time.Duration(i)*time.Hour), "alice@example.test", dept, "", "Re: [REQ-1]", "", phish)
	}
	w.expectMails("five forged mails in a day", "unproven-notice→alice@example.test")
	w.deliver(at("2026-12-02 10:11"), "alice@example.test", dept, "", "Re: [REQ-1]", "", phish)
	w.expectMails("the next day", "unproven-notice→alice@example.test")

	notice := ""
	rows, _ := w.st.DueMail(context.Background(), time.Now().Add(24*365*time.Hour), 1000)
	for _, r := range rows {
		if r.Kind == "unproven-notice" {
			notice = r.MessageID
		}
	}
	got := w.deliver(at("2026-12-02 11:00"), "alice@example.test", dept, "", "Re: [REQ-1] A mail in your name was not acted on", notice, "The printer is fixed.")
	if got.Action != "answered" {
		t.Fatalf("reply to the notice: %s, want answered", got.Action)
	}
	w.expectMails("genuine reply", "relay→jane@example.test")
}
