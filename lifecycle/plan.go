package lifecycle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/ackd/ackd/config"
)

// wakeRules names the rules NextWake follows; change it whenever NextWake
// changes, so that every stored wake-up is planned again.
const wakeRules = "wake/1"

// PlanFingerprint is a digest of everything NextWake reads from d's
// configuration: the business calendar and, per category, its commitments,
// ladder and automatic resolve. Wake-ups stored under a configuration
// with the same fingerprint need not be planned again; a changed calendar,
// commitment or ladder gives another one. Staff, rules, templates and
// ladder targets do not change when a request wakes, and do not count.
func PlanFingerprint(d *config.Department) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\ncalendar %s\n", wakeRules, d.Calendar.Fingerprint())
	names := make([]string, 0, len(d.Categories))
	for name := range d.Categories {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		c := d.Categories[name]
		fmt.Fprintf(h, "category %q commitment=%+v followup=%+v grace=%+v auto-resolve=%+v ladder=",
			name, c.Commitment, c.Followup, c.Grace, c.AutoResolve)
		for _, s := range c.Escalate {
			fmt.Fprintf(h, "[at=%v before-due=%d]", s.At, s.BeforeDue)
		}
		fmt.Fprintln(h)
	}
	return hex.EncodeToString(h.Sum(nil))
}
