package calendar

import (
	"os"
	"regexp"
	"slices"
	"testing"
)

// TestPublicHolidaySets checks that PublicHolidaySets and the switch in
// publicHolidayList name the same codes: a set added to one only would be
// accepted but not listed in errors, or listed but refused.
func TestPublicHolidaySets(t *testing.T) {
	src, err := os.ReadFile("holidays_public.go")
	if err != nil {
		t.Fatal(err)
	}
	var cases []string
	for _, m := range regexp.MustCompile(`(?m)^\tcase "([A-Z-]+)":`).FindAllSubmatch(src, -1) {
		cases = append(cases, string(m[1]))
	}
	slices.Sort(cases)
	listed := PublicHolidaySets()
	if !slices.Equal(cases, listed) {
		t.Errorf("publicHolidayList has %d codes, PublicHolidaySets %d; they differ:\nswitch: %v\nlisted: %v", len(cases), len(listed), cases, listed)
	}
	for _, code := range listed {
		if _, ok := publicHolidayList(code); !ok {
			t.Errorf("PublicHolidaySets lists %q, which publicHolidayList does not know", code)
		}
	}
}
