package addrspec

import "testing"

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"alice@example.test", "alice@example.test", true},
		{"  bob@example.test ", "bob@example.test", true},
		{"jörg@example.test", "jörg@example.test", true},
		{"", "", false},
		{`"a,b"@example.test`, "", false},
		{"a,b@example.test", "", false},
		{"<a@example.test>", "", false},
		{"a b@example.test", "", false},
		{"a@example.test\r\nBcc: x@evil.test", "", false},
		{"no-at-sign", "", false},
		{"a@", "", false},
		{"@example.test", "", false},
		{"a@@example.test", "", false},
	} {
		got, err := Check(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("Check(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}
