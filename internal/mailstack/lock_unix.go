//go:build unix

package mailstack

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// lockWait bounds how long a test waits for its turn on the stack.
const lockWait = 3 * time.Minute

// lockStack takes a shared or exclusive flock on the stack's lock file for
// the rest of the test. flock locks belong to the open file, so tests in one
// process exclude each other as tests in different processes do.
func lockStack(t testing.TB, dir string, exclusive bool) error {
	t.Helper()
	path := filepath.Join(dir, "tests.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open stack lock: %w", err)
	}
	how, kind := syscall.LOCK_SH, "shared"
	if exclusive {
		how, kind = syscall.LOCK_EX, "exclusive"
	}
	deadline := time.Now().Add(lockWait)
	logged := false
	for {
		err = syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("take %s stack lock: %w", kind, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("take %s stack lock: other tests held %s for %v (a RequireExclusive test called before t.Parallel?)", kind, path, lockWait)
		}
		if !logged {
			t.Logf("mailstack: waiting for %s use of the stack", kind)
			logged = true
		}
		// Another process holds the lock and flock has no timeout: poll.
		time.Sleep(20 * time.Millisecond)
	}
	t.Cleanup(func() { f.Close() })
	return nil
}
