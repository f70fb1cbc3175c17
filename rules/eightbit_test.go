package rules

import (
	"regexp"
	"testing"
)

// TestSubjectWithServerSubstitutes: a header-less auto-reply whose raw
// 8-bit subject the server rewrote (Cyrus: "X" per byte; others "?" or
// U+FFFD) is still recognised, and people's subjects that look alike are
// not.
func TestSubjectWithServerSubstitutes(t *testing.T) {
	d := testDept(t)
	tests := []struct {
		subject, from string
		refusal       Refusal // "" for a person who gets a receipt
	}{
		// What Cyrus delivered in issue 14, and the byte-per-X form.
		{"RXponse automatique : Absent du bureau", "", RefuseHeuristic},
		{"RXXponse automatique : Absent du bureau", "", RefuseHeuristic},
		{"R?ponse automatique : Absent du bureau", "", RefuseHeuristic},
		{"R??ponse automatique : Absent", "", RefuseHeuristic},
		{"R\uFFFD\uFFFDponse automatique : Absent", "", RefuseHeuristic},
		{"[EXT] RXponse automatique : Absent", "", RefuseHeuristic},
		{"Respuesta automXtica: Fuera de la oficina", "", RefuseHeuristic},
		{"Otomatik yanXXt: izindeyim", "", RefuseHeuristic},
		{"Resposta autom??tica: f\uFFFDrias", "", RefuseHeuristic},
		{"Automatick\uFFFD odpov\uFFFD\uFFFD: dovolen\u00e1", "", RefuseHeuristic},
		{"Automatyczna odpowiedX: urlop", "", RefuseHeuristic},
		// Intact accents still count, and so do the plain ASCII phrases.
		{"Réponse automatique : Absent", "", RefuseHeuristic},
		{"Abwesenheitsnotiz: Urlaub bis 12.3.", "", RefuseHeuristic},
		{"Automatisk svar: semester", "", RefuseHeuristic},
		// As with intact accents, a person who starts the subject with
		// the auto-reply's exact words and colon gets no receipt.
		{"R?ponse automatique : comment la configurer ?", "", RefuseHeuristic},
		// A delivery failure in the subject, from an Exchange system address.
		{"XXchec de la remise : Imprimante", "MicrosoftExchange329e71ec@example.test", RefuseBounceText},
		{"Benachrichtigung ??ber den Zustellstatus (Fehler)", "MicrosoftExchange329e71ec@example.test", RefuseBounceText},
		// People.
		{"RXponse automatique ne marche plus dans Outlook", "", ""},
		{"Re: RXponse automatique : Absent du bureau", "", ""},
		{"RX: imprimante en panne", "", ""},
		{"Xbox controller: need one for the demo", "", ""},
		{"???: Zugang zum Laufwerk", "", ""},
		{"XXXXXXXXXXXX: XXXXXXXXX", "", ""}, // a Chinese subject, substituted
		{"????: ??????", "", ""},
		{"Abwesenheitsnotiz einrichten?", "", ""},
		{"XXchec de la remise : Imprimante", "", ""}, // failure words without a machine sign
		{"Antwort zu Ihrer Frage: XXberstunden", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.subject, func(t *testing.T) {
			m := person()
			m.Subject = tc.subject
			if tc.from != "" {
				m.From = Address{Address: tc.from}
				m.ReturnPath = tc.from
				m.Header["Return-Path"] = []string{"<" + tc.from + ">"}
				d.AllowedSenders = append(d.AllowedSenders, tc.from)
			}
			got := decide(d, m, arrival)
			if got.Refusal != tc.refusal || (tc.refusal == "") != got.Reply {
				t.Errorf("Decide = reply %v, refusal %q (%s); want refusal %q", got.Reply, got.Refusal, got.Reason, tc.refusal)
			}
		})
	}
}

// TestEightBitTolerant: only non-ASCII letters of literals and small
// classes gain substitutes; broad classes and CJK stay as they are.
func TestEightBitTolerant(t *testing.T) {
	tests := []struct {
		src         string
		match, miss []string
	}{
		{`(?i)^r[ée]ponse automatique\s*:`, []string{"RXponse automatique :", "r?ponse automatique:", "Réponse automatique :", "RÉponse automatique :"},
			[]string{"RXXXponse automatique :", "Rxponse automatique :", "Response automatique :"}},
		{`^échec`, []string{"échec", "Xchec", "XXchec", "\uFFFDchec"}, []string{"XXXchec", "echec"}},
		{`^自動応答\s*[:：]`, []string{"自動応答:"}, []string{"XXXXXXXXXXXX:", "????:"}},
		{`^\[[^\]]{0,3}\]x`, []string{"[ab]x", "[é]x"}, []string{"[abcd]x"}},
	}
	for _, tc := range tests {
		re := regexp.MustCompile(eightBitTolerant(tc.src))
		for _, s := range tc.match {
			if !re.MatchString(s) {
				t.Errorf("%s (%s) does not match %q", tc.src, re, s)
			}
		}
		for _, s := range tc.miss {
			if re.MatchString(s) {
				t.Errorf("%s (%s) matches %q", tc.src, re, s)
			}
		}
	}
}
