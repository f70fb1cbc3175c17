// Package secret reads the passwords and client secrets a config points
// at (password_env, password_file), the one place ackd does so.
package secret

import (
	"fmt"
	"os"
	"strings"

	"github.com/ackd/ackd/rules"
)

// Read returns the value s points at: the environment variable, or the
// file's content without its trailing newline; "" when s names neither.
// Errors name the variable or file, never the value.
func Read(s rules.Secret) (string, error) {
	switch {
	case s.Env != "":
		v, ok := os.LookupEnv(s.Env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", s.Env)
		}
		return v, nil
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", s.File)
		}
		return v, nil
	default:
		return "", nil
	}
}

// Warning returns a warning when a secret file can be read by every user
// on the machine, "" otherwise (and for env secrets, or a file that cannot
// be stat'ed: Read reports that). It is a warning, not an error: a
// container's secret mount may be 0444 by design, and refusing to start
// would page someone at night over a mode bit.
func Warning(s rules.Secret) string {
	if s.File == "" {
		return ""
	}
	fi, err := os.Stat(s.File)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("password file %s is readable by every user (mode %04o); chmod 600 it", s.File, fi.Mode().Perm())
}
