package rules

import (
	"strings"
	"unicode"
)

// signOffWords are the words of greetings and sign-offs staff write around
// their commands ("Thanks,", "Kind regards", "Sent from my iPhone"), in the
// languages the heuristics know.
var signOffWords = wordSet(`hi hello hallo hey dear all team thanks thank you thx ty cheers
	regards best kind warm warmest many kindest sincerely yours br kr rgds greetings wishes
	mfg lg vg gruss gruß grüße gruesse grüßen viele liebe beste besten freundliche freundlichen
	cordialement salutations merci bien saludos gracias grazie saluti
	sent from my iphone ipad android mobile phone device outlook for ios get mail
	tel fax ext office`)

func wordSet(words string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.Fields(words) {
		set[w] = true
	}
	return set
}

// SignOffOnly says whether text, what is left of a staff mail once its
// commands and quotes are gone, holds nothing for the requester: only
// greetings, sign-off words, the names given (the sender's name and
// address, the department's name) and phone numbers. Such a remainder is
// never relayed: a mail of "#done" and a signature reaches nobody.
// An empty text is a sign-off too.
func SignOffOnly(text string, names ...string) bool {
	own := map[string]bool{}
	for _, n := range names {
		for _, w := range signOffTokens(n) {
			own[w] = true
		}
	}
	for _, w := range signOffTokens(text) {
		if signOffWords[w] || own[w] || isPhoneToken(w) {
			continue
		}
		return false
	}
	return true
}

// signOffTokens splits text into lower-case words: letters and digits,
// with addresses and names split at '.', '_', '-', '@' and '+'.
func signOffTokens(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r))
	})
}

// isPhoneToken: a run of digits, as in "+49 30 1234-567".
func isPhoneToken(w string) bool {
	return strings.Trim(w, "0123456789") == ""
}
