// Package corpus finds the shared corpus of real messages for tests.
package corpus

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Dir returns the corpus folder name ("requests", "noreply", "noreply-hard")
// from ../shared/corpus beside the module root, or from $ACKD_CORPUS. When
// neither exists the test is skipped with a message saying where it looked.
func Dir(t testing.TB, name string) string {
	t.Helper()
	var tried []string
	if env := os.Getenv("ACKD_CORPUS"); env != "" {
		d := filepath.Join(env, name)
		if isDir(d) {
			return d
		}
		tried = append(tried, d)
	}
	if root := moduleRoot(); root != "" {
		d := filepath.Join(root, "..", "shared", "corpus", name)
		if isDir(d) {
			return d
		}
		tried = append(tried, d)
	}
	t.Skipf("SKIP: shared corpus %q not found (looked in %s); set ACKD_CORPUS to run these tests", name, strings.Join(tried, ", "))
	return ""
}

// Files lists the .eml files of a corpus folder, sorted.
func Files(t testing.TB, name string) []string {
	t.Helper()
	dir := Dir(t, name)
	matches, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil {
		t.Fatalf("list corpus %s: %v", dir, err)
	}
	if len(matches) == 0 {
		t.Fatalf("corpus %s holds no .eml files", dir)
	}
	sort.Strings(matches)
	return matches
}

func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}
