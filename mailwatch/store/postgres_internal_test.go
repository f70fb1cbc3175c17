package store

import (
	"errors"
	"strings"
	"testing"
)

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
