package store

import (
	"errors"
	"strings"
	"testing"
)

// Runs without a server: the DSN checks that keep passwords out of config
// files and errors.
func TestDSNHasPassword(t *testing.T) {
	cases := []struct {
		dsn  string
		want bool
	}{
		{"postgres://ackd@127.0.0.1:15432/ackd?sslmode=disable", false},
		{"postgresql://ackd@db.example.test/ackd", false},
		{"postgres://ackd:s3cret@127.0.0.1/ackd", true},
		{"POSTGRES://ackd:s3cret@127.0.0.1/ackd", true},
		{"postgres://ackd:@127.0.0.1/ackd", true},
		{"postgres://ackd@127.0.0.1/ackd?sslmode=disable&password=s3cret", true},
		{"postgres://ackd@127.0.0.1/ackd?sslpassword=keypass", false},
		{"postgres://ackd:s3cret@127.0.0.1:notaport/ackd", true},
		{"postgres://ackd@127.0.0.1:notaport/ackd?password=s3cret", true},
		{"host=127.0.0.1 user=ackd dbname=ackd", false},
		{"host=127.0.0.1 user=ackd password=s3cret", true},
		{"password = 's3 cret' host=127.0.0.1", true},
		{"host=127.0.0.1 sslpassword=keypass", false},
	}
	for _, tc := range cases {
		if got := dsnHasPassword(tc.dsn); got != tc.want {
			t.Errorf("dsnHasPassword(%q) = %v, want %v", tc.dsn, got, tc.want)
		}
	}
}

func TestScrubbed(t *testing.T) {
	inner := errors.New("cannot parse `postgres://ackd:hunter22@h:x/db`: bad (password=hunter22 password='hunter 22' opt-secret-9)")
	err := scrubbed(inner, "opt-secret-9")
	for _, leak := range []string{"hunter22", "hunter 22", "opt-secret-9"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("scrubbed error %q still holds %q", err, leak)
		}
	}
	if !errors.Is(err, inner) {
		t.Error("scrubbed error does not unwrap to the original")
	}
	if !strings.Contains(err.Error(), "cannot parse") {
		t.Errorf("scrubbed error %q lost its message", err)
	}
	plain := errors.New("connection refused")
	if got := scrubbed(plain, "opt-secret-9"); got != plain {
		t.Errorf("an error without secrets was rewrapped: %v", got)
	}
}
