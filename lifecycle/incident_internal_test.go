package lifecycle

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// alikeByMaps is Alike's subject comparison as it was first written, on
// word maps: the reference alikeWords must agree with.
func alikeByMaps(aSubject, bSubject string) bool {
	a, b := subjectWords(aSubject), subjectWords(bSubject)
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	aNums, bNums, common, commonNums := 0, 0, 0, 0
	for w := range a {
		if isNumber(w) {
			aNums++
		}
		if b[w] {
			common++
			if isNumber(w) {
				commonNums++
			}
		}
	}
	for w := range b {
		if isNumber(w) {
			bNums++
		}
	}
	if aNums > 0 && bNums > 0 && commonNums == 0 {
		return false
	}
	longer := max(len(a), len(b))
	if longer == 1 {
		return common == 1
	}
	return common >= 2 && 2*common >= longer
}

// randomSubject draws a subject from a small vocabulary, so that pairs
// share words often, with numbers, stop words, reply prefixes and tags.
func randomSubject(rng *rand.Rand) string {
	vocab := []string{"printer", "Printer", "jams", "floor", "3", "2", "the", "on", "VPN", "vpn", "slow", "mail",
		"server", "down", "password", "reset", "7", "8", "Re:", "[REQ-4]", "again", "outlook", "cannot", "connect", "Drucker"}
	n := rng.IntN(6)
	words := make([]string, n)
	for i := range words {
		words[i] = vocab[rng.IntN(len(vocab))]
	}
	return strings.Join(words, " ")
}

func TestAlikeWordsAsMaps(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	subjects := &Subjects{}
	for range 20000 {
		a, b := randomSubject(rng), randomSubject(rng)
		want := alikeByMaps(a, b)
		if got := alikeWords(newWordSet(a), newWordSet(b)); got != want {
			t.Fatalf("alikeWords(%q, %q) = %v, the maps say %v", a, b, got, want)
		}
		if got := subjects.AlikeTo("", a)("", b); got != want {
			t.Fatalf("Subjects.AlikeTo(%q)(%q) = %v, the maps say %v", a, b, got, want)
		}
	}
}

// BenchmarkBurstCompare is one burst check's comparisons: a new request
// against 200 recent ones of other rules, the words remembered.
func BenchmarkBurstCompare(b *testing.B) {
	rng := rand.New(rand.NewPCG(5, 6))
	recent := make([]string, 200)
	for i := range recent {
		recent[i] = fmt.Sprintf("%s %s", randomSubject(rng), randomSubject(rng))
	}
	subjects := &Subjects{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		alike := subjects.AlikeTo("printer", recent[i%len(recent)])
		for _, s := range recent {
			alike("vpn", s)
		}
	}
}
