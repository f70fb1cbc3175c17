package parse

import (
	"strings"
	"testing"
	"unicode"
)

// FuzzThreadKeys feeds hostile Message-ID, In-Reply-To and References
// values to the parser. The IDs it returns are stored as thread keys and
// written back into receipts' References, so none may hold whitespace or a
// control character, a list holds no duplicates, and the message key is
// the Message-ID whenever there is one.
func FuzzThreadKeys(f *testing.F) {
	seeds := [][3]string{
		{"<a@example.test>", "<b@example.test>", "<c@example.test> <b@example.test>"},
		{"a@b", "your message of Monday <x@y>", "<x@y>\r\n <z@w>"},
		{"<>", "<", "<<a@b>> <c@d"},
		{"<a b@c d>", "(comment <q@r>) <s@t>", "<u@v>,<w@x>;\"y@z\""},
		{"<a@b\x00c>", "<d@e\u2028f>", "<g\r\nBcc: x@evil@h>"},
		{"", "", strings.Repeat("<r@s> ", 500)},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, msgID, inReplyTo, refs string) {
		raw := "From: a@example.test\r\nMessage-ID: " + msgID + "\r\nIn-Reply-To: " + inReplyTo +
			"\r\nReferences: " + refs + "\r\nSubject: x\r\n\r\nbody\r\n"
		m, err := Parse([]byte(raw), Options{})
		if err != nil {
			return // no header block left after the fuzzer's line breaks
		}
		check := func(what, id string) {
			if strings.IndexFunc(id, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
				t.Errorf("%s %q holds whitespace or a control character", what, id)
			}
		}
		check("Message-ID", m.MessageID)
		for name, list := range map[string][]string{"In-Reply-To": m.InReplyTo, "References": m.References} {
			seen := map[string]bool{}
			for _, id := range list {
				if id == "" {
					t.Errorf("%s holds an empty id", name)
				}
				if seen[id] {
					t.Errorf("%s holds %q twice", name, id)
				}
				seen[id] = true
				check(name, id)
			}
			if len(list) > len(raw)/3+1 {
				t.Errorf("%s: %d ids from %d bytes", name, len(list), len(raw))
			}
		}
		k := Key(m, []byte(raw))
		if m.MessageID != "" && k != m.MessageID || k == "" {
			t.Errorf("Key = %q with Message-ID %q", k, m.MessageID)
		}
	})
}
