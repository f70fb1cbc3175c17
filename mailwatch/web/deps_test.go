package web_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsNothingOfTheDaemon keeps dependencies running one way: web
// and report read the store and the config, and cmd/ackd hands them what
// they need of the daemon, so neither may import it.
func TestImportsNothingOfTheDaemon(t *testing.T) {
	const daemon = "github.com/ackd/ackd/mailwatch"
	for _, pkg := range []string{".", "../report"} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v: %s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep == daemon {
				t.Errorf("%s depends on %s", pkg, daemon)
			}
		}
	}
}
