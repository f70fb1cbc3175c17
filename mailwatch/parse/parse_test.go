package parse

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ackd/ackd/rules"
)

// msg builds a message from lines joined with "\n"; Parse normalises the
// line ends, which every case below relies on too.
func msg(lines ...string) []byte { return []byte(strings.Join(lines, "\n")) }

type parseCase struct {
	name  string
	raw   []byte
	opts  Options
	check func(t *testing.T, m *rules.Message)
}

func runCases(t *testing.T, cases []parseCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.raw, tc.opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkInvariants(t, m, tc.opts.withDefaults().MaxTextBytes)
			if m.Size != len(tc.raw) {
				t.Errorf("Size = %d, want %d", m.Size, len(tc.raw))
			}
			tc.check(t, m)
		})
	}
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func subject(want string) func(*testing.T, *rules.Message) {
	return func(t *testing.T, m *rules.Message) { eq(t, "Subject", m.Subject, want) }
}

func TestSubjects(t *testing.T) {
	runCases(t, []parseCase{
		{"utf-8 base64", msg("From: a@example.test", "Subject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "", "x"), Options{}, subject("Grüße aus Köln")},
		{"iso-8859-1 q", msg("From: a@example.test", "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus =?iso-8859-1?q?K=F6ln?=", "", "x"), Options{}, subject("Grüße aus Köln")},
		{"iso-2022-jp", msg("From: a@example.test", "Subject: =?ISO-2022-JP?B?GyRCJF4kXyRgJGEkYhsoQg==?=", "", "x"), Options{}, subject("まみむめも")},
		{"windows-1252", msg("From: a@example.test", "Subject: =?windows-1252?Q?=93Quoted=94_costs_=8010?=", "", "x"), Options{}, subject("“Quoted” costs €10")},
		{"folded", msg("From: a@example.test", "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", " =?UTF-8?Q?_aus_K=C3=B6ln?=", "", "x"), Options{}, subject("Grüße aus Köln")},
		// go-message's Header.Text keeps the raw value for an unknown
		// charset; so do we, rather than guess.
		{"unknown charset kept raw", msg("From: a@example.test", "Subject: =?x-no-such?Q?hello?=", "", "x"), Options{}, subject("=?x-no-such?Q?hello?=")},
		{"8-bit utf-8", msg("From: a@example.test", "Subject: Café crème", "", "x"), Options{}, subject("Café crème")},
		{"8-bit latin-1", []byte("From: a@example.test\nSubject: Caf\xe9 cr\xe8me\n\nx"), Options{}, subject("Café crème")},
		// An encoded CR LF must not survive into a value that a receipt
		// may copy into its own Subject: it decodes, then becomes spaces.
		{"encoded CRLF injection", msg("From: a@example.test", "Subject: =?UTF-8?Q?Hi=0D=0ABcc:_victim@example.test?=", "", "x"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "Subject", m.Subject, "Hi  Bcc: victim@example.test")
			eq(t, "Header[Subject]", m.Header["Subject"], []string{"Hi  Bcc: victim@example.test"})
			if m.Has("Bcc") {
				t.Errorf("an encoded CRLF created a Bcc field")
			}
		}},
		{"missing", msg("From: a@example.test", "", "x"), Options{}, subject("")},
	})
}

func TestLineEndingsAndEnvelope(t *testing.T) {
	want := func(t *testing.T, m *rules.Message) {
		eq(t, "From", m.From, rules.Address{Name: "Ann", Address: "ann@example.test"})
		eq(t, "Subject", m.Subject, "Printer")
		eq(t, "Text", m.Text, "line one\nline two")
		eq(t, "ContentType", m.ContentType, "text/plain")
		if m.Has("From ") || len(m.Header) != 2 {
			t.Errorf("Header = %v, want From and Subject only", m.Header)
		}
	}
	runCases(t, []parseCase{
		{"LF", []byte("From: Ann <ann@example.test>\nSubject: Printer\n\nline one\nline two\n"), Options{}, want},
		{"CRLF", []byte("From: Ann <ann@example.test>\r\nSubject: Printer\r\n\r\nline one\r\nline two\r\n"), Options{}, want},
		{"CR only", []byte("From: Ann <ann@example.test>\rSubject: Printer\r\rline one\rline two\r"), Options{}, want},
		{"BOM", []byte("\xEF\xBB\xBFFrom: Ann <ann@example.test>\r\nSubject: Printer\r\n\r\nline one\r\nline two"), Options{}, want},
		{"mbox From line", []byte("From ann@example.test Mon Jan  5 10:00:00 2026\nFrom: Ann <ann@example.test>\nSubject: Printer\n\nline one\nline two\n"), Options{}, want},
		{"mixed endings", []byte("From: Ann <ann@example.test>\r\nSubject: Printer\n\rline one\rline two\r\n"), Options{}, want},
		{"folded field", []byte("From: Ann\n <ann@example.test>\nSubject: Printer\n\nline one\nline two\n"), Options{}, want},
		{"no blank separator", []byte("From: Ann <ann@example.test>\nSubject: Printer\nline one\nline two\n"), Options{}, want},
		{"junk line between fields", []byte("From: Ann <ann@example.test>\nquite junk here\nSubject: Printer\n\nline one\nline two\n"), Options{}, want},
	})
}

func TestIDs(t *testing.T) {
	ids := func(id string, irt, refs []string) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) {
			eq(t, "MessageID", m.MessageID, id)
			eq(t, "InReplyTo", m.InReplyTo, irt)
			eq(t, "References", m.References, refs)
		}
	}
	runCases(t, []parseCase{
		{"canonical", msg("Message-ID: <a1@example.test>", "In-Reply-To: <p@example.test>", "References: <r1@example.test> <p@example.test>", "", "x"), Options{},
			ids("a1@example.test", []string{"p@example.test"}, []string{"r1@example.test", "p@example.test"})},
		{"no brackets", msg("Message-ID: a1@example.test", "In-Reply-To: p@example.test", "References: r1@example.test p@example.test", "", "x"), Options{},
			ids("a1@example.test", []string{"p@example.test"}, []string{"r1@example.test", "p@example.test"})},
		{"junk and comments", msg("message-id:   <a1@example.test> (added by relay)", "In-Reply-To: <p@example.test> (Your message of Mon, 5 Jan)", "References: <r1@example.test>,<p@example.test>", "", "x"), Options{},
			ids("a1@example.test", []string{"p@example.test"}, []string{"r1@example.test", "p@example.test"})},
		{"folded inside an id", msg("Message-ID: <a1@", " example.test>", "References: <r1@example.test>", "\t<r2@example.test>", "", "x"), Options{},
			ids("a1@example.test", nil, []string{"r1@example.test", "r2@example.test"})},
		{"text only in-reply-to", msg("Message-ID: <a1@example.test>", "In-Reply-To: your message of Monday", "", "x"), Options{},
			ids("a1@example.test", nil, nil)},
		{"empty", msg("Message-ID:", "In-Reply-To:", "Subject: s", "", "x"), Options{}, ids("", nil, nil)},
	})
}

func TestAddresses(t *testing.T) {
	from := func(want rules.Address) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) { eq(t, "From", m.From, want) }
	}
	runCases(t, []parseCase{
		{"plain", msg("From: Ann Lee <ann@example.test>", "", "x"), Options{}, from(rules.Address{Name: "Ann Lee", Address: "ann@example.test"})},
		{"encoded name", msg("From: =?UTF-8?Q?J=C3=B6rg?= <jorg@example.test>", "", "x"), Options{}, from(rules.Address{Name: "Jörg", Address: "jorg@example.test"})},
		{"encoded name in quotes", msg(`From: "=?UTF-8?Q?J=C3=B6rg?=" <jorg@example.test>`, "", "x"), Options{}, from(rules.Address{Name: "Jörg", Address: "jorg@example.test"})},
		{"latin-1 8-bit name", []byte("From: J\xf6rg <jorg@example.test>\n\nx"), Options{}, from(rules.Address{Name: "Jörg", Address: "jorg@example.test"})},
		{"missing closing bracket", msg("From: Ann Lee <ann@example.test", "", "x"), Options{}, from(rules.Address{Name: "Ann Lee", Address: "ann@example.test"})},
		{"unquoted comma in name", msg("From: Lee, Ann [IT] <ann@example.test>", "", "x"), Options{}, from(rules.Address{Name: "Ann [IT]", Address: "ann@example.test"})},
		{"mailer-daemon comment", msg("From: MAILER-DAEMON (Mail Delivery System)", "", "x"), Options{}, from(rules.Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON"})},
		{"null address keeps name", msg("From: MAILER-DAEMON <>", "", "x"), Options{}, from(rules.Address{Name: "MAILER-DAEMON", Address: ""})},
		{"garbage", msg("From: !!!", "", "x"), Options{}, from(rules.Address{Address: "!!!"})},
		{"lists", msg("From: a@example.test", "To: Ann <ann@example.test>, bob@example.test", "To: carol@example.test", "Cc: undisclosed-recipients:;", "Reply-To: <help@example.test>", "Sender: Bot <bot@example.test>", "", "x"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "To", m.To, []rules.Address{{Name: "Ann", Address: "ann@example.test"}, {Address: "bob@example.test"}, {Address: "carol@example.test"}})
			eq(t, "Cc", len(m.Cc), 0)
			eq(t, "ReplyTo", m.ReplyTo, []rules.Address{{Address: "help@example.test"}})
			eq(t, "Sender", m.Sender, &rules.Address{Name: "Bot", Address: "bot@example.test"})
		}},
		{"broken list keeps the good ones", msg("From: a@example.test", "To: Ann <ann@example.test>, Bob <bob@example.test, carol@@example.test", "", "x"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "To", m.To, []rules.Address{{Name: "Ann", Address: "ann@example.test"}, {Name: "Bob", Address: "bob@example.test"}})
		}},
	})
}

func TestReturnPathAndDate(t *testing.T) {
	rp := func(path string, has bool) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) {
			eq(t, "ReturnPath", m.ReturnPath, path)
			eq(t, "HasReturnPath", m.HasReturnPath, has)
		}
	}
	date := func(want time.Time) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) {
			if !m.Date.Equal(want) {
				t.Errorf("Date = %v, want %v", m.Date, want)
			}
		}
	}
	runCases(t, []parseCase{
		{"null return path", msg("Return-Path: <>", "From: a@example.test", "", "x"), Options{}, rp("", true)},
		{"return path", msg("Return-Path: <bounce@example.test>", "Return-Path: <older@example.test>", "", "x"), Options{}, rp("bounce@example.test", true)},
		{"return path no brackets", msg("Return-Path: bounce@example.test", "", "x"), Options{}, rp("bounce@example.test", true)},
		{"no return path", msg("From: a@example.test", "", "x"), Options{}, rp("", false)},
		{"rfc 5322 date", msg("Date: Tue, 6 Jan 2026 09:30:00 +0100", "", "x"), Options{}, date(time.Date(2026, 1, 6, 8, 30, 0, 0, time.UTC))},
		{"wrong weekday", msg("Date: Thu, 29 Apr 2016 23:34:45 -0700", "", "x"), Options{}, date(time.Date(2016, 4, 30, 6, 34, 45, 0, time.UTC))},
		{"12-hour clock", msg("Date: Wed 29 May 2019 06:09:22 PM -0400", "", "x"), Options{}, date(time.Date(2019, 5, 29, 22, 9, 22, 0, time.UTC))},
		{"outlook long form", msg("Date: Thursday, April 09, 2003 9:00 AM", "", "x"), Options{}, date(time.Date(2003, 4, 9, 9, 0, 0, 0, time.UTC))},
		{"junk zone read as utc", msg("Date: Tue, 12 Oct 2010 16:21:05 H0500", "", "x"), Options{}, date(time.Date(2010, 10, 12, 16, 21, 5, 0, time.UTC))},
		{"broken", msg("Date: Pn, 29 paX 2007 21:13:00 +0100", "", "x"), Options{}, date(time.Time{})},
		{"empty", msg("Date:", "", "x"), Options{}, date(time.Time{})},
	})
}

func TestHeaderMap(t *testing.T) {
	runCases(t, []parseCase{{"all fields in order", msg(
		"Received: from b by c", "received: from a by b", "X-Custom-Thing: =?UTF-8?Q?caf=C3=A9?=",
		"auto-submitted: auto-replied", "List-Id: <it.example.test>", "", "x"), Options{}, func(t *testing.T, m *rules.Message) {
		eq(t, "Received", m.Header["Received"], []string{"from b by c", "from a by b"})
		eq(t, "X-Custom-Thing", m.Header["X-Custom-Thing"], []string{"café"})
		eq(t, "Auto-Submitted", m.Get("Auto-Submitted"), "auto-replied")
		eq(t, "List-Id", m.Values("list-id"), []string{"<it.example.test>"})
		eq(t, "len", len(m.Header), 4)
	}}})
}

func TestBodies(t *testing.T) {
	text := func(want string, fromHTML bool) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) {
			eq(t, "Text", m.Text, want)
			eq(t, "TextFromHTML", m.TextFromHTML, fromHTML)
		}
	}
	runCases(t, []parseCase{
		{"missing content-type", msg("From: a@example.test", "", "  The printer is broken.  ", ""), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "ContentType", m.ContentType, "text/plain")
			eq(t, "Text", m.Text, "The printer is broken.")
		}},
		{"quoted-printable latin-1", msg("Content-Type: text/plain; charset=iso-8859-1", "Content-Transfer-Encoding: quoted-printable", "", "Gr=FC=DFe, der Drucker ist kaputt=", " heute."), Options{}, text("Grüße, der Drucker ist kaputt heute.", false)},
		{"unknown charset keeps bytes", []byte("Content-Type: text/plain; charset=x-nonsense\n\nCaf\xe9 ok\n"), Options{}, text("Café ok", false)},
		{"utf-8 label on latin-1 bytes", []byte("Content-Type: text/plain; charset=utf-8\n\nCaf\xe9 ok\n"), Options{}, text("Café ok", false)},
		{"broken base64 keeps the decoded start", msg("Content-Type: text/plain", "Content-Transfer-Encoding: base64", "", "SGVsbG8gV29y", "bGQgYWdhaW4=", "!!!not base64!!!"), Options{}, text("Hello World again", false)},
		{"unknown transfer encoding keeps raw", msg("Content-Type: text/plain", "Content-Transfer-Encoding: x-magic", "", "raw words"), Options{}, text("raw words", false)},
		{"x-uuencode", msg("Content-Type: text/plain", "Content-Transfer-Encoding: x-uuencode", "", "begin 644 note.txt", "+2&5L;&\\@=V]R;&0`", "`", "end"), Options{}, text("Hello world", false)},
		{"broken content-type params", msg(`Content-Type: multipart/alternative boundary="b1"; boundary="b2"`, "", "--b1", "Content-Type: text/plain", "", "first", "--b1--"), Options{}, text("first", false)},
		{"alternative", msg("Content-Type: multipart/alternative; boundary=b", "", "--b", "Content-Type: text/plain; charset=utf-8", "", "Plain words", "--b", "Content-Type: text/html", "", "<p>HTML words</p>", "--b--"), Options{}, text("Plain words", false)},
		{"html only", msg("Content-Type: text/html; charset=utf-8", "", "<html><head><style>p{}</style></head><body><p>Hello&nbsp;there</p><p>Second <b>para</b></p><script>x()</script></body></html>"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "TextFromHTML", m.TextFromHTML, true)
			if !strings.Contains(m.Text, "Hello\u00a0there") || !strings.Contains(m.Text, "Second para") || strings.ContainsAny(m.Text, "<>{}") || strings.Contains(m.Text, "x()") {
				t.Errorf("Text = %q", m.Text)
			}
		}},
		{"empty plain beside html", msg("Content-Type: multipart/alternative; boundary=b", "", "--b", "Content-Type: text/plain", "", "  ", "--b", "Content-Type: text/html", "", "<div>Real words</div>", "--b--"), Options{}, text("Real words", true)},
		{"nested", msg("Content-Type: multipart/mixed; boundary=outer", "", "--outer", "Content-Type: multipart/alternative; boundary=inner", "",
			"--inner", "Content-Type: text/html", "", "<p>html</p>", "--inner", "Content-Type: text/plain", "", "nested plain", "--inner--",
			"--outer", "Content-Type: application/pdf", "Content-Disposition: attachment; filename=a.pdf", "", "%PDF", "--outer--"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "ContentType", m.ContentType, "multipart/mixed")
			eq(t, "Text", m.Text, "nested plain")
			eq(t, "TextFromHTML", m.TextFromHTML, false)
		}},
		{"attachment only", msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "Content-Disposition: attachment; filename=log.txt", "", "attached log", "--b--"), Options{}, text("", false)},
		{"dsn", msg("From: MAILER-DAEMON@example.test", "Content-Type: multipart/report; report-type=Delivery-Status; boundary=r", "", "--r", "Content-Type: text/plain", "", "Delivery failed.",
			"--r", "Content-Type: message/delivery-status", "", "Reporting-MTA: dns; mx.example.test", "", "Final-Recipient: rfc822; x@example.test", "Action: failed",
			"--r", "Content-Type: message/rfc822", "", "From: me@example.test", "Subject: original", "", "body", "--r--"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "ContentType", m.ContentType, "multipart/report")
			eq(t, "ReportType", m.ReportType, "delivery-status")
			eq(t, "HasDeliveryStatus", m.HasDeliveryStatus, true)
			eq(t, "HasAttachedMessage", m.HasAttachedMessage, true)
			eq(t, "Text", m.Text, "Delivery failed.")
		}},
		{"feedback report nested in mixed", msg("Content-Type: multipart/mixed; boundary=o", "", "--o", "Content-Type: multipart/report; report-type=feedback-report; boundary=i", "", "--i", "Content-Type: message/feedback-report", "", "Feedback-Type: abuse", "--i--", "--o--"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "ReportType", m.ReportType, "")
			eq(t, "HasDeliveryStatus", m.HasDeliveryStatus, true)
			eq(t, "HasAttachedMessage", m.HasAttachedMessage, false)
		}},
		{"returned headers in mixed", msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "", "Not delivered.",
			"--b", "Content-Type: text/rfc822-headers", "", "From: me@example.test", "Subject: original", "--b--"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "HasDeliveryStatus", m.HasDeliveryStatus, false)
			eq(t, "HasAttachedMessage", m.HasAttachedMessage, true)
			eq(t, "Text", m.Text, "Not delivered.")
		}},
		{"multipart without boundary read as text", msg("Content-Type: multipart/mixed", "", "just words"), Options{}, text("just words", false)},
		{"boundary never present", msg("Content-Type: multipart/mixed; boundary=zzz", "", "just words"), Options{}, text("just words", false)},
		{"missing close delimiter", msg("Content-Type: multipart/mixed; boundary=b", "", "--b", "Content-Type: text/plain", "", "unterminated part"), Options{}, text("unterminated part", false)},
		{"text cap on a rune boundary", msg("Content-Type: text/plain; charset=utf-8", "", strings.Repeat("é", 20)), Options{MaxTextBytes: 11}, func(t *testing.T, m *rules.Message) {
			eq(t, "Text", m.Text, "ééééé")
			eq(t, "Truncated", m.Truncated, true)
		}},
		{"under the cap", msg("From: a@example.test", "", "short"), Options{MaxTextBytes: 5}, func(t *testing.T, m *rules.Message) {
			eq(t, "Truncated", m.Truncated, false)
		}},
	})
}

func TestErrors(t *testing.T) {
	big := append(msg("From: a@example.test", "", ""), strings.Repeat("x", 2000)...)
	for _, tc := range []struct {
		name string
		raw  []byte
		opts Options
		want error
	}{
		{"empty", nil, Options{}, ErrNotMail},
		{"prose", []byte("hello world\nthis is not mail\n"), Options{}, ErrNotMail},
		{"binary", []byte("\x00\x01\x02\xff\xfe"), Options{}, ErrNotMail},
		{"blank line then prose", []byte("\r\nshort\r\n"), Options{}, ErrNotMail},
		{"only mbox line", []byte("From a@example.test Mon Jan  5 10:00:00 2026\n"), Options{}, ErrNotMail},
		{"over MaxBytes", big, Options{MaxBytes: 1000}, ErrTooLarge},
		{"over default", make([]byte, 25<<20+1), Options{}, ErrTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Parse(tc.raw, tc.opts)
			if !errors.Is(err, tc.want) || m != nil {
				t.Fatalf("Parse = %v, %v; want nil, %v", m, err, tc.want)
			}
		})
	}
	if _, err := Parse(big, Options{MaxBytes: int64(len(big))}); err != nil {
		t.Errorf("a message of exactly MaxBytes: %v", err)
	}
}

func TestSyntheticID(t *testing.T) {
	a := msg("From: a@example.test", "Subject: no id", "", "body")
	b := msg("From: a@example.test", "Subject: no id", "", "other body")
	ma, err := Parse(a, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "MessageID", ma.MessageID, "")
	ka := Key(ma, a)
	if !strings.HasPrefix(ka, "sha256-") || !strings.HasSuffix(ka, "@ackd.invalid") || len(ka) != len("sha256-")+64+len("@ackd.invalid") {
		t.Errorf("Key = %q", ka)
	}
	eq(t, "same bytes", SyntheticID(append([]byte(nil), a...)), ka)
	eq(t, "CRLF copy", SyntheticID([]byte(strings.ReplaceAll(string(a), "\n", "\r\n")+"\r\n")), ka)
	if SyntheticID(b) == ka {
		t.Errorf("different mail, same synthetic id %q", ka)
	}
	withID := msg("Message-ID: <x@example.test>", "", "body")
	mw, err := Parse(withID, Options{})
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Key with Message-ID", Key(mw, withID), "x@example.test")
	eq(t, "Key(nil)", Key(nil, a), ka)
}

func TestHostileShapes(t *testing.T) {
	deep := func(levels int) []byte {
		l := []string{"From: a@example.test"}
		for i := range levels {
			l = append(l, "Content-Type: multipart/mixed; boundary=d"+strings.Repeat("x", i), "", "--d"+strings.Repeat("x", i))
		}
		return msg(append(l, "Content-Type: text/plain", "", "deep text")...)
	}
	many := func(parts int) []byte {
		l := []string{"Content-Type: multipart/mixed; boundary=m", ""}
		for range parts {
			l = append(l, "--m", "Content-Type: application/octet-stream", "", "x")
		}
		return msg(append(l, "--m", "Content-Type: text/plain", "", "last part", "--m--")...)
	}
	text := func(want string) func(*testing.T, *rules.Message) {
		return func(t *testing.T, m *rules.Message) { eq(t, "Text", m.Text, want) }
	}
	runCases(t, []parseCase{
		{"nesting under the cap", deep(maxDepth - 1), Options{}, text("deep text")},
		{"nesting deeper than the cap", deep(maxDepth + 20), Options{}, text("")},
		{"parts under the cap", many(maxParts - 10), Options{}, text("last part")},
		{"more parts than the cap", many(1000), Options{}, text("")},
		{"huge header line", []byte("From: a@example.test\nSubject: " + strings.Repeat("s", 2<<20) + "\n\nbody"), Options{}, func(t *testing.T, m *rules.Message) {
			eq(t, "len(Subject)", len(m.Subject), 2<<20)
			eq(t, "Text", m.Text, "body")
		}},
	})
}

func TestTextIsValidUTF8AfterCut(t *testing.T) {
	raw := []byte("Content-Type: text/plain; charset=utf-8\n\n" + strings.Repeat("日本語", 1000))
	for limit := 1; limit < 12; limit++ {
		m, err := Parse(raw, Options{MaxTextBytes: limit})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Text) > limit || !utf8.ValidString(m.Text) || !m.Truncated {
			t.Errorf("limit %d: Text %q, Truncated %v", limit, m.Text, m.Truncated)
		}
	}
}
