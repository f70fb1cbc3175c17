package web_test

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ackd/ackd/mailwatch/web"
)

// chromium finds Debian's chromium (scripts/test installs it). Without it
// the test skips loudly, except under CI=true where it must run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "=== BROWSER TEST SKIPPED: chromium is not installed (scripts/test installs it: apt-get install -y --no-install-recommends chromium) ==="
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// runChromium runs one headless browser; it is safe to call from any
// goroutine (it reports errors instead of failing the test).
func runChromium(t *testing.T, bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("chromium %v: %w\nstderr:\n%s", args, err, stderr.String())
	}
	return stdout.Bytes(), nil
}

// TestStatusPageInBrowser renders the status page in headless chromium: the
// DOM the browser built must hold the seeded requests in its table, and
// the screenshot must be a real picture. ACKD_KEEP_SCREENSHOT=FILE keeps a
// copy of the screenshot for a person to look at.
func TestStatusPageInBrowser(t *testing.T) {
	bin := chromium(t)
	st, refs := seed(t)
	srv := newServer(t, st, nil, web.BasicAuth{})
	if host, _, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://")); host != "127.0.0.1" {
		t.Fatalf("test server on %s, want loopback", srv.URL)
	}
	url := srv.URL + "/"

	// The two browser runs are independent; in parallel they take half
	// the wall time.
	shot := filepath.Join(t.TempDir(), "status.png")
	shotErr := make(chan error, 1)
	go func() {
		_, err := runChromium(t, bin, "--screenshot="+shot, "--window-size=1200,900", "--hide-scrollbars", url)
		shotErr <- err
	}()
	out, err := runChromium(t, bin, "--dump-dom", url)
	if err := <-shotErr; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	dom := string(out)
	table := regexp.MustCompile(`(?s)<table class="open">.*?</table>`).FindAllString(dom, -1)
	if len(table) != 1 {
		t.Fatalf("dumped DOM has %d request tables, want 1 (IT Help Desk; Payroll has none open):\n%s", len(table), dom)
	}
	for _, subject := range []string{"locked out again", hostileSubject, "new monitor", "printer jams"} {
		if !strings.Contains(table[0], `<td class="ref">`+refs[subject]+`</td>`) {
			t.Errorf("table lacks %s (%q):\n%s", refs[subject], subject, table[0])
		}
	}
	if strings.Contains(table[0], `<td class="ref">`+refs["password reset"]+`</td>`) {
		t.Errorf("table lists the resolved %s", refs["password reset"])
	}
	// The browser parsed the hostile subject as text: no script element.
	if strings.Contains(strings.ToLower(dom), "<script") {
		t.Errorf("the browser built a script element from the page:\n%s", dom)
	}
	if !strings.Contains(table[0], "&lt;script&gt;") {
		t.Errorf("hostile subject not shown as text:\n%s", table[0])
	}

	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Errorf("screenshot is %dx%d, want 1200x900", b.Dx(), b.Dy())
	}
	// A blank or error page has a handful of colours; text, badges and
	// bars have many.
	colours := map[uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|bl>>8] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has %d colours; it looks blank", len(colours))
	}
	if keep := os.Getenv("ACKD_KEEP_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
	t.Logf("screenshot: %d bytes, %d colours", len(data), len(colours))
}
