package rules

import "strings"

// AutoReply says whether m is a machine's reply (an out-of-office or
// vacation notice, an autoresponder) and why: Auto-Submitted other than
// "no", a vendor auto-reply header, Precedence auto_reply, or a subject
// that starts like one ("Automatic reply:", "Out of Office:"). Decide
// refuses such mail before anything else; the processor asks this of mail
// on a known thread too, where a staff member's out-of-office must never
// count as an answer nor be relayed to the requester, whatever else the
// mail looks like (sent from the shared account, or read from its Sent
// mailbox, where Decide does not look).
func AutoReply(m *Message) (string, bool) {
	for _, v := range m.Values("Auto-Submitted") {
		if tok := firstToken(v); tok != "no" {
			return "Auto-Submitted: " + oneLine(v), true
		}
	}
	for _, h := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Autoreply-From", "X-Mail-Autoreply"} {
		if m.Has(h) {
			return h + " present", true
		}
	}
	for _, v := range m.Values("Precedence") {
		switch firstToken(v) {
		case "auto_reply", "auto-reply":
			return "Precedence: " + oneLine(v), true
		}
	}
	subj := strings.TrimSpace(m.Subject)
	var low lazyLower
	if autoSubject.maybe(subj, &low) {
		if s := autoSubject.re.FindStringSubmatch(subj); s != nil {
			return "subject starts like a machine reply: " + quoteSignal(s[1]), true
		}
	}
	return "", false
}
