package mailwatch_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/mailstack"
	"github.com/ackd/ackd/mailwatch/store"
)

// sendRaw submits raw through Postfix from one address to another.
func sendRaw(t *testing.T, s *mailstack.Stack, from, to string, raw []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Send(ctx, from, to, raw); err != nil {
		t.Fatalf("send from %s to %s: %v", from, to, err)
	}
}

// TestLanguageE2E (issue 16): on the real stack, a German request gets a
// German receipt with the due date in German words, an English one in the
// same department an English receipt, and a French Content-Language wins
// over English words.
func TestLanguageE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	e := newThreadEnv(t, s, "{commitment: 2d}")
	max, jane, anne := s.NewAddress(t, "max"), s.NewAddress(t, "jane"), s.NewAddress(t, "anne")

	_, raw := mailOut{from: max, to: []string{e.dept}, subject: "VPN bricht ständig ab",
		body: "Hallo,\n\nseit gestern bricht die VPN-Verbindung alle paar Minuten ab, im Homeoffice wie im Büro.\n\nGruß\nMax"}.raw()
	sendRaw(t, s, max, e.dept, []byte(strings.Replace(string(raw), "From: "+max, "From: Max Mustermann <"+max+">", 1)))
	sendAs(t, s, mailOut{from: jane, to: []string{e.dept}, subject: "Printer on the third floor keeps jamming",
		body: "Hi,\n\nthe printer next to the kitchen jams on every second page.\n\nThanks, Jane"})

	de := waitInbox(t, s, e.dept, max, 20*time.Second, "German receipt", atLeast(1))[0]
	r := e.waitRequest(t, de.ref, 5*time.Second, "German request recorded", func(store.Request) bool { return true })
	if r.Language != "de" {
		t.Errorf("stored language %q, want de", r.Language)
	}
	due := r.DueAt.In(berlinLoc)
	weekday := map[time.Weekday]string{time.Monday: "Montag", time.Tuesday: "Dienstag", time.Wednesday: "Mittwoch",
		time.Thursday: "Donnerstag", time.Friday: "Freitag", time.Saturday: "Samstag", time.Sunday: "Sonntag"}[due.Weekday()]
	month := []string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"}[due.Month()-1]
	wantDate := weekday + ", " + due.Format("2") + ". " + month + " " + due.Format("2006, 15:04") + " Uhr"
	for _, want := range []string{"Guten Tag Max Mustermann,", "unter der Nummer [" + de.ref + "] erfasst", "bis " + wantDate, "2 Arbeitstage"} {
		if !strings.Contains(de.text, want) {
			t.Errorf("German receipt lacks %q:\n%s", want, de.text)
		}
	}

	en := waitInbox(t, s, e.dept, jane, 20*time.Second, "English receipt", atLeast(1))[0]
	if en.kind != kindReceipt || !strings.Contains(en.text, "We expect to answer by ") {
		t.Errorf("English receipt expected, got %s:\n%s", en.kind, en.text)
	}

	// Content-Language comes before the words.
	id, raw := mailOut{from: anne, to: []string{e.dept}, subject: "Printer jams again",
		body: "Hello, the printer on floor 2 jams again. Thanks, Anne"}.raw()
	raw = []byte(strings.Replace(string(raw), "MIME-Version: 1.0\r\n", "Content-Language: fr-FR\r\nMIME-Version: 1.0\r\n", 1))
	sendRaw(t, s, anne, e.dept, raw)
	fr := waitInbox(t, s, e.dept, anne, 20*time.Second, "French receipt", atLeast(1))[0]
	if !strings.Contains(fr.text, "Bonjour,") || !strings.Contains(fr.text, "Nous prévoyons de vous répondre d’ici le") {
		t.Errorf("receipt to %s (Content-Language: fr-FR) is not French:\n%s", id, fr.text)
	}
}

// TestAskForE2E (issue 16): on the real stack, a receipt asks for what the
// category needs and points to its form; a request that already names the
// shared drive is not asked for it again, and the other line stays.
func TestAskForE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	e := newThreadEnv(t, s, `{commitment: 1d, ask_for: [{ask: "the name of the shared drive", present: {body: ["/\\\\\\\\[a-z0-9.-]+\\\\[a-z0-9$_-]+/"]}}, "your manager's approval"], links: [{title: "Access request form", url: "https://intranet.example.test/forms/access"}]}`)
	ann, bob := s.NewAddress(t, "ann"), s.NewAddress(t, "bob")
	sendAs(t, s, mailOut{from: ann, to: []string{e.dept}, subject: "Access to the finance share",
		body: "Hello, please give me access to the finance share. Thanks, Ann"})
	sendAs(t, s, mailOut{from: bob, to: []string{e.dept}, subject: "Access to the finance share",
		body: `Hello, please give me access to \\fs01\finance for the audit. Thanks, Bob`})

	a := waitInbox(t, s, e.dept, ann, 20*time.Second, "receipt to ann", atLeast(1))[0]
	for _, want := range []string{"To get started, we need from you: - the name of the shared drive - your manager's approval",
		"Access request form: https://intranet.example.test/forms/access"} {
		if !strings.Contains(a.text, want) {
			t.Errorf("receipt to ann lacks %q:\n%s", want, a.text)
		}
	}
	b := waitInbox(t, s, e.dept, bob, 20*time.Second, "receipt to bob", atLeast(1))[0]
	if strings.Contains(b.text, "the name of the shared drive") || !strings.Contains(b.text, "we need from you: - your manager's approval") {
		t.Errorf("receipt to bob, who named the drive, should ask only for the approval:\n%s", b.text)
	}
}

// TestSatisfactionE2E (issue 16): on the real stack, with satisfaction
// on, #done sends a closing mail that asks how we did; the requester's
// "2" is recorded once and thanked, and the leads get the low rating with
// the thread; a second answer changes nothing.
func TestSatisfactionE2E(t *testing.T) {
	t.Parallel()
	s := mailstack.Require(t)
	dept, staff, lead := s.NewAddress(t, "dept"), s.NewAddress(t, "staff"), s.NewAddress(t, "lead")
	dir := t.TempDir()
	y := threadConfig(s, dir, dept, staff, lead, secretFile(t), "{commitment: 1d}")
	y = strings.Replace(y, "    leads: ["+lead+"]\n", "    leads: ["+lead+"]\n    satisfaction: {every: 30d, low: 2}\n", 1)
	cfg, err := config.Parse(filepath.Join(dir, "config.yaml"), []byte(y))
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	d := &deployment{t: t, b: &stackBackend{s: s}, dept: dept, cfg: cfg, dbPath: cfg.Store.DSN}
	d.start()
	e := &threadEnv{deployment: d, s: s, staff: staff, lead: lead}
	t.Cleanup(func() {
		if t.Failed() {
			e.logHistory(t)
		}
	})

	jane := s.NewAddress(t, "jane")
	o := e.openRequest(t, jane, "Monitor flickers", "My second monitor flickers every few seconds.")
	sendAs(t, s, o.reply(mailOut{from: staff, to: []string{dept}, body: "#done"}))
	got := waitInbox(t, s, dept, jane, 20*time.Second, "closing", func(g []gotMail) bool { return len(having(g, kindClosing, "")) == 1 })
	closing := having(got, kindClosing, "")[0]
	if !strings.Contains(closing.text, "how did we do? Just reply with a single number from 1 (poor) to 5 (excellent)") ||
		strings.Contains(closing.text, "http") {
		t.Errorf("closing does not ask (or carries a link):\n%s", closing.text)
	}
	if r := e.request(t, o.receipt.ref); r.RatingAskedAt.IsZero() || r.State != store.StateResolved {
		t.Fatalf("after #done: %s asked at %v", r.State, r.RatingAskedAt)
	}

	sendAs(t, s, o.reply(mailOut{from: jane, to: []string{dept}, body: "2\n\n> How did we do?"}))
	r := e.waitRequest(t, o.receipt.ref, 20*time.Second, "rating recorded", func(r store.Request) bool { return r.Rating != 0 })
	if r.Rating != 2 || r.State != store.StateResolved {
		t.Errorf("rating %d, state %s; want 2, still resolved", r.Rating, r.State)
	}
	got = waitInbox(t, s, dept, jane, 20*time.Second, "thanks", atLeast(3))
	var thanked bool
	for _, g := range got {
		if strings.Contains(g.text, "Thank you for your answer (2 of 5)") && strings.Contains(g.text, "A team lead has been told") {
			thanked = true
		}
	}
	if !thanked {
		t.Errorf("no thanks among %v", got)
	}
	leads := waitInbox(t, s, dept, lead, 20*time.Second, "low rating to the leads", func(g []gotMail) bool { return len(having(g, kindEscalation, o.receipt.ref)) == 1 })
	if esc := having(leads, kindEscalation, o.receipt.ref)[0]; !strings.Contains(esc.text, "rated the resolved request 2 of 5") ||
		!strings.Contains(esc.text, "My second monitor flickers") {
		t.Errorf("escalation lacks the rating or the thread:\n%s", esc.text)
	}

	// Recorded once: a second answer is information, and nobody is mailed.
	sendAs(t, s, o.reply(mailOut{from: jane, to: []string{dept}, body: "5"}))
	sendAs(t, s, mailOut{from: jane, to: []string{dept}, subject: "Barrier", body: "A new request after the second answer."})
	waitInbox(t, s, dept, jane, 20*time.Second, "barrier receipt", atLeast(4))
	if r := e.request(t, o.receipt.ref); r.Rating != 2 || r.State != store.StateResolved {
		t.Errorf("after a second answer: rating %d, state %s; want 2, resolved", r.Rating, r.State)
	}
	if n := len(inboxOf(t, s, dept, jane)); n != 4 {
		t.Errorf("jane has %d mails, want 4 (receipt, closing, thanks, barrier receipt)", n)
	}
}
