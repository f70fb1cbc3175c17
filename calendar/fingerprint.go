package calendar

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
)

// Fingerprint is a digest of everything the calendar's arithmetic depends
// on: the time zone's name, the workdays, the working hours and every
// closed day (explicit holidays and the public set). Two calendars with
// the same fingerprint compute the same due times; a changed holiday list
// or working hours give another one. The time zone is taken by name: new
// tzdata rules for the same name do not change it.
func (c *Calendar) Fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "calendar/1 tz=%s days=%v spans=%v\n", c.Location(), c.workday, c.spans)
	if hs := c.hol; hs != nil {
		explicit := make([]Date, 0, len(hs.explicit))
		for d := range hs.explicit {
			explicit = append(explicit, d)
		}
		slices.SortFunc(explicit, func(a, b Date) int { return a.noon().Compare(b.noon()) })
		fmt.Fprintf(h, "holidays=%v public=", explicit)
		for _, p := range hs.public {
			fmt.Fprintf(h, "%q,", p.Name)
		}
		var b []byte
		for _, y := range hs.years {
			for _, w := range y {
				b = binary.LittleEndian.AppendUint64(b, w)
			}
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
