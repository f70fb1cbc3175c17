package mailwatch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultReloadDebounce is how long WatchConfig waits after the last
// change before it reloads: editors write a file in several steps
// (truncate, write, rename a backup), and one save should be one reload.
const DefaultReloadDebounce = 300 * time.Millisecond

// WatchConfig calls reload whenever the content of the file at path
// changes, once per burst of changes (quiet for debounce), until ctx
// ends. It watches the file's directory, not the file: editors that save
// by writing a new file and renaming it over the old one (vim, most IDEs),
// and Kubernetes' ConfigMap symlink swap, replace the inode a file watch
// would be attached to. Other files in the directory, a save that leaves
// the content as it was and a moment when the file is missing (half-way
// through a rename-on-save) call nothing. reload is what SIGHUP calls: it
// validates the file and keeps the running config when it is broken.
func WatchConfig(ctx context.Context, path string, debounce time.Duration, log *slog.Logger, reload func()) error {
	if debounce <= 0 {
		debounce = DefaultReloadDebounce
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	dirs := []string{filepath.Dir(path)}
	// A config that is a symlink into another directory (a checkout) is
	// edited there.
	if real, err := filepath.EvalSymlinks(path); err == nil && filepath.Dir(real) != dirs[0] {
		dirs = append(dirs, filepath.Dir(real))
	}
	for _, dir := range dirs {
		if err := w.Add(dir); err != nil {
			return fmt.Errorf("watch config directory %s: %w", dir, err)
		}
	}
	last := fileHash(path)
	log.Info("reload: watch: watching the config file", "path", path, "dirs", dirs)
	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			log.Warn("watching the config file", "path", path, "err", err)
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			// Any event in the directory may be the file (a rename onto
			// it, a symlink swap of its parent); the content decides.
			timer.Reset(debounce)
		case <-timer.C:
			h := fileHash(path)
			if h == nil || bytes.Equal(h, last) {
				continue
			}
			last = h
			log.Info("config file changed; reloading", "path", path)
			reload()
		}
	}
}

// fileHash is the SHA-256 of the file at path, nil when it cannot be read.
func fileHash(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	h := sha256.Sum256(b)
	return h[:]
}
