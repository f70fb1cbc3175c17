// Package deploy holds the files that install ackd as a service; its test
// checks the systemd unit with systemd-analyze verify.
package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needSystemdAnalyze finds systemd-analyze, installing Debian's systemd
// package when it is missing and this is root with apt-get. It skips
// loudly when that is impossible, and fails under CI=true.
func needSystemdAnalyze(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("systemd-analyze"); err == nil {
		return p
	}
	why := ""
	if _, err := exec.LookPath("apt-get"); err != nil || os.Geteuid() != 0 {
		why = "systemd-analyze is missing and installing systemd needs root and apt-get"
	} else if out, err := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "systemd").CombinedOutput(); err != nil {
		why = "apt-get install systemd failed: " + lastLines(string(out), 3)
	} else if p, err := exec.LookPath("systemd-analyze"); err == nil {
		return p
	} else {
		why = "systemd installed but systemd-analyze still not found"
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and the systemd unit cannot be verified: %s", why)
	}
	t.Skipf("######## SKIP: cannot verify deploy/ackd.service: %s ########", why)
	return ""
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], " / ")
}

func TestUnitVerifies(t *testing.T) {
	analyze := needSystemdAnalyze(t)
	unit, err := os.ReadFile("ackd.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=ackd",
		"ExecStartPre=/usr/local/bin/ackd check", "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure", "DynamicUser=yes"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// verify checks that ExecStart's binary exists: point it at a real build.
	dir := t.TempDir()
	bin := filepath.Join(dir, "ackd")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ackd").CombinedOutput(); err != nil {
		t.Fatalf("build ackd: %v\n%s", err, out)
	}
	local := strings.ReplaceAll(string(unit), "/usr/local/bin/ackd", bin)
	path := filepath.Join(dir, "ackd.service")
	if err := os.WriteFile(path, []byte(local), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// A broken unit must fail, or this test proves nothing.
	bad := filepath.Join(dir, "bad.service")
	if err := os.WriteFile(bad, []byte(strings.Replace(local, "ProtectSystem=strict", "ProtectSystem=stricter", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command(analyze, "verify", bad).CombinedOutput(); !strings.Contains(strings.ToLower(string(out)), "protect system") {
		t.Errorf("systemd-analyze verify did not flag a bad ProtectSystem value: %s", out)
	}
}
