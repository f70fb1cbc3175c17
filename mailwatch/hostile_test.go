package mailwatch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// process hands raw to the INBOX pipeline and fails the test on an error.
func (w *world) process(raw []byte) Outcome {
	w.t.Helper()
	w.uid++
	f := Fetched{Mailbox: "INBOX", UIDValidity: 1, UID: w.uid, InternalDate: at("2026-03-02 10:00"), Raw: raw, Size: int64(len(raw))}
	o, err := w.proc.Process(context.Background(), "IT Help Desk", f)
	if err != nil {
		w.t.Fatalf("process: %v", err)
	}
	return o
}

// queued returns the outbox rows not returned before.
func (w *world) queued() []store.Mail {
	w.t.Helper()
	ms, err := w.st.DueMail(context.Background(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC), 100000)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []store.Mail
	for _, m := range ms {
		if !w.seen[m.ID] {
			w.seen[m.ID] = true
			out = append(out, m)
		}
	}
	return out
}

var hostileSeq int

func hostileMsg(headers, body string) []byte {
	hostileSeq++
	return []byte(fmt.Sprintf("From: Jane <jane@example.test>\r\nTo: it-help@example.test\r\nMessage-ID: <hostile-%d@client.example.test>\r\n%s\r\n%s\r\n", hostileSeq, headers, body))
}

func nestedMIME(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("Subject: nested\r\nMIME-Version: 1.0\r\n")
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n--b%d\r\n", i, i)
	}
	b.WriteString("Content-Type: text/plain\r\n\r\nthe innermost part\r\n")
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	s := b.String()
	i := strings.Index(s, "\r\n\r\n--b0") // the top header ends before the first delimiter
	return hostileMsg(s[:i+2], s[i+4:])
}

// TestHostileInputs runs inputs built to hurt through the whole pipeline:
// each is recorded (acknowledged or skipped with a reason), none panics or
// returns an error that would make the watcher fetch it again forever.
func TestHostileInputs(t *testing.T) {
	manyTo := make([]string, 10000)
	for i := range manyTo {
		manyTo[i] = fmt.Sprintf("user%d@example.test", i)
	}
	tests := []struct {
		name    string
		raw     func() []byte
		refusal string // "" = a receipt, "any" = any outcome
	}{
		{"10000 recipients", func() []byte {
			return hostileMsg("Cc: "+strings.Join(manyTo, ", ")+"\r\nSubject: printer", "The printer is broken.")
		}, ""},
		{"1000 levels of MIME", func() []byte { return nestedMIME(1000) }, ""},
		{"unknown charsets", func() []byte {
			return hostileMsg("Subject: =?x-no-such-charset?Q?caf=E9?= =?utf-8?B?!!!?=\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-klingon-8", "caf\xe9 \xff\xfe bytes")
		}, ""},
		{"NUL bytes", func() []byte {
			return hostileMsg("Subject: null\x00byte\r\nX-Junk: a\x00b", "body\x00with\x00nuls")
		}, ""},
		{"1 MB header line", func() []byte {
			return hostileMsg("Subject: "+strings.Repeat("long ", 1<<18), "Long subject.")
		}, ""},
		{"1 MB unfolded address header", func() []byte {
			return hostileMsg("Cc: "+strings.Repeat("x", 1<<20)+"@example.test\r\nSubject: cc", "Long Cc.")
		}, ""},
		{"binary garbage", func() []byte { return bytes.Repeat([]byte{0, 0xff, '\r', ':'}, 1<<16) }, "any"},
		{"header only, no body", func() []byte { return []byte("From: jane@example.test\r\nTo: it-help@example.test\r\nSubject: hi") }, "any"},
		{"boundary never closed", func() []byte {
			return hostileMsg("Subject: open\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=zz", "--zz\r\nContent-Type: text/plain\r\n\r\nhello "+strings.Repeat("a", 1<<20))
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			raw := tt.raw()
			o := w.process(raw)
			switch {
			case tt.refusal == "" && o.Action != "receipt":
				t.Fatalf("action %q (%s: %s), want a receipt", o.Action, o.Decision.Refusal, o.Decision.Reason)
			case tt.refusal == "any" && o.Action != "receipt" && o.Action != "skipped":
				t.Fatalf("action %q, want receipt or skipped", o.Action)
			case o.Action == "skipped" && o.Decision.Reason == "":
				t.Fatalf("skipped without a reason")
			}
			seen, err := w.st.Seen(context.Background(), "it-help@example.test", o.Key)
			if err != nil || !seen {
				t.Fatalf("message %q not recorded: seen=%v err=%v", o.Key, seen, err)
			}
			// Processing it again is a no-op, not a second receipt.
			w.uid--
			if again := w.process(raw); again.Action != "duplicate" {
				t.Errorf("second pass: action %q, want duplicate", again.Action)
			}
			for _, m := range w.queued() {
				if len(m.Recipients) != 1 || !rules.EqualAddress(m.Recipients[0], "jane@example.test") {
					t.Errorf("receipt to %d recipients %.80v, want jane alone", len(m.Recipients), m.Recipients)
				}
				checkOneLineHeaders(t, m.Raw)
				if len(m.Raw) > 256<<10 {
					t.Errorf("receipt is %d bytes", len(m.Raw))
				}
			}
		})
	}
}

// TestGiantMessage: a 50 MB message arrives whole (a server that does not
// report the size up front) and is recorded as too-large; with the limit
// raised it is parsed. Peak memory is logged for docs/reliability.md; it is
// not asserted, since the GC decides it.
func TestGiantMessage(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB message")
	}
	body := strings.Repeat(strings.Repeat("x", 76)+"\r\n", 50<<20/78)
	raw := hostileMsg("Subject: giant\r\nContent-Type: text/plain", body)
	for _, limit := range []int64{0, 64 << 20} {
		t.Run(fmt.Sprintf("max_message_bytes=%d", limit), func(t *testing.T) {
			w := newWorld(t)
			if limit > 0 {
				w.rt.Config.Limits.MaxMessageBytes = limit
			}
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			peak := peakHeap(func() { w.uid++ }, func() Outcome { w.uid--; return w.process(raw) })
			o := peak.outcome
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			t.Logf("%d-byte message: action %s (%s); allocated %.1f MB while processing, peak heap %.1f MB above the %.1f MB before (the input itself is %.1f MB)",
				len(raw), o.Action, o.Decision.Refusal, float64(after.TotalAlloc-before.TotalAlloc)/(1<<20),
				float64(peak.heap-before.HeapAlloc)/(1<<20), float64(before.HeapAlloc)/(1<<20), float64(len(raw))/(1<<20))
			if limit == 0 {
				if o.Action != "skipped" || o.Decision.Refusal != "too-large" {
					t.Fatalf("action %s refusal %q (%s), want skipped as too-large", o.Action, o.Decision.Refusal, o.Decision.Reason)
				}
			} else if o.Action != "receipt" {
				t.Fatalf("action %s (%s), want a receipt once the limit allows it", o.Action, o.Decision.Reason)
			}
			if seen, err := w.st.Seen(context.Background(), "it-help@example.test", o.Key); err != nil || !seen {
				t.Fatalf("giant message not recorded")
			}
		})
	}
}

type peakResult struct {
	heap    uint64
	outcome Outcome
}

// peakHeap runs fn while sampling HeapAlloc; the sampler stops through a
// channel, never a sleep.
func peakHeap(prep func(), fn func() Outcome) peakResult {
	prep()
	stop, done := make(chan struct{}), make(chan uint64)
	go func() {
		var peak uint64
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
			select {
			case <-stop:
				done <- peak
				return
			default:
				runtime.Gosched()
			}
		}
	}()
	o := fn()
	close(stop)
	return peakResult{heap: <-done, outcome: o}
}

// checkOneLineHeaders parses a composed message back and fails on any
// header value that decodes to a line break or a bidi control.
func checkOneLineHeaders(t *testing.T, raw []byte) mail.Header {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("composed mail does not parse: %v", err)
	}
	// A requester's encoded-word in a charset nobody knows is passed on
	// literally; read it as bytes, the way a lenient client would.
	dec := &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}
	for k, vs := range msg.Header {
		for _, v := range vs {
			d, err := dec.DecodeHeader(v)
			if err != nil {
				t.Errorf("header %s: %v", k, err)
				continue
			}
			if i := strings.IndexFunc(d, forbiddenInHeader); i >= 0 {
				t.Errorf("header %s decodes to %q: character %U at %d", k, d, []rune(d[i:])[0], i)
			}
		}
	}
	return msg.Header
}

func forbiddenInHeader(r rune) bool {
	return r == '\r' || r == '\n' || r == 0 || r == 0x85 || r == 0x2028 || r == 0x2029 ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// TestHeaderInjection: what a requester writes in their display name and
// subject reaches the receipt's To and Subject and nowhere else.
func TestHeaderInjection(t *testing.T) {
	keys := func(h mail.Header) []string {
		var ks []string
		for k := range h {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	w := newWorld(t)
	w.process(hostileMsg("Subject: printer", "plain"))
	plain := w.queued()
	if len(plain) != 1 {
		t.Fatalf("%d receipts for a plain request", len(plain))
	}
	want := keys(checkOneLineHeaders(t, plain[0].Raw))

	tricks := []struct{ name, from, subject string }{
		{"CRLF Bcc in subject (encoded)", "Jane <jane@example.test>", "=?utf-8?B?" + b64("help\r\nBcc: victim@evil.example\r\n\r\nspam body") + "?="},
		{"LF in display name (encoded)", "=?utf-8?Q?Jane=0ABcc:_victim@evil.example?= <jane@example.test>", "printer"},
		{"U+2028 in subject", "Jane <jane@example.test>", "=?utf-8?B?" + b64("help\u2028Bcc: victim@evil.example") + "?="},
		{"U+2029 and NEL in name", "=?utf-8?B?" + b64("Jane\u2029X-Evil: 1\u0085") + "?= <jane@example.test>", "printer"},
		{"RTL override in name", "=?utf-8?B?" + b64("\u202emoc.live@bob\u202c Jane") + "?= <jane@example.test>", "=?utf-8?B?" + b64("invoice\u202efdp.exe") + "?="},
		{"isolates and BOM", "=?utf-8?B?" + b64("\u2066Jane\u2069\ufeff") + "?= <jane@example.test>", "=?utf-8?B?" + b64("\u2067x\u2069") + "?="},
		{"NUL in subject (encoded)", "Jane <jane@example.test>", "=?utf-8?Q?a=00Bcc:_x@evil.example?="},
		{"raw CR in subject", "Jane <jane@example.test>", "help\rBcc: victim@evil.example"},
		{"quoted name with CRLF escape", `"Jane\` + "\r\n" + ` Bcc: x@evil.example" <jane@example.test>`, "printer"},
	}
	for _, tt := range tricks {
		t.Run(tt.name, func(t *testing.T) {
			raw := []byte(strings.Replace(string(hostileMsg("Subject: "+tt.subject, "help me")), "From: Jane <jane@example.test>", "From: "+tt.from, 1))
			o := w.process(raw)
			if o.Action != "receipt" {
				t.Fatalf("action %s (%s), want a receipt: a trick must not cost the requester their receipt", o.Action, o.Decision.Reason)
			}
			got := w.queued()
			if len(got) != 1 {
				t.Fatalf("%d receipts queued, want 1", len(got))
			}
			h := checkOneLineHeaders(t, got[0].Raw)
			if ks := keys(h); !slices.Equal(ks, want) {
				t.Errorf("header set %v, want %v", ks, want)
			}
			if len(got[0].Recipients) != 1 || got[0].Recipients[0] != "jane@example.test" {
				t.Errorf("envelope recipients %v, want jane alone", got[0].Recipients)
			}
			to, err := h.AddressList("To")
			if err != nil || len(to) != 1 || to[0].Address != "jane@example.test" {
				t.Errorf("To %v (%v), want jane alone", to, err)
			}
			if bytes.Contains(bytes.ToLower(got[0].Raw), []byte("evil.example>")) || h.Get("Bcc") != "" || h.Get("X-Evil") != "" {
				t.Errorf("injected header reached the receipt:\n%s", got[0].Raw[:min(len(got[0].Raw), 1500)])
			}
		})
	}
}

func b64(s string) string {
	return strings.TrimSuffix(mime.BEncoding.Encode("utf-8", s)[len("=?utf-8?b?"):], "?=")
}

const arDMARCFail = "mail.example.test; dmarc=fail (p=reject) header.from=example.test"

// TestForgedStaff: with trust_authentication_results on, staff mail whose
// Authentication-Results fail carries no commands and answers nothing; a
// dmarc=pass from the configured authserv-id proves it (the reply names
// only the receipt, which went to the requester alone and proves nothing).
func TestForgedStaff(t *testing.T) {
	for _, tt := range []struct {
		name     string
		staff    string
		allowed  []string
		forged   bool
		resolved bool
	}{
		{"genuine staff closes", "alice@example.test", nil, false, true},
		{"forged staff inside allowed_senders is skipped", "alice@example.test", nil, true, false},
		{"forged staff outside allowed_senders is a bystander", "alice@staff.example.net", []string{"jane@example.test"}, true, false},
		{"genuine staff outside allowed_senders closes", "alice@staff.example.net", []string{"jane@example.test"}, false, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			d := w.rt.Config.Departments[0]
			d.TrustAuthenticationResults, d.AuthservID = true, "mail.example.test"
			d.Staff = []string{tt.staff}
			if tt.allowed != nil {
				d.AllowedSenders = tt.allowed
			}
			o := w.deliver(at("2026-03-02 10:00"), "Jane <jane@example.test>", "it-help@example.test", "", "printer", "", "broken")
			if o.Action != "receipt" {
				t.Fatalf("request: %s %s", o.Action, o.Decision.Reason)
			}
			receipt := w.queued()[0].MessageID
			extra := "Authentication-Results: mail.example.test; dmarc=pass header.from=" + domainOf(tt.staff) + "\r\n"
			if tt.forged {
				extra = "Authentication-Results: " + arDMARCFail + "\r\n"
			}
			r := w.deliverTo("INBOX", at("2026-03-02 10:30"), tt.staff, "it-help@example.test", "", "Re: [REQ-1] printer", receipt, extra, "#done\n\nFixed.")
			req, err := w.st.RequestByRef(context.Background(), "it-help@example.test", "REQ-1")
			if err != nil {
				t.Fatal(err)
			}
			if got := req.State == store.StateResolved; got != tt.resolved {
				t.Errorf("state %s after %s (%s), resolved=%v want %v", req.State, r.Action, r.Decision.Reason, got, tt.resolved)
			}
			if tt.forged && !req.AnsweredAt.IsZero() {
				t.Errorf("forged staff mail counted as an answer")
			}
		})
	}
}
