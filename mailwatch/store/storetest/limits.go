package storetest

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
)

// limitsTests are the cases for the sending limits: what the sender
// counts (SentTimes), holding and dropping mail, and the lists status
// pages read.
var limitsTests = []struct {
	name string
	fn   func(t *testing.T, s store.Store)
}{
	{"SentTimes", testSentTimes},
	{"HoldMail", testHoldMail},
	{"MarkSentMany", testMarkSentMany},
	{"DropMail", testDropMail},
	{"HeldAndRequestMail", testHeldAndRequestMail},
}

func sentTimes(t *testing.T, s store.Store, f store.SentFilter, limit int) []time.Time {
	t.Helper()
	got, err := s.SentTimes(t.Context(), f, limit)
	if err != nil {
		t.Fatalf("SentTimes(%+v, %d): %v", f, limit, err)
	}
	return got
}

// sendAll marks mails sent, the i-th at at[i].
func sendAll(t *testing.T, s store.Store, ms []store.Mail, at ...time.Time) {
	t.Helper()
	for i, m := range ms {
		if err := s.MarkSent(t.Context(), m.ID, at[i]); err != nil {
			t.Fatalf("MarkSent(%d): %v", m.ID, err)
		}
	}
}

// SentTimes counts by send time, by recipient in any case, by request
// and by kind, newest first, and only what was sent.
func testSentTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	carol := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	dan := newRequest("it", "b")
	dan.Requester = "Dan@Example.test"
	danReq := record(t, s, dan, func(ref string) ([]store.NewMail, error) {
		return []store.NewMail{{Kind: "receipt", MessageID: "<receipt-b@ackd>", Recipients: []string{"Dan@Example.test"}, Raw: []byte("x")}}, nil
	})
	// Two escalations of carol's request to staff, and a digest.
	apply(t, s, store.Change{RequestID: carol.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.EscalationLevel = 2
		return []store.NewMail{mail("escalation", "<esc-1@ackd>"), mail("escalation", "<esc-2@ackd>")}, nil
	}})
	if err := s.QueueMail(ctx, "it", []store.NewMail{mail("digest", "<digest@ackd>")}); err != nil {
		t.Fatal(err)
	}
	if got := sentTimes(t, s, store.SentFilter{Since: base.Add(-time.Hour)}, 10); len(got) != 0 {
		t.Errorf("nothing sent yet, SentTimes = %v", got)
	}
	due := dueMail(t, s, 10)
	if len(due) != 5 {
		t.Fatalf("due = %d mails, want 5", len(due))
	}
	// receipt a, receipt b, esc-1, esc-2, digest
	at := []time.Time{base, base.Add(time.Minute), base.Add(2 * time.Minute), base.Add(3 * time.Minute), base.Add(4 * time.Minute)}
	sendAll(t, s, due, at...)

	for _, tc := range []struct {
		name  string
		f     store.SentFilter
		limit int
		want  []time.Time
	}{
		{"all, newest first", store.SentFilter{Since: base.Add(-time.Second)}, 10, []time.Time{at[4], at[3], at[2], at[1], at[0]}},
		{"limit keeps the newest", store.SentFilter{Since: base.Add(-time.Second)}, 2, []time.Time{at[4], at[3]}},
		{"since is exclusive", store.SentFilter{Since: at[3]}, 10, []time.Time{at[4]}},
		{"to an address in any case", store.SentFilter{Since: base.Add(-time.Second), To: "dan@EXAMPLE.test"}, 10, []time.Time{at[1]}},
		{"to an address, one kind left out", store.SentFilter{Since: base.Add(-time.Second), To: "alice@example.test",
			ExceptKinds: []string{"digest"}}, 10, []time.Time{at[3], at[2]}},
		{"to an address, staff kinds left out", store.SentFilter{Since: base.Add(-time.Second), To: "alice@example.test",
			ExceptKinds: []string{"escalation", "digest"}}, 10, nil},
		{"of a request", store.SentFilter{Since: base.Add(-time.Second), RequestID: carol.ID}, 10, []time.Time{at[3], at[2], at[0]}},
		{"of a request and kind", store.SentFilter{Since: base.Add(-time.Second), RequestID: carol.ID, Kinds: []string{"escalation"}}, 10,
			[]time.Time{at[3], at[2]}},
		{"of another request", store.SentFilter{Since: base.Add(-time.Second), RequestID: danReq.ID, Kinds: []string{"escalation"}}, 10, nil},
		{"to an address, of a request", store.SentFilter{Since: base.Add(-time.Second), To: "alice@example.test", RequestID: carol.ID}, 10,
			[]time.Time{at[3], at[2]}},
		{"kinds", store.SentFilter{Since: base.Add(-time.Second), Kinds: []string{"digest", "receipt"}}, 10, []time.Time{at[4], at[1], at[0]}},
		{"nobody", store.SentFilter{Since: base.Add(-time.Second), To: "eve@example.test"}, 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := sentTimes(t, s, tc.f, tc.limit)
			if len(got) != len(tc.want) {
				t.Fatalf("SentTimes = %v, want %v", got, tc.want)
			}
			for i := range got {
				if !got[i].Equal(roundMillis(tc.want[i])) {
					t.Errorf("SentTimes[%d] = %v, want %v", i, got[i], tc.want[i])
				}
			}
		})
	}
	if _, err := s.SentTimes(ctx, store.SentFilter{}, 0); err == nil {
		t.Error("limit 0: no error")
	}
}

func roundMillis(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

// HoldMail keeps a mail pending and out of DueMail until next, without
// counting an attempt, and writes the history once per mail.
func testHoldMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	m := dueMail(t, s, 10)[0]
	later := time.Now().Add(3 * time.Hour).Truncate(time.Millisecond)
	if err := s.HoldMail(ctx, m.ID, later, "per_sender_per_hour: 10 mails to carol@example.test in the last hour", base); err != nil {
		t.Fatal(err)
	}
	if n := len(dueMail(t, s, 10)); n != 0 {
		t.Errorf("held mail still due: %d", n)
	}
	if n := pending(t, s); n != 1 {
		t.Errorf("pending = %d, want the held mail", n)
	}
	got, err := s.MailByID(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.MailPending || got.Attempts != 0 || !got.NextAttempt.Equal(later) ||
		got.HeldReason != "per_sender_per_hour: 10 mails to carol@example.test in the last hour" || !got.HeldSince.Equal(roundMillis(base)) {
		t.Errorf("held mail = %+v", got)
	}
	if next, ok, err := s.NextMailAttempt(ctx); err != nil || !ok || !next.Equal(later) {
		t.Errorf("NextMailAttempt = %v %v %v, want the end of the hold %v", next, ok, err, later)
	}
	// Held again for another reason: the first hold stays the start.
	if err := s.HoldMail(ctx, m.ID, later.Add(time.Minute), "global_per_minute: 60 mails in the last minute", base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	got, _ = s.MailByID(ctx, m.ID)
	if !got.HeldSince.Equal(roundMillis(base)) || got.HeldReason != "global_per_minute: 60 mails in the last minute" {
		t.Errorf("held twice: since %v reason %q", got.HeldSince, got.HeldReason)
	}
	if k := eventKinds(events(t, s, r.ID)); k != "received mail-held" {
		t.Errorf("history after two holds = %q, want one mail-held", k)
	}
	// Sent once the window allows: the history says so, the send counts.
	sentAt := later.Add(time.Minute)
	if err := s.MarkSent(ctx, m.ID, sentAt); err != nil {
		t.Fatal(err)
	}
	evs := events(t, s, r.ID)
	if k := eventKinds(evs); k != "received mail-held mail-released" {
		t.Errorf("history after sending = %q", k)
	}
	if e := evs[1]; e.Dept != "it" || !e.At.Equal(roundMillis(base)) || e.Actor != "" ||
		e.Detail != "receipt held: per_sender_per_hour: 10 mails to carol@example.test in the last hour" {
		t.Errorf("mail-held event = %+v", e)
	}
	if e := evs[2]; !e.At.Equal(sentAt) {
		t.Errorf("mail-released event at %v, want %v", e.At, sentAt)
	}
	if got := sentTimes(t, s, store.SentFilter{Since: base, To: "carol@example.test"}, 5); len(got) != 1 || !got[0].Equal(sentAt) {
		t.Errorf("SentTimes after a held send = %v", got)
	}
	if err := s.HoldMail(ctx, m.ID, later, "x", base); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("holding a sent mail: %v, want ErrNotPending", err)
	}
	if err := s.HoldMail(ctx, 999999, later, "x", base); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("holding an unknown mail: %v, want ErrNotFound", err)
	}
	// A mail of no request is held without history.
	if err := s.QueueMail(ctx, "it", []store.NewMail{mail("digest", "<digest@ackd>")}); err != nil {
		t.Fatal(err)
	}
	d := dueMail(t, s, 10)[0]
	if err := s.HoldMail(ctx, d.ID, later, "global_per_minute", base); err != nil {
		t.Errorf("holding a digest: %v", err)
	}
	// A plain send writes no history.
	r2 := record(t, s, newRequest("it", "b"), receipts("<receipt-b@ackd>"))
	sendAll(t, s, dueMail(t, s, 10), base)
	if k := eventKinds(events(t, s, r2.ID)); k != "received" {
		t.Errorf("history after an unheld send = %q", k)
	}
}

// DropMail closes a mail unsent, with the reason and in the history.
func testDropMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	r := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	m := dueMail(t, s, 10)[0]
	if err := s.HoldMail(ctx, m.ID, base.Add(time.Hour), "per_sender_per_hour", base); err != nil {
		t.Fatal(err)
	}
	if err := s.DropMail(ctx, m.ID, base.Add(time.Hour), "no longer useful: the request was answered"); err != nil {
		t.Fatal(err)
	}
	got, err := s.MailByID(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != store.MailDropped || !got.DroppedAt.Equal(roundMillis(base.Add(time.Hour))) ||
		got.DropReason != "no longer useful: the request was answered" || !got.SentAt.IsZero() {
		t.Errorf("dropped mail = %+v", got)
	}
	if n := pending(t, s); n != 0 {
		t.Errorf("pending = %d after the drop", n)
	}
	if k := eventKinds(events(t, s, r.ID)); k != "received mail-held mail-dropped" {
		t.Errorf("history = %q", k)
	}
	if got := sentTimes(t, s, store.SentFilter{Since: base.Add(-time.Hour)}, 5); len(got) != 0 {
		t.Errorf("a dropped mail counts as sent: %v", got)
	}
	if err := s.DropMail(ctx, m.ID, base, "again"); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("dropping twice: %v, want ErrNotPending", err)
	}
	if err := s.MarkSent(ctx, m.ID, base); !errors.Is(err, store.ErrNotPending) {
		t.Errorf("sending a dropped mail: %v, want ErrNotPending", err)
	}
	if err := s.DropMail(ctx, 999999, base, "x"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("dropping an unknown mail: %v, want ErrNotFound", err)
	}
}

// HeldMail lists what limits hold now, by department; RequestMail lists a
// request's mail in any state. Neither carries the raw bytes.
func testHeldAndRequestMail(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := record(t, s, newRequest("it", "a"), receipts("<receipt-a@ackd>"))
	record(t, s, newRequest("hr", "b"), receipts("<receipt-b@ackd>"))
	record(t, s, newRequest("it", "c"), receipts("<receipt-c@ackd>"))
	due := dueMail(t, s, 10)
	if len(due) != 3 {
		t.Fatalf("due = %d", len(due))
	}
	for _, m := range due[:2] {
		if err := s.HoldMail(ctx, m.ID, base.Add(time.Hour), "held "+m.Dept, base); err != nil {
			t.Fatal(err)
		}
	}
	sendAll(t, s, due[2:], base)
	held, err := s.HeldMail(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(held) != 2 || held[0].ID != due[0].ID || held[1].ID != due[1].ID {
		t.Fatalf("HeldMail(all) = %+v", held)
	}
	for _, m := range held {
		if m.Raw != nil || m.HeldReason != "held "+m.Dept || m.Kind != "receipt" || len(m.Recipients) != 1 {
			t.Errorf("held mail = %+v", m)
		}
	}
	it, err := s.HeldMail(ctx, "it")
	if err != nil || len(it) != 1 || it[0].RequestID != a.ID {
		t.Errorf("HeldMail(it) = %+v, %v; want REQ-1's receipt", it, err)
	}
	apply(t, s, store.Change{RequestID: a.ID, Update: func(r *store.Request) ([]store.NewMail, error) {
		r.EscalationLevel = 1
		return []store.NewMail{mail("escalation", "<esc@ackd>")}, nil
	}})
	ms, err := s.RequestMail(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, m := range ms {
		kinds = append(kinds, m.Kind+"/"+m.State)
		if m.Raw != nil || m.RequestID != a.ID {
			t.Errorf("request mail = %+v", m)
		}
	}
	if want := []string{"receipt/pending", "escalation/pending"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("RequestMail = %v, want %v", kinds, want)
	}
	if ms, err := s.RequestMail(ctx, 999999); err != nil || len(ms) != 0 {
		t.Errorf("RequestMail(unknown) = %v, %v; want none", ms, err)
	}
}

// MarkSentMany records a group of sends in one call, each as MarkSent
// would (send times, recipients, the release of a held mail); a mark
// MarkSent would refuse is refused alone and the others are recorded.
func testMarkSentMany(t *testing.T, s store.Store) {
	ctx := t.Context()
	var reqs []store.Request
	for _, k := range []string{"a", "b", "c"} {
		reqs = append(reqs, record(t, s, newRequest("it", k), receipts("<receipt-"+k+"@ackd>")))
	}
	ms := dueMail(t, s, 10)
	if len(ms) != 3 {
		t.Fatalf("%d due mails, want 3", len(ms))
	}
	if err := s.MarkSent(ctx, ms[1].ID, base); err != nil {
		t.Fatal(err)
	}
	if err := s.HoldMail(ctx, ms[2].ID, base, "global_per_minute (60) reached", base); err != nil {
		t.Fatal(err)
	}
	if errs, err := s.MarkSentMany(ctx, nil); err != nil || len(errs) != 0 {
		t.Errorf("MarkSentMany(nil) = %v, %v", errs, err)
	}
	at := base.Add(time.Minute)
	errs, err := s.MarkSentMany(ctx, []store.SentMark{
		{ID: ms[0].ID, At: at}, {ID: ms[1].ID, At: at}, {ID: 99999, At: at}, {ID: ms[2].ID, At: at.Add(time.Second)},
	})
	if err != nil {
		t.Fatalf("MarkSentMany: %v", err)
	}
	if len(errs) != 4 || errs[0] != nil || !errors.Is(errs[1], store.ErrNotPending) || !errors.Is(errs[2], store.ErrNotFound) || errs[3] != nil {
		t.Fatalf("MarkSentMany errs = %v, want [nil ErrNotPending ErrNotFound nil]", errs)
	}
	for i, want := range []time.Time{at, base, at.Add(time.Second)} {
		got, err := s.MailByID(ctx, ms[i].ID)
		if err != nil || got.State != store.MailSent || !got.SentAt.Equal(roundMillis(want)) || got.Attempts != 1 {
			t.Errorf("mail %d = %+v, %v; want sent at %v after one attempt", i, got, err, want)
		}
	}
	if got := sentTimes(t, s, store.SentFilter{Since: base.Add(-time.Hour)}, 10); len(got) != 3 {
		t.Errorf("SentTimes after MarkSentMany = %v, want 3", got)
	}
	if got := sentTimes(t, s, store.SentFilter{Since: base.Add(-time.Hour), To: "carol@example.test"}, 10); len(got) != 3 {
		t.Errorf("SentTimes for the recipient = %v, want 3 (recipients marked too)", got)
	}
	if k := eventKinds(events(t, s, reqs[2].ID)); k != "received mail-held mail-released" {
		t.Errorf("history of the held mail sent in a group = %q", k)
	}
	if n := pending(t, s); n != 0 {
		t.Errorf("pending = %d after MarkSentMany, want 0", n)
	}

	// Under a claim (replicas): a mark with another claim's token is
	// fenced, alone.
	l, ok := s.(store.Leaser)
	if !ok {
		return
	}
	for _, k := range []string{"d", "e"} {
		record(t, s, newRequest("it", k), receipts("<receipt-"+k+"@ackd>"))
	}
	claimed, err := l.ClaimMail(ctx, "replica-a", time.Now(), 10, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("ClaimMail = %d mails, %v", len(claimed), err)
	}
	errs, err = s.MarkSentMany(store.WithClaim(ctx, "not-the-token"), []store.SentMark{{ID: claimed[0].ID, At: at}})
	if err != nil || len(errs) != 1 || !errors.Is(errs[0], store.ErrFenced) {
		t.Errorf("MarkSentMany under a stale claim = %v, %v; want ErrFenced", errs, err)
	}
	errs, err = s.MarkSentMany(store.WithClaim(ctx, claimed[0].ClaimToken), []store.SentMark{{ID: claimed[0].ID, At: at}, {ID: claimed[1].ID, At: at}})
	if err != nil || len(errs) != 2 || errs[0] != nil || errs[1] != nil {
		t.Errorf("MarkSentMany under the claim = %v, %v", errs, err)
	}
}
