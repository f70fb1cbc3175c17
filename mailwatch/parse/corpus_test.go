package parse

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ackd/ackd/internal/corpus"
	"github.com/ackd/ackd/rules"
)

// TestCorpusParses: every real message in the shared corpus is mail, so
// Parse must succeed and produce well-formed output.
func TestCorpusParses(t *testing.T) {
	for _, dir := range []string{"requests", "noreply", "noreply-hard"} {
		for _, path := range corpus.Files(t, dir) {
			t.Run(dir+"/"+filepath.Base(path), func(t *testing.T) {
				raw, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				m, err := Parse(raw, Options{})
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				checkInvariants(t, m, DefaultOptionsForTest().MaxTextBytes)
				if m.Size != len(raw) {
					t.Errorf("Size = %d, want %d", m.Size, len(raw))
				}
				if len(m.Header) == 0 {
					t.Errorf("no header fields")
				}
			})
		}
	}
}

// DefaultOptionsForTest returns Options with the defaults filled in.
func DefaultOptionsForTest() Options { return Options{}.withDefaults() }

// TestCorpusBounces: every noreply file the manifest calls a bounce must
// show it in a way Decide can see.
func TestCorpusBounces(t *testing.T) {
	dir := corpus.Dir(t, "noreply")
	classes := manifestClasses(t, filepath.Join(dir, "MANIFEST.tsv"))
	n := 0
	for name, class := range classes {
		if class != "bounce" {
			continue
		}
		n++
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(raw, Options{})
		if err != nil {
			t.Errorf("%s: Parse: %v", name, err)
			continue
		}
		from := strings.ToLower(m.From.Address + " " + m.From.Name)
		daemon := strings.Contains(from, "mailer-daemon") || strings.Contains(from, "postmaster")
		if m.ContentType != "multipart/report" && !m.HasDeliveryStatus && !daemon {
			t.Errorf("%s: bounce without report, delivery-status part or mailer-daemon sender (From %q, %s)", name, m.From.Address, m.ContentType)
		}
	}
	if n == 0 {
		t.Fatal("manifest lists no bounce")
	}
}

func manifestClasses(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("open manifest: %v", err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	col := -1
	for sc.Scan() {
		cells := strings.Split(sc.Text(), "\t")
		if col < 0 {
			for i, c := range cells {
				if c == "class" {
					col = i
				}
			}
			if col < 0 {
				t.Fatalf("%s: no class column", path)
			}
			continue
		}
		if len(cells) > col {
			out[cells[0]] = cells[col]
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read manifest: %v", err)
	}
	return out
}

// checkInvariants holds for any parsed message.
func checkInvariants(t testing.TB, m *rules.Message, maxText int) {
	t.Helper()
	if len(m.Text) > maxText {
		t.Errorf("Text is %d bytes, cap %d", len(m.Text), maxText)
	}
	check := func(what, s string) {
		if !utf8.ValidString(s) {
			t.Errorf("%s is not valid UTF-8: %q", what, s)
		}
	}
	check("MessageID", m.MessageID)
	check("Subject", m.Subject)
	check("Text", m.Text)
	check("ReturnPath", m.ReturnPath)
	check("ContentType", m.ContentType)
	check("ReportType", m.ReportType)
	for _, id := range append(append([]string{}, m.InReplyTo...), m.References...) {
		check("msg-id", id)
	}
	addrs := append(append(append([]rules.Address{m.From}, m.ReplyTo...), m.To...), m.Cc...)
	if m.Sender != nil {
		addrs = append(addrs, *m.Sender)
	}
	for _, a := range addrs {
		check("address name", a.Name)
		check("address", a.Address)
	}
	for k, vs := range m.Header {
		check("header key", k)
		for _, v := range vs {
			check("header "+k, v)
		}
	}
}
