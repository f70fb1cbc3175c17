package config_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImportsRunDown keeps dependencies running one way: config is below
// rules, and rules below the lifecycle and the daemon.
func TestImportsRunDown(t *testing.T) {
	const mod = "github.com/ackd/ackd/"
	for _, tc := range []struct {
		pkg   string
		never []string
	}{
		{".", []string{"rules", "lifecycle", "templates", "mailwatch"}},
		{"../rules", []string{"lifecycle", "templates", "mailwatch"}},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v: %s", tc.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, n := range tc.never {
				if dep == mod+n || strings.HasPrefix(dep, mod+n+"/") {
					t.Errorf("%s depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}
