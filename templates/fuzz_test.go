package templates

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzReceipt renders the default receipt with hostile requester data:
// whatever the subject and names hold, the rendered Subject is one line of
// valid UTF-8 without control characters or Unicode line separators, the
// text part is valid UTF-8, and nothing panics.
func FuzzReceipt(f *testing.F) {
	f.Add("Locked out", "Jane Doe", "jane@example.test", "IT Help Desk", "line one\nline two")
	f.Add("a\r\nBcc: x@evil.example", "J\u2028ane", "j@x", "Dept\u202e", "\x00")
	f.Add(strings.Repeat("long ", 400), "\xff\xfe", "", "", "")
	f.Add("{{.Ref}} <script>", "{{printf}}", "a@b", "<b>", "]]>")
	loc := time.FixedZone("CET", 3600)
	set := Default()
	f.Fuzz(func(t *testing.T, subject, name, addr, dept, excerpt string) {
		r, err := set.Receipt(Receipt{
			Department: dept, DepartmentAddress: "it-help@example.test",
			Requester: Person{Name: name, Address: addr}, Subject: subject, Ref: "REQ-7",
			Category: "default", Commitment: "3d",
			Received: time.Date(2026, 3, 2, 10, 0, 0, 0, loc), Due: time.Date(2026, 3, 5, 10, 0, 0, 0, loc),
			Location: loc, Excerpt: excerpt,
		})
		if err != nil {
			t.Fatalf("render: %v", err)
		}
		if !utf8.ValidString(r.Subject) || !utf8.ValidString(r.Text) || !utf8.ValidString(r.HTML) {
			t.Errorf("invalid UTF-8 in rendered receipt")
		}
		if i := strings.IndexFunc(r.Subject, func(r rune) bool {
			return unicode.IsControl(r) || r == 0x2028 || r == 0x2029
		}); i >= 0 {
			t.Errorf("subject %q holds %U", r.Subject, []rune(r.Subject[i:])[0])
		}
		if !strings.Contains(r.Subject, "REQ-7") {
			t.Errorf("subject %q lost the reference", r.Subject)
		}
	})
}
