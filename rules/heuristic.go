package rules

import (
	"strings"

	"github.com/ackd/ackd/internal/mailtext"
)

// Content heuristics catch robots that send none of the header signals
// loop protection looks for. They are deliberately narrow: a false positive
// means a coworker gets no receipt, so every pattern is anchored at the
// start of the subject or needs a marker no person types. A subject that
// starts with a forward or reply prefix never counts, because people
// forward bounces and auto-replies to the help desk as requests.

// autoSubject matches auto-reply subjects and list managers' refusals at
// the start, after any "[tag]" a ticket system or list put in front. Like
// every subject check it tolerates accented letters a server replaced
// (eightBitTolerant: "RXponse automatique :").
var autoSubject = mustRx(eightBitTolerant(`(?i)^\s*(?:\[[^\]]{0,80}\]\s*)*(` +
	// auto-replies: Outlook, Exchange, RT, Apple, localized Outlook
	`auto(?:matic|matische)?[ -]?(?:reply|response|antwort)\s*:|auto\s*:|` +
	`out of (?:the )?office(?: auto[ -]?reply| reply)?\s*:|abwesenheitsnotiz\s*:|` +
	`abwesend\s*:|r[ée]ponse automatique\s*:|absence\s*:|risposta automatica\s*:|` +
	`respuesta autom[áa]tica\s*:|automatisch antwoord\s*:|otomatik yan[ıi]t\s*:|` +
	// localized Outlook: Portuguese, Nordic, Finnish, Polish, Czech, Hungarian
	`resposta autom[áa]tica\s*:|automatiskt? svar\s*:|autosvar\s*:|automaattinen vastaus\s*:|` +
	`odpowied[źz] automatyczna\s*:|automatyczna odpowied[źz]\s*:|automatick[áa] odpov[ěe][ďd]\s*:|automatikus v[áa]lasz\s*:|` +
	`自動応答\s*[:：]|自动回复\s*[:：]|自動回覆\s*[:：]|` +
	// (bounce subjects are in headerless.go: they count only together
	// with a sign that a machine wrote the mail)
	// list managers refusing or holding a post (mlmmj, Mailman)
	`post to \S+@\S+ denied|your message to \S+ awaits moderator approval|` +
	// Hotmail/Outlook.com JMRP complaints
	`complaint about message from \d{1,3}(?:\.\d{1,3}){3})`))

// ackSubject matches another help desk's receipt: "[REQ-12] received",
// "Ticket #4711 received", "Your request #12 has been received".
var ackSubject = mustRx(eightBitTolerant(`(?i)` +
	`^\s*\[[^\]]*(?:#\s*|[a-z]+-)\d+\]\s*` +
	`(?:your\s+|ihre\s+|votre\s+)?(?:request|ticket|message|case|e-?mail|anfrage|nachricht|demande)?\s*` +
	`(?:has been|was|is|wurde|ist|a été)?\s*(?:received|acknowledged|eingegangen|erhalten|re[çc]ue?)\b|` +
	`^\s*(?:your\s+)?(?:ticket|request|case|incident|anfrage|demande)\s*(?:#|no\.?|nr\.?)?\s*[a-z]*-?\d+\s+` +
	`(?:has been\s+|was\s+|wurde\s+)?(?:received|created|opened|logged|eingegangen|erstellt)\b`))

// snsNotification matches Amazon SES/SNS JSON notifications, raw or
// escaped inside an SNS envelope's "Message" string.
var snsNotification = mustRx(`\\?"notificationType\\?"\s*:\s*\\?"(Bounce|Complaint|Delivery)\\?"`)

// bounceBody matches the first lines of MTA bounce texts sent without a
// delivery-status part. Only consulted when the subject is not a forward.
var bounceBody = mustRx(`(?i)` +
	`this is the mail system at host|` +
	`this message was created automatically by mail delivery software|` +
	`i'm sorry to have to inform you that your message could not|` +
	`delivery to the following recipients? failed permanently|` +
	`your message (?:could not be|wasn't|was not) delivered to .{0,80}because|` +
	`the following addresses? had permanent fatal errors|` +
	`this is the qmail-send program at`)

// heuristic returns the first content signal of a robot, if any.
func heuristic(m *Message) (refusal, bool) { return heuristicView(newView(m)) }

// heuristicText is the part of the body heuristics look at: robots say
// what they are at the top.
func heuristicText(m *Message) string {
	t := m.Text
	if len(t) > 4<<10 {
		t = t[:4<<10]
	}
	return t
}

func heuristicView(v *view) (refusal, bool) {
	m := v.m
	subj := strings.TrimSpace(m.Subject)
	forwarded := mailtext.HasReplyPrefix(subj)
	if !forwarded {
		var low lazyLower
		if autoSubject.maybe(subj, &low) {
			if s := autoSubject.re.FindStringSubmatch(subj); s != nil {
				return refusal{RefuseHeuristic, "subject starts like a machine reply: " + quoteSignal(s[1])}, true
			}
		}
		if s := ackSubject.re.FindString(subj); s != "" {
			return refusal{RefuseHeuristic, "subject is another help desk's receipt: " + quoteSignal(s)}, true
		}
	}
	for _, h := range []string{"X-Amz-Sns-Message-Id", "X-Failed-Recipients", "X-Rt-Loop-Prevention", "X-Otrs-Loop"} {
		if m.Has(h) {
			if h == "X-Otrs-Loop" && firstToken(m.Get(h)) == "no" {
				continue
			}
			return refusal{RefuseHeuristic, h + " present"}, true
		}
	}
	text := heuristicText(m)
	if snsNotification.maybe(text, &v.textLow) {
		if s := snsNotification.re.FindStringSubmatch(text); s != nil {
			return refusal{RefuseHeuristic, "body is an Amazon SES " + s[1] + " notification"}, true
		}
	}
	if forwarded {
		return refusal{}, false
	}
	// The body checks read only what the sender wrote above anything it
	// forwards or quotes: a coworker who pastes a bounce below "----------
	// Forwarded message ---------" is asking for help, not bouncing.
	own := ownText(text)
	var ownLow lazyLower
	if bounceBody.maybe(own, &ownLow) {
		if s := bounceBody.re.FindString(own); s != "" {
			return refusal{RefuseHeuristic, "body reads like a bounce: " + quoteSignal(s)}, true
		}
	}
	return headerlessRobot(m, subj, own)
}

func quoteSignal(s string) string { return `"` + oneLine(s) + `"` }
