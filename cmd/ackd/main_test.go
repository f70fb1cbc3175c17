package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// ackdBin is the ackd binary built once by TestMain, for the tests that
// need a real process to send signals to.
var ackdBin string

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ackd-cmdtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ackdBin = filepath.Join(dir, "ackd")
	build := exec.Command("go", "build", "-o", ackdBin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build ackd: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// result is what one in-process run of the command line produced.
type result struct {
	code           int
	stdout, stderr string
}

// runAckd runs the command line in-process, as main would.
func runAckd(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

func TestVersion(t *testing.T) {
	for _, arg := range []string{"version", "--version"} {
		r := runAckd(t, arg)
		if r.code != 0 || !strings.HasPrefix(r.stdout, "ackd ") {
			t.Errorf("ackd %s: want exit 0 and \"ackd …\"; got %s", arg, r)
		}
	}
	out, err := exec.Command(ackdBin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "ackd ") {
		t.Errorf("built binary: ackd version = %q, %v", out, err)
	}
}

func TestUsage(t *testing.T) {
	if r := runAckd(t); r.code != 2 || !strings.Contains(r.stderr, "usage: ackd") {
		t.Errorf("ackd without a command: want exit 2 and the usage; got %s", r)
	}
	if r := runAckd(t, "frobnicate"); r.code != 2 || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("ackd frobnicate: want exit 2 naming the command; got %s", r)
	}
}
