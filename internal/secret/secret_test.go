package secret

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("ACKD_SECRET_TEST_SET", "s3cret")
	t.Setenv("ACKD_SECRET_TEST_EMPTY", "")
	tests := []struct {
		name      string
		env, file string
		want      string
		wantErr   string
	}{
		{"none", "", "", "", ""},
		{"env", "ACKD_SECRET_TEST_SET", "", "s3cret", ""},
		{"env unset", "ACKD_SECRET_TEST_UNSET", "", "", "ACKD_SECRET_TEST_UNSET is not set"},
		{"env empty", "ACKD_SECRET_TEST_EMPTY", "", "", "ACKD_SECRET_TEST_EMPTY is not set"},
		{"file trailing newline", "", write("crlf", "pw\r\n", 0o600), "pw", ""},
		{"file inner newline kept", "", write("inner", "a\nb\n", 0o600), "a\nb", ""},
		{"file empty", "", write("empty", "\n", 0o600), "", "is empty"},
		{"file missing", "", filepath.Join(dir, "missing"), "", "read secret file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Read(tt.env, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Read = %q, %v; want error containing %q", got, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %q shows the value", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Read = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestWarning(t *testing.T) {
	dir := t.TempDir()
	private, public := filepath.Join(dir, "private"), filepath.Join(dir, "public")
	for p, mode := range map[string]os.FileMode{private: 0o600, public: 0o644} {
		if err := os.WriteFile(p, []byte("pw"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if w := Warning(private); w != "" {
		t.Errorf("0600 file: %q, want no warning", w)
	}
	if w := Warning(public); !strings.Contains(w, "readable by every user") {
		t.Errorf("0644 file: %q, want a warning", w)
	}
	if w := Warning(""); w != "" {
		t.Errorf("no file: %q, want no warning", w)
	}
}
