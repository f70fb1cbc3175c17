package mailwatch

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestWatchConfig: a save in place, a rename-on-save and a burst of
// writes each reload once; another file in the directory, a save of the
// same content and the file briefly missing reload nothing. Each "nothing"
// is checked by the next real change being the next reload, with the
// content of that change: no sleeps.
func TestWatchConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(path, "v0")
	reloads := make(chan string, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- WatchConfig(ctx, path, 30*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)), func() {
			b, _ := os.ReadFile(path)
			reloads <- string(b)
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	expect := func(step, want string) {
		t.Helper()
		select {
		case got := <-reloads:
			if got != want {
				t.Fatalf("%s: reloaded %q, want %q", step, got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no reload", step)
		}
	}
	// The watcher may still be starting; keep saving until it sees one.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		write(path, "v1-"+string(rune('a'+i%26)))
		select {
		case <-reloads:
		case <-time.After(200 * time.Millisecond):
			if time.Now().After(deadline) {
				t.Fatal("the watcher never reloaded")
			}
			continue
		}
		break
	}

	write(path, "v2")
	expect("save in place", "v2")

	tmp := filepath.Join(dir, ".config.yaml.swp")
	write(tmp, "v3")
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	expect("rename-on-save", "v3")

	for _, s := range []string{"v4a", "v4b", "v4c", "v4d"} {
		write(path, s)
	}
	expect("a burst of writes", "v4d")

	write(filepath.Join(dir, "notes.txt"), "not the config")
	write(path, "v4d") // the same content
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	write(path, "v5")
	expect("after another file, the same content and a missing file", "v5")
	select {
	case got := <-reloads:
		t.Errorf("a second reload for one change: %q", got)
	default:
	}
}
