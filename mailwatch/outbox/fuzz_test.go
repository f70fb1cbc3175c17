package outbox

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzCompose: whatever the requester-controlled fields hold (display name,
// subject, the IDs that thread the receipt, an Extra value), the composed
// message parses, has exactly the header fields of a benign one, goes to
// the one recipient, and no header decodes to a line break.
func FuzzCompose(f *testing.F) {
	f.Add("Jane Doe", "Locked out", "req-1@client.example", "ref-0@client.example", "REQ-1")
	f.Add("Jane\r\nBcc: x@evil.example", "a\nSubject: b", "a@b>\r\nBcc: <c@d", "<e@f> <g@h>", "v\r\nX-Evil: 1")
	f.Add("\u202eJane\u2028", "\u2029\u0085", "@", "", "\x00")
	f.Add("=?utf-8?q?J=0Aane?=", "=?utf-8?b?DQpCY2M6IHhAeQ==?=", "", "a@b", "")
	f.Add(strings.Repeat("n", 2000), strings.Repeat("s ", 2000), "x@y", strings.Repeat("<r@s> ", 100), "")
	want := fieldSet(f, benign("Jane", "subject", "a@b", "c@d", "REQ-1"))
	f.Fuzz(func(t *testing.T, name, subject, inReplyTo, refs, extra string) {
		raw, err := Compose(benign(name, subject, inReplyTo, refs, extra))
		if err != nil {
			t.Fatalf("compose: %v (requester data must never cost the receipt)", err)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("composed mail does not parse: %v\n%s", err, raw)
		}
		got := keys(msg.Header)
		// Threading headers come and go with valid IDs; nothing else may.
		filter := func(ks []string) []string {
			return slices.DeleteFunc(slices.Clone(ks), func(k string) bool { return k == "In-Reply-To" || k == "References" })
		}
		if !slices.Equal(filter(got), filter(want)) {
			t.Fatalf("header fields %v, want %v\n%s", got, want, raw)
		}
		to, err := msg.Header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Address != "jane@example.test" {
			t.Fatalf("To = %v (%v), want jane alone", to, err)
		}
		dec := &mime.WordDecoder{CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil }}
		for k, vs := range msg.Header {
			for _, v := range vs {
				d, err := dec.DecodeHeader(v)
				if err != nil {
					d = v
				}
				if i := strings.IndexFunc(d, func(r rune) bool {
					return r == '\r' || r == '\n' || r == 0 || r == 0x85 || r == 0x2028 || r == 0x2029 || r >= 0x202a && r <= 0x202e
				}); i >= 0 {
					t.Fatalf("header %s decodes to %q", k, d)
				}
			}
		}
	})
}

func benign(name, subject, inReplyTo, refs, extra string) Mail {
	return Mail{
		From:    mail.Address{Name: "IT Help Desk", Address: "it-help@example.test"},
		To:      []mail.Address{{Name: name, Address: "jane@example.test"}},
		Subject: subject, Text: "Thank you.", HTML: "<p>Thank you.</p>",
		MessageID: "r1@example.test", InReplyTo: inReplyTo, References: strings.Fields(refs),
		AutoSubmitted: AutoReplied, Date: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC),
		Extra: map[string]string{"X-Ackd-Ref": extra, "X-Ackd-Loop": "it-help@example.test"},
	}
}

func fieldSet(f *testing.F, m Mail) []string {
	raw, err := Compose(m)
	if err != nil {
		f.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		f.Fatal(err)
	}
	return keys(msg.Header)
}

func keys(h mail.Header) []string {
	var ks []string
	for k := range h {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return slices.DeleteFunc(ks, func(k string) bool { return strings.IndexFunc(k, unicode.IsSpace) >= 0 })
}
