package mailwatch

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFaultStoreDiskFull puts the store on a small tmpfs, fills it, and
// delivers a request: the write fails with a clear error, nothing is half
// written or sent, the checkpoint stays; once space is freed the message
// is fetched again and acknowledged exactly once.
func TestFaultStoreDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true: the disk-full test needs root to mount a tmpfs")
		}
		t.Skip("SKIP disk-full test: needs root to mount a small tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs: %v: %s", err, out)
		}
		t.Skipf("SKIP disk-full test: cannot mount a tmpfs here: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })

	r, srv, sink := memRig(t)
	r.dbPath = filepath.Join(dir, "ackd.db")
	r.cfg.Store.DSN = r.dbPath
	r.start()
	eventually(t, 10*time.Second, "the daemon up", func() bool { return r.d.Ready() == nil })

	// Take every free byte of the filesystem.
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break
		}
	}
	f.Close()

	id, raw := faultRequest("jane@example.test", "it-help@example.test", "Arrives while the disk is full")
	if _, err := srv.Append("it-help@example.test", "INBOX", raw, time.Time{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "a failed attempt logged", func() bool {
		return strings.Contains(r.log.String(), "record request")
	})
	logged := r.log.String()
	if !strings.Contains(logged, "full") && !strings.Contains(logged, "disk I/O error") && !strings.Contains(logged, "no space") {
		t.Errorf("the log does not name the full disk:\n%s", logged)
	}
	if n := len(sink.Messages()); n != 0 {
		t.Errorf("%d receipts sent while nothing could be recorded", n)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	expectRecoveredOnce(t, r, sink, id, logged)
}
