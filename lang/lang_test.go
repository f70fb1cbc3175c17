package lang

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

func TestChoose(t *testing.T) {
	all := Builtin()
	for _, tc := range []struct {
		name, rule string
		header     []string
		text       string
		available  []string
		fallback   string
		want       string
		source     Source
	}{
		{"rule wins", "fr", []string{"de"}, "Der Drucker im dritten Stock druckt nicht", all, "en", "fr", FromRule},
		{"header", "", []string{"de-DE"}, "Printer on the third floor keeps jamming", all, "en", "de", FromHeader},
		{"header case and spaces", "", []string{" NL "}, "", all, "en", "nl", FromHeader},
		{"several header languages", "", []string{"de, fr"}, "Der Drucker im dritten Stock druckt nicht", all, "en", "en", FromFallback},
		{"header without templates falls to text", "", []string{"pt-BR"}, "Der Drucker im dritten Stock druckt nicht mehr, es kommt nur noch Papierstau", all, "en", "de", FromText},
		{"broken header falls to text", "", []string{"??"}, "Der Drucker im dritten Stock druckt nicht mehr, es kommt nur noch Papierstau", all, "en", "de", FromText},
		{"german text", "", nil, "Drucker im 3. OG druckt nicht\nHallo, seit heute Morgen kommt nur noch Papierstau.", all, "en", "de", FromText},
		{"too short", "", nil, "Hallo!", all, "en", "en", FromFallback},
		{"unsure", "", nil, "Heating in room 2.14 is broken again", all, "de", "de", FromFallback},
		{"short English is not French", "", nil, "Printer 1 jams\nPaper jam again.", all, "en", "en", FromFallback},
		{"only one language", "", nil, "Der Drucker im dritten Stock druckt nicht", []string{"en"}, "en", "en", FromFallback},
		{"detected language not available", "", nil, "Der Drucker im dritten Stock druckt nicht mehr", []string{"en", "fr"}, "en", "en", FromFallback},
		// Only the opening is read: a German request above a long quoted
		// English thread is German.
		{"the opening decides", "", nil, "Hallo, der Drucker im dritten Stock druckt seit heute Morgen nicht mehr, es kommt nur noch Papierstau. Könnten Sie bitte jemanden vorbeischicken? Vielen Dank und freundliche Grüße\n\n" +
			strings.Repeat("> On Monday the printer on the third floor was serviced and the paper tray was replaced by the vendor.\n", 200), all, "en", "de", FromText},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Choose(tc.rule, tc.header, tc.text, tc.available, tc.fallback)
			if c.Tag != tc.want || c.Source != tc.source || c.Reason == "" {
				t.Errorf("Choose = %+v, want %s from %d", c, tc.want, tc.source)
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{"de": "de", "de-AT": "de", "EN_gb": "en", "nl-BE": "nl", "xx-invalid-": "", "": ""} {
		got, ok := Normalize(in)
		if got != want || ok != (want != "") {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// TestAccuracy measures detection on the labelled short requests in
// testdata/requests.tsv (see its header for source and licence). The
// README quotes the figures; the floor keeps a library update from
// quietly making receipts worse.
func TestAccuracy(t *testing.T) {
	f, err := os.Open("testdata/requests.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n, right, wrong, unsure int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		want, text, ok := strings.Cut(l, "\t")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		n++
		// The fallback is a language none of the texts is in, so that a
		// fallback is never counted as a right guess.
		c := Choose("", nil, text, Builtin(), "xx")
		switch {
		case c.Source == FromFallback:
			unsure++
		case c.Tag == want:
			right++
		default:
			wrong++
			t.Logf("wrong: %s read as %s: %s (%s)", want, c.Tag, text, c.Reason)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d requests: %d right, %d wrong, %d unsure (department's language)", n, right, wrong, unsure)
	if n < 100 || right < 80 || wrong > 2 {
		t.Errorf("accuracy fell: %d of %d right, %d wrong", right, n, wrong)
	}
}
