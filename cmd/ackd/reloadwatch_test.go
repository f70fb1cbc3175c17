package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ackd/ackd/internal/imapmem"
	"github.com/ackd/ackd/internal/smtpsink"
)

// TestRunReloadWatch: with reload: watch, saving the file reloads it
// without a signal. A broken save (written the way editors do: a new file
// renamed over the old) is refused with every problem logged and the old
// rules keep deciding; a good save in place takes effect for the next
// message.
func TestRunReloadWatch(t *testing.T) {
	imapSrv, err := imapmem.Start(imapmem.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { imapSrv.Close() })
	if err := imapSrv.AddUser(deptAddr, imapPass, "Sent"); err != nil {
		t.Fatal(err)
	}
	sink, err := smtpsink.Start(context.Background(), smtpsink.WithAuth("ackd-smtp", smtpPass))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sink.Close)
	dir := t.TempDir()
	secret := filepath.Join(dir, "imap-password")
	if err := os.WriteFile(secret, []byte(imapPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "config.yaml")
	cfgText := func(extraRule string) string {
		return "reload: watch\n" + runConfig(imapSrv.Addr(), sink, secret, extraRule)
	}
	if err := os.WriteFile(cfgPath, []byte(cfgText("")), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(ackdBin, "run", "-c", cfgPath, "--log-format", "json")
	cmd.Env = append(os.Environ(), "ACKD_SMTP_PASSWORD="+smtpPass)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	log := newLogLines(stderr)
	exited := make(chan error, 1)
	go func() {
		<-log.done
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	deliver := func(raw []byte) {
		t.Helper()
		if _, err := imapSrv.Append(deptAddr, "INBOX", raw, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	acked := func(from string) func(map[string]any) bool {
		return func(o map[string]any) bool { return o["msg"] == "request acknowledged" && o["from"] == from }
	}
	log.waitFor(t, "ackd started", 1, msgIs("ackd started"))
	log.waitFor(t, "the watcher in place", 1, msgIs("reload: watch: watching the config file"))

	// A broken save, renamed over the file.
	tmp := filepath.Join(dir, ".config.yaml.tmp")
	broken := strings.Replace(cfgText(""), "hardware: {commitment: 2d}", "hardware: {commitment: 2 days, colour: red}", 1)
	if err := os.WriteFile(tmp, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfgPath); err != nil {
		t.Fatal(err)
	}
	refused := log.waitFor(t, "two refused-reload problems", 2, msgIs("reload refused: config problem"))
	for i, want := range []string{`"2 days"`, `unknown key "colour"`} {
		if p := str(refused[i], "problem"); !strings.Contains(p, want) || !strings.HasPrefix(p, cfgPath+":") {
			t.Errorf("refused problem %d = %q, want %s at %s:LINE:COL", i, p, want, cfgPath)
		}
	}
	deliver(mailFrom("Max Mustermann", "max.mustermann@example.test", "Printer on floor 3 jams", "", "Paper jam again."))
	max := log.waitFor(t, "max's request acknowledged", 1, acked("max.mustermann@example.test"))[0]
	if str(max, "category") != "default" {
		t.Errorf("after the refused save the printer request got category %q; want default (the old rules)", str(max, "category"))
	}

	// A good save in place.
	if err := os.WriteFile(cfgPath, []byte(cfgText("      - name: printer\n        match: {subject: [printer]}\n        category: hardware\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	log.waitFor(t, "a successful reload", 1, msgIs("reloaded rules and templates"))
	deliver(mailFrom("Li Wei", "li.wei@example.test", "Printer in room 4 prints blank pages", "", "All pages are white."))
	li := log.waitFor(t, "li's request acknowledged", 1, acked("li.wei@example.test"))[0]
	if str(li, "rule") != "printer" || str(li, "category") != "hardware" {
		t.Errorf("after the save the printer request got rule %q, category %q; want printer, hardware", str(li, "rule"), str(li, "category"))
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGTERM: %v\n%s", err, log.text())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}
