//go:build !ackdfreeze

package main

// testPause is nil outside the ackdfreeze test build (testpause_freeze.go).
func testPause() func(string) { return nil }
