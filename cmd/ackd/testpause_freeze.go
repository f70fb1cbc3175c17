//go:build ackdfreeze

package main

import (
	"os"
	"sync"
	"time"
)

// testPause, in the ackdfreeze build only (mailwatch's freeze test), lets
// a test stop this process at a chosen point of the store: once the file
// ACKD_FREEZE_ARM exists, the first time the store reaches the point
// ACKD_FREEZE_AT ("record" or "claim") it creates ACKD_FREEZE_MARK and
// stands still for 5 s, in which the test sends SIGSTOP.
func testPause() func(string) {
	at, arm, mark := os.Getenv("ACKD_FREEZE_AT"), os.Getenv("ACKD_FREEZE_ARM"), os.Getenv("ACKD_FREEZE_MARK")
	if at == "" || arm == "" || mark == "" {
		return nil
	}
	var once sync.Once
	return func(point string) {
		if point != at {
			return
		}
		if _, err := os.Stat(arm); err != nil {
			return
		}
		once.Do(func() {
			_ = os.WriteFile(mark, []byte(point), 0o600)
			time.Sleep(5 * time.Second)
		})
	}
}
