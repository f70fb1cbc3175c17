package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ackd/ackd/internal/oauthtest"
)

const deploymentDoc = "../../docs/deployment.md"

// docBlocks returns the fenced blocks of docs/deployment.md that follow a
// line <!-- KIND: NAME -->, by name, with the list item's indentation
// removed.
func docBlocks(t *testing.T, kind string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(deploymentDoc)
	if err != nil {
		t.Fatal(err)
	}
	marker := regexp.MustCompile(`^\s*<!-- ` + kind + `: ([a-z0-9-]+) -->\s*$`)
	lines := strings.Split(string(b), "\n")
	out := map[string]string{}
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || !strings.HasPrefix(strings.TrimSpace(lines[i+1]), "```") {
			t.Fatalf("%s:%d: marker %q is not followed by a fenced block", deploymentDoc, i+1, m[1])
		}
		indent := lines[i+1][:strings.Index(lines[i+1], "```")]
		var body []string
		j := i + 2
		for ; j < len(lines) && strings.TrimSpace(lines[j]) != "```"; j++ {
			body = append(body, strings.TrimPrefix(lines[j], indent))
		}
		if j == len(lines) {
			t.Fatalf("%s:%d: block %q has no closing fence", deploymentDoc, i+2, m[1])
		}
		if _, dup := out[m[1]]; dup {
			t.Fatalf("%s: two blocks marked %s: %s", deploymentDoc, kind, m[1])
		}
		out[m[1]] = strings.Join(body, "\n") + "\n"
		i = j
	}
	return out
}

// guideHost is a machine set up as the guides say, under a temp dir: the
// paths of /etc/ackd, /var/lib/ackd and the unit's credentials directory
// map to directories here, each holding what it holds at that moment.
type guideHost struct {
	etc, state, creds string
}

func (h guideHost) rewrite(s string) string {
	return strings.NewReplacer("/etc/ackd/", h.etc+"/", "/var/lib/ackd/", h.state+"/",
		"/run/credentials/ackd.service/", h.creds+"/").Replace(s)
}

// TestDeploymentGuideConfigs loads every config the deployment guides
// print, as printed, with `ackd check`: as root before the first start
// (the keys only in /etc/ackd, no refresh token yet), where the output
// must be the one the guide quotes after it; and as the unit's check
// sees it once set up (credentials loaded, logins done), where it must be
// silent. The first admin to follow the guides found their configs
// refused (no allowed_senders, calendar, categories or rules).
func TestDeploymentGuideConfigs(t *testing.T) {
	configs := docBlocks(t, "check")
	outputs := docBlocks(t, "check-output")
	want := []string{"google-person", "google-service-account", "m365-app-only", "m365-delegated"}
	var names []string
	for n := range configs {
		names = append(names, n)
	}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Fatalf("%s marks configs %v; want %v (one per guide)", deploymentDoc, names, want)
	}
	for _, name := range want {
		t.Run(name, func(t *testing.T) {
			yaml := configs[name]
			base := t.TempDir()
			h := guideHost{etc: filepath.Join(base, "etc"), state: filepath.Join(base, "state"), creds: filepath.Join(base, "run/credentials/ackd.service")}
			for _, d := range []string{h.etc, h.state} {
				if err := os.Mkdir(d, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// What the guide's steps put in /etc/ackd: the certificate
			// pair (RSA, as step 3 makes it), the service account key.
			crt, key, _ := oauthtest.WriteCertificate(t, h.etc, "m365", oauthtest.RSA)
			if err := os.Chmod(crt, 0o644); err != nil {
				t.Fatal(err)
			}
			srv := oauthtest.StartAs(t, "127.0.0.1:0", oauthtest.Google)
			sa, _ := srv.AddServiceAccount(t, h.etc, "google-sa", "example.com", "https://mail.google.com/")
			cfgPath := filepath.Join(h.etc, "config.yaml")
			if err := os.WriteFile(cfgPath, []byte(h.rewrite(yaml)), 0o644); err != nil {
				t.Fatal(err)
			}

			// As root, before the first start.
			r := runAckd(t, "check", "-c", cfgPath)
			if r.code != 0 {
				t.Fatalf("the guide's %s config, as printed, fails `ackd check`:\n%s\n--- config\n%s", name, r, yaml)
			}
			got := strings.NewReplacer(h.etc+"/", "/etc/ackd/", h.state+"/", "/var/lib/ackd/", h.creds+"/", "/run/credentials/ackd.service/").
				Replace(r.stderr + r.stdout)
			if quoted, ok := outputs[name]; !ok {
				t.Errorf("%s quotes no `ackd check` output for %s (<!-- check-output: %s -->)", deploymentDoc, name, name)
			} else if got != quoted {
				t.Errorf("the guide quotes for %s\n%s\nbut `ackd check` prints\n%s", name, quoted, got)
			}

			// Inside the unit, set up: LoadCredential= copies, the logins
			// done. Nothing left to warn about.
			if err := os.MkdirAll(h.creds, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{key, sa} {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(h.creds, filepath.Base(f)), b, 0o400); err != nil {
					t.Fatal(err)
				}
			}
			for _, tok := range []string{"smtp.token", "it-help.token"} {
				if err := os.WriteFile(filepath.Join(h.state, tok), []byte("dummy-refresh-token\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			r = runAckd(t, "check", "-c", cfgPath)
			if r.code != 0 || r.stderr != "" || !strings.Contains(r.stdout, ": OK (") {
				t.Errorf("the %s config, set up as the guide says, still gets from `ackd check`:\n%s", name, r)
			}
		})
	}
}
