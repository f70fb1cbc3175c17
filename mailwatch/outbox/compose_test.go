package outbox

import (
	"bytes"
	"flag"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	gmail "github.com/emersion/go-message/mail"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

var testDate = time.Date(2026, 12, 1, 9, 30, 0, 0, time.FixedZone("CET", 3600))

func receipt() Mail {
	return Mail{
		From:          mail.Address{Name: "IT Help Desk", Address: "it-help@example.test"},
		To:            []mail.Address{{Name: "Jörg Müller", Address: "joerg@example.test"}},
		Subject:       "[REQ-42] Re: Passwort zurücksetzen – dringend",
		Text:          "Hello Jörg,\n\nwe received your request and will answer by Tuesday 1 December, 17:00 CET.\n",
		HTML:          "<p>Hello Jörg,</p>\n<p>we received your request.</p>\n",
		MessageID:     "receipt-1@example.test",
		InReplyTo:     "<CAF=request@mail.example.test>",
		References:    []string{"older@mail.example.test", "CAF=request@mail.example.test"},
		AutoSubmitted: AutoReplied,
		Date:          testDate,
		Extra:         map[string]string{"X-Ackd-Ref": "REQ-42", "X-Ackd-Loop": "it-help@example.test"},
	}
}

func digest() Mail {
	return Mail{
		From:      mail.Address{Address: "it-help@example.test"},
		To:        []mail.Address{{Name: "Alice", Address: "alice@example.test"}},
		Cc:        []mail.Address{{Address: "bob@example.test"}},
		Subject:   "Digest: 3 open requests",
		Text:      "REQ-1 due today\nREQ-2 due tomorrow\n.\nREQ-3 late\n",
		MessageID: "digest-7@example.test",
		Date:      testDate,
		Extra:     map[string]string{"X-Ackd-Loop": "it-help@example.test"},
	}
}

var boundaryRE = regexp.MustCompile(`[0-9a-f]{40,}`)

// normalise replaces the random multipart boundaries, the only part of the
// output that is not a function of the input.
func normalise(b []byte) []byte {
	return boundaryRE.ReplaceAll(b, []byte("BOUNDARY"))
}

func TestComposeGolden(t *testing.T) {
	for name, m := range map[string]Mail{"receipt": receipt(), "digest": digest()} {
		t.Run(name, func(t *testing.T) {
			raw, err := Compose(m)
			if err != nil {
				t.Fatal(err)
			}
			got := normalise(raw)
			path := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update after checking):\n%s", path, got)
			}
		})
	}
}

type parsed struct {
	header gmail.Header
	text   string
	html   string
}

func parseBack(t *testing.T, raw []byte) parsed {
	t.Helper()
	r, err := gmail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("go-message cannot read composed mail: %v", err)
	}
	p := parsed{header: r.Header}
	for {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		h, ok := part.Header.(*gmail.InlineHeader)
		if !ok {
			t.Fatalf("unexpected attachment part")
		}
		ct, _, _ := h.ContentType()
		body, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatal(err)
		}
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	return p
}

func TestComposeParsesBack(t *testing.T) {
	m := receipt()
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	p := parseBack(t, raw)
	h := p.header

	if subj, err := h.Subject(); err != nil || subj != m.Subject {
		t.Errorf("subject = %q, %v; want %q", subj, err, m.Subject)
	}
	from, err := h.AddressList("From")
	if err != nil || len(from) != 1 || from[0].Name != "IT Help Desk" || from[0].Address != "it-help@example.test" {
		t.Errorf("from = %v, %v", from, err)
	}
	to, err := h.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Name != "Jörg Müller" || to[0].Address != "joerg@example.test" {
		t.Errorf("to = %v, %v", to, err)
	}
	if id, err := h.MessageID(); err != nil || id != "receipt-1@example.test" {
		t.Errorf("message-id = %q, %v", id, err)
	}
	if irt, err := h.MsgIDList("In-Reply-To"); err != nil || !slices.Equal(irt, []string{"CAF=request@mail.example.test"}) {
		t.Errorf("in-reply-to = %q, %v", irt, err)
	}
	if refs, err := h.MsgIDList("References"); err != nil || !slices.Equal(refs, []string{"older@mail.example.test", "CAF=request@mail.example.test"}) {
		t.Errorf("references = %q, %v", refs, err)
	}
	for field, want := range map[string]string{
		"Auto-Submitted":           "auto-replied",
		"X-Auto-Response-Suppress": "All",
		"X-Ackd-Ref":               "REQ-42",
		"X-Ackd-Loop":              "it-help@example.test",
		"Precedence":               "",
	} {
		if got := h.Get(field); got != want {
			t.Errorf("%s = %q, want %q", field, got, want)
		}
	}
	if d, err := h.Date(); err != nil || !d.Equal(m.Date) {
		t.Errorf("date = %v, %v; want %v", d, err, m.Date)
	}
	if mt, _, _ := h.ContentType(); mt != "multipart/alternative" {
		t.Errorf("content-type = %q", mt)
	}
	if p.text != strings.ReplaceAll(m.Text, "\n", "\r\n") {
		t.Errorf("text part = %q", p.text)
	}
	if p.html != strings.ReplaceAll(m.HTML, "\n", "\r\n") {
		t.Errorf("html part = %q", p.html)
	}
}

func TestComposeDefaultsAndTextOnly(t *testing.T) {
	m := digest()
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	p := parseBack(t, raw)
	if got := p.header.Get("Auto-Submitted"); got != AutoGenerated {
		t.Errorf("auto-submitted = %q, want the auto-generated default", got)
	}
	if mt, _, _ := p.header.ContentType(); mt != "text/plain" {
		t.Errorf("content-type = %q, want text/plain without HTML", mt)
	}
	if p.header.Has("In-Reply-To") || p.header.Has("References") {
		t.Errorf("threading headers on a mail that threads under nothing")
	}
	cc, err := p.header.AddressList("Cc")
	if err != nil || len(cc) != 1 || cc[0].Address != "bob@example.test" {
		t.Errorf("cc = %v, %v", cc, err)
	}
}

// fieldNames lists the header field names of raw, in order.
func fieldNames(t *testing.T, raw []byte) []string {
	t.Helper()
	head, _, ok := bytes.Cut(raw, []byte("\r\n\r\n"))
	if !ok {
		t.Fatalf("no end of header in %q", raw)
	}
	var names []string
	for _, line := range strings.Split(string(head), "\r\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name, _, ok := strings.Cut(line, ":")
		if !ok {
			t.Errorf("header line without colon: %q", line)
			continue
		}
		names = append(names, name)
	}
	if bytes.ContainsAny(head, "\x00") || strings.Contains(strings.ReplaceAll(string(head), "\r\n", ""), "\n") ||
		strings.Contains(strings.ReplaceAll(string(head), "\r\n", ""), "\r") {
		t.Errorf("bare CR, LF or NUL in header: %q", head)
	}
	return names
}

func TestComposeHeaderInjection(t *testing.T) {
	base, err := Compose(receipt())
	if err != nil {
		t.Fatal(err)
	}
	want := fieldNames(t, base)
	evil := []string{"\r\nBcc: evil@attacker.test", "\nBcc: evil@attacker.test", "\rBcc: evil@attacker.test",
		"x\x00Bcc: evil@attacker.test", "\r\n\r\nbody", "ä\r\nX-Evil: 1", "\r\n X-Folded: 1"}
	for i, s := range evil {
		cases := map[string]func(*Mail){
			"subject":   func(m *Mail) { m.Subject += s },
			"from name": func(m *Mail) { m.From.Name += s },
			"to name":   func(m *Mail) { m.To[0].Name += s },
			"extra":     func(m *Mail) { m.Extra["X-Ackd-Ref"] += s },
		}
		for where, mutate := range cases {
			t.Run(where+"/"+string(rune('a'+i)), func(t *testing.T) {
				m := receipt()
				mutate(&m)
				raw, err := Compose(m)
				if err != nil {
					t.Fatalf("compose refused instead of sanitising: %v", err)
				}
				if got := fieldNames(t, raw); !slices.Equal(got, want) {
					t.Errorf("header fields = %v, want %v", got, want)
				}
				if bytes.Contains(raw, []byte("\r\nBcc:")) || bytes.Contains(raw, []byte("\r\nX-Evil:")) {
					t.Errorf("injected field made it through:\n%s", raw)
				}
				p := parseBack(t, raw)
				if p.header.Has("Bcc") || p.header.Has("X-Evil") || p.header.Has("X-Folded") {
					t.Errorf("go-message sees an injected field")
				}
			})
		}
	}
}

func FuzzComposeHeaders(f *testing.F) {
	f.Add("Subject", "Name", "value")
	f.Add("a\r\nBcc: x@y", "b\nTo: z@y", "c\x00\r\n\r\n")
	f.Add("\xff\xfe", "\"quoted\" <x@y>", "=?utf-8?q?=0D=0A?=")
	base, err := Compose(receipt())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, subject, name, extra string) {
		m := receipt()
		m.Subject, m.To[0].Name, m.Extra["X-Ackd-Ref"] = subject, name, extra
		raw, err := Compose(m)
		if err != nil {
			t.Fatalf("compose: %v", err)
		}
		if got, want := fieldNames(t, raw), fieldNames(t, base); !slices.Equal(got, want) {
			t.Errorf("header fields = %v, want %v", got, want)
		}
	})
}

func TestComposeRejects(t *testing.T) {
	for name, mutate := range map[string]func(*Mail){
		"no date":             func(m *Mail) { m.Date = time.Time{} },
		"no text":             func(m *Mail) { m.Text = " \n" },
		"no message-id":       func(m *Mail) { m.MessageID = "" },
		"message-id crlf":     func(m *Mail) { m.MessageID = "a@b\r\nBcc: x@y" },
		"message-id space":    func(m *Mail) { m.MessageID = "a b@c" },
		"from address crlf":   func(m *Mail) { m.From.Address = "it-help@example.test\r\nBcc: x@y" },
		"to address bracket":  func(m *Mail) { m.To[0].Address = "a@b>, <c@d" },
		"to address empty":    func(m *Mail) { m.To[0].Address = "" },
		"no recipients":       func(m *Mail) { m.To = nil },
		"extra name colon":    func(m *Mail) { m.Extra["X-A: b"] = "c" },
		"extra name crlf":     func(m *Mail) { m.Extra["X-A\r\nBcc"] = "c" },
		"extra name reserved": func(m *Mail) { m.Extra["message-id"] = "<x@y>" },
		"extra sets from":     func(m *Mail) { m.Extra["From"] = "x@y" },
		"auto-submitted":      func(m *Mail) { m.AutoSubmitted = "maybe" },
	} {
		t.Run(name, func(t *testing.T) {
			m := receipt()
			mutate(&m)
			if raw, err := Compose(m); err == nil {
				t.Errorf("compose accepted it:\n%s", raw)
			}
		})
	}
}

func TestComposeDropsBrokenThreadIDs(t *testing.T) {
	m := receipt()
	m.InReplyTo = "not an id"
	m.References = []string{"ok@x.test", "bad id@x.test", "a@b\r\nX-Evil: 1", "", "<also-ok@y.test>"}
	raw, err := Compose(m)
	if err != nil {
		t.Fatal(err)
	}
	h := parseBack(t, raw).header
	if h.Has("In-Reply-To") {
		t.Errorf("invalid In-Reply-To kept: %q", h.Get("In-Reply-To"))
	}
	if refs, err := h.MsgIDList("References"); err != nil || !slices.Equal(refs, []string{"ok@x.test", "also-ok@y.test"}) {
		t.Errorf("references = %q, %v", refs, err)
	}
}

func TestNewMessageID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewMessageID("example.test")
		if !validMsgID(id) || !strings.HasSuffix(id, "@example.test") || strings.ContainsAny(id, "<>") {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		// A reply naming one proves its author was sent it: the random
		// part must be unguessable, 128 bits at least (26 base32 digits).
		local, _, _ := strings.Cut(id, "@")
		if len(local) < 26 || strings.Trim(local, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("id %q: random part %q is not 128 bits of base32", id, local)
		}
	}
	for _, domain := range []string{"", "a@b", "bad domain", "<x.test>"} {
		if id := NewMessageID(domain); !validMsgID(id) {
			t.Errorf("NewMessageID(%q) = %q, not a valid msg-id", domain, id)
		}
	}
}
