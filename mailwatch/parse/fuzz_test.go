package parse

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ackd/ackd/internal/corpus"
)

// fuzzSeeds are small messages that reach every branch of the parser.
func fuzzSeeds() []string {
	return []string{
		"From: Ann <ann@example.test>\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\nhello\r\n",
		"\xEF\xBB\xBFFrom a Mon Jan  5 10:00:00 2026\rFrom: a@example.test\rSubject: =?ISO-2022-JP?B?GyRCJF4kXyRgJGEkYhsoQg==?=\r\rx",
		"Subject: Caf\xe9\nFrom: J\xf6rg <j@example.test\nMessage-ID: a@b\nReferences: <x@y> junk <z@\n\nbody",
		"Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>Hi &amp; bye</p>\n--b--\n",
		"Content-Type: multipart/report; report-type=delivery-status; boundary=r\n\n--r\nContent-Type: message/delivery-status\n\nAction: failed\n--r--\n",
		"Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8=!!!\n",
		"Content-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\nbegin 644 a\n+2&5L;&\\@=V]R;&0`\n`\nend\n",
		"Content-Type: multipart/mixed boundary=\"q\"; boundary=q\n\n--q\n\nno header part\n--q",
		"Return-Path: <>\nDate: Thu, 29 Apr 2016 23:34:45 -0700\nFrom: MAILER-DAEMON <>\n\n",
		"Subject: =?UTF-8?Q?a=0D=0Ab?=\n\n",
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add([]byte(s), uint16(0))
		f.Add([]byte(s), uint16(7))
	}
	for _, path := range corpusSample() {
		if raw, err := os.ReadFile(path); err == nil {
			f.Add(raw, uint16(100))
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte, maxText uint16) {
		opts := Options{MaxTextBytes: int(maxText)}
		m, err := Parse(raw, opts)
		if err != nil {
			if !errors.Is(err, ErrNotMail) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Parse: unexpected error %v", err)
			}
			return
		}
		checkInvariants(t, m, opts.withDefaults().MaxTextBytes)
		if Key(m, raw) == "" {
			t.Fatal("empty Key")
		}
	})
}

// corpusSample picks a few corpus files for fuzz seeds without skipping
// the fuzz test when the corpus is absent.
func corpusSample() []string {
	root := os.Getenv("ACKD_CORPUS")
	if root == "" {
		root = filepath.Join("..", "..", "..", "shared", "corpus")
	}
	var out []string
	for _, pattern := range []string{"requests/mail__error_emails_*.eml", "requests/notmuch__crypto_*.eml", "noreply/sisimai__bsd_lhost-*-01.eml"} {
		m, _ := filepath.Glob(filepath.Join(root, pattern))
		if len(m) > 6 {
			m = m[:6]
		}
		out = append(out, m...)
	}
	return out
}

func BenchmarkParse(b *testing.B) {
	var msgs [][]byte
	var total int64
	for _, path := range corpus.Files(b, "requests") {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		msgs = append(msgs, raw)
		total += int64(len(raw))
	}
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range msgs {
			if _, err := Parse(raw, Options{}); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestMemoryBounded checks that giant inputs cost a small multiple of
// their size in allocations, not a blow-up: the text caps stop reading
// early and the rest of the body is streamed past.
func TestMemoryBounded(t *testing.T) {
	const n = 8 << 20
	cases := map[string][]byte{
		"long header line": []byte("From: a@example.test\nSubject: " + strings.Repeat("s", n) + "\n\nbody"),
		"plain body":       []byte("From: a@example.test\n\n" + strings.Repeat("word ", n/5)),
		"lone LFs":         []byte("From: a@example.test\n\n" + strings.Repeat("\n", n)),
		"html body":        []byte("Content-Type: text/html\n\n" + strings.Repeat("<p>x</p>", n/8)),
		"base64 attachment": []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhi\n--b\n" +
			"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n" +
			strings.Repeat("QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n", n/77) + "--b--\n"),
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, err := Parse(raw, Options{})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d input bytes, %d allocated (%.1fx)", len(raw), alloc, float64(alloc)/float64(len(raw)))
			if alloc > 4*uint64(len(raw)) {
				t.Errorf("allocated %d bytes for %d input bytes", alloc, len(raw))
			}
			checkInvariants(t, m, DefaultOptionsForTest().MaxTextBytes)
		})
	}
}
