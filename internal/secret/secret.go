// Package secret reads the passwords and client secrets a config points
// at (password_env, password_file), the one place ackd does so.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// Read returns the secret a config points at: the environment variable
// env, or the content of file without its trailing newline; "" when both
// are empty. Errors name the variable or file, never the value. It takes
// the two names rather than the config's type so that this leaf imports
// nothing of ackd.
func Read(env, file string) (string, error) {
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
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
func Warning(file string) string {
	if file == "" {
		return ""
	}
	fi, err := os.Stat(file)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return ""
	}
	return fmt.Sprintf("password file %s is readable by every user (mode %04o); chmod 600 it", file, fi.Mode().Perm())
}
