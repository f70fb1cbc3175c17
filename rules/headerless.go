package rules

import (
	"strings"
)

// Robots without headers: bounces sent as plain multipart/mixed and list
// managers' loop and moderation notices carry none of the header signals
// loop protection reads. Their words alone prove nothing: a coworker
// writes "my mail came back undeliverable, can you help?" and must get a
// receipt. So a message is refused here only when it says what it is and
// shows it is machine-made, both at once:
//
//   - it says so: the subject starts with delivery-failure (or list-notice)
//     text, or one of the first lines the sender wrote does;
//   - it is machine-made: the sender is a role account (robotSender), or
//     its own text states it was generated automatically, or quotes the
//     original's raw header block, or (for a failure stated in the body)
//     the original comes back attached as message/rfc822 or
//     text/rfc822-headers.
//
// Forwards and replies never count (heuristicView returns before), and
// only the text above anything forwarded or quoted is read (ownText).

// subjectLead and lineLead are what may stand before the statement at the
// start of the subject (ticket or list tags) or of a body line (banners
// such as "*** " or "** ").
const (
	subjectLead = `(?i)^\s*(?:\[[^\]]{0,80}\]\s*)*`
	lineLead    = `(?i)^[ \t*#!=~_-]*`
)

// msgNoun lets "Message undeliverable", "Nachricht nicht zustellbar" or
// "Mensaje no entregado" match like the bare phrase.
const msgNoun = `(?:(?:your|the|ihre|die|votre|le|su|el|il|uw|het|a|sua|ditt)\s+)?` +
	`(?:e-?mail|mail|message|nachricht|courriel|mensaje|correo|messaggio|bericht|mensagem|meddelandet|meddelande)\s*[:-]?\s*`

// failurePhrases are how mail systems announce that a message was not
// delivered, in the languages the help desks here receive mail in.
const failurePhrases = `(?:` +
	// English
	`undeliverable|undelivered|non-?delivery|nondeliverable|not delivered\b|` +
	`delivery (?:status notification|failure|failed|has failed|problem|delayed|notification|incomplete)|` +
	`(?:mail|message|e-?mail) delivery (?:failure|failed|problem|error)|mail system error|` +
	`returned mail|returning message to sender|failure notice|failed delivery|failure delivery|delayed mail|` +
	`delivery report|warning\s*[:-]+\s*could not send (?:message|mail)|there was an error sending your (?:mail|message)|` +
	`sorry,? your message (?:could not|couldn't|was not|wasn't) (?:be )?delivered|` +
	`could ?n[o']t (?:be )?deliver|(?:a |the )?message (?:that )?you sent (?:could not|couldn't|was not|wasn't|has not been) (?:be )?delivered|` +
	`(?:your |the )?message (?:to .{1,100}? )?(?:could not|couldn't|cannot|can't|was not|wasn't|has not been|did not|didn't) (?:be )?(?:delivered|reach)|` +
	// German
	`unzustellbar|nicht zustellbar|nicht zugestellt|` +
	`(?:ihre |die )?nachricht (?:an .{1,100}? )?konnte nicht zugestellt werden|` +
	`zustellung (?:ist )?(?:fehlgeschlagen|gescheitert)|fehler bei der (?:nachrichten)?zustellung|` +
	`benachrichtigung über den zustellstatus|` +
	// French
	`non remis|non distribuable|non délivré|non transmis|` +
	`(?:votre )?message n['’]a pas pu être (?:remis|distribué|délivré|transmis)|` +
	`échec de (?:la )?(?:remise|distribution|livraison|transmission)|` +
	`notification d['’]état de (?:la )?(?:remise|distribution)|impossible de (?:remettre|distribuer)|` +
	// Spanish
	`no se (?:puede|pudo|ha podido) entregar|no entregad[oa]|no se entregó|` +
	`(?:su |el )?mensaje no (?:pudo ser|ha podido ser|fue|se ha) entregado|` +
	`(?:error|fallo) (?:en la|de) entrega|notificación de estado de (?:la )?entrega|` +
	// Italian
	`non recapitabile|non recapitato|impossibile recapitare|mancato recapito|` +
	`(?:il )?messaggio non (?:è stato|e' stato|può essere) recapitato|` +
	`(?:consegna|recapito) non riuscit[oa]|notifica dello stato di consegna|` +
	// Dutch
	`onbestelbaar|niet bezorgd|niet afgeleverd|kan niet worden bezorgd|kon niet worden (?:bezorgd|afgeleverd)|` +
	`bezorging (?:is )?mislukt|melding van bezorgstatus|` +
	// Portuguese
	`não (?:foi|é) possível entregar|não (?:pôde ser |foi )?entregue|impossível entregar|` +
	`falha (?:na|de) entrega|notificação de status de entrega|` +
	// Swedish
	`olevererbar[t]?|kunde inte levereras|(?:ej|inte) levererat|leveransen misslyckades|` +
	`leveransfel|det gick inte att leverera` +
	`)`

// listNoticePhrases are list managers' loop alerts and moderation notices.
const listNoticePhrases = `(?:` +
	`loop alert|(?:possible |suspected )?(?:mail |message )?loop (?:detected|alert|warning)|` +
	`(?:looping|looped) (?:message|mail)|` +
	`your (?:message|mail|post(?:ing)?) (?:to .{1,100}? )?(?:awaits|is awaiting|requires|needs|has been held|` +
	`is being held|was held|is held|has been rejected|was rejected|has been forwarded to)|` +
	`(?:message|post(?:ing)?|mail) (?:held|awaiting moderation|awaiting approval|requires approval)|` +
	`held for (?:moderation|moderator|approval)|moderat(?:ion|or) (?:request|notice|approval)|` +
	`(?:post(?:ing)?|request|message) to (?:mailing list )?\S+ (?:requires approval|rejected|denied|held)|` +
	`you are not (?:allowed|authori[sz]ed|permitted) to post|non-?member (?:submission|post)|` +
	`auto-?discard notification|bounce action notification|uncaught bounce notification|` +
	`ihre nachricht an .{1,100}? wartet auf|wartet auf (?:die )?freigabe|` +
	`en attente de modération` +
	`)`

// statementSubject and statementLine find a delivery failure (group 1)
// or a list notice (group 2) at the start of the subject or of a line;
// the subject's accented letters may have been replaced by the server
// (eightBitTolerant), the body's are intact.
var (
	statementSubject = mustRx(eightBitTolerant(subjectLead + `(?:((?:` + msgNoun + `)?` + failurePhrases + `)|(` + listNoticePhrases + `))`))
	statementLine    = mustRx(lineLead + `(?:((?:` + msgNoun + `)?` + failurePhrases + `)|(` + listNoticePhrases + `))`)
)

// automatedStatement is a sender saying its mail was generated by
// software, in the same languages.
var automatedStatement = mustRx(`(?i)(` +
	`this is an? (?:automatically generated|automated|auto-generated|automatic)|` +
	`this (?:message|e-?mail|notification) (?:is|was|has been) (?:automatically (?:generated|created|sent)|created automatically|generated automatically|sent automatically)|` +
	`(?:automatically generated|auto-generated) (?:message|notification|delivery status notification|e-?mail|notice)|` +
	`(?:diese|dies ist eine) (?:nachricht|e-?mail|mail|benachrichtigung) (?:wurde )?automatisch (?:erstellt|generiert|erzeugt|versandt|versendet)|` +
	`automatisch (?:erstellte|generierte|erzeugte|versandte) (?:nachricht|e-?mail|benachrichtigung)|` +
	`(?:ce message|ceci est un message|ce courriel) (?:a été |est )?(?:généré|créé|envoyé) automatiquement|message (?:généré|créé|envoyé) automatiquement|` +
	`(?:mensaje|correo|notificación) (?:generad[oa]|cread[oa]|enviad[oa]) automáticamente|` +
	`messaggio (?:generato|creato|inviato) automaticamente|questo è un messaggio automatico|` +
	`automatisch (?:gegenereerd|verzonden|aangemaakt) bericht|dit bericht is automatisch|` +
	`mensagem (?:gerada|criada|enviada) automaticamente|` +
	`automatiskt (?:genererat|skapat|skickat) meddelande|detta meddelande (?:har )?(?:skapats|genererats|skickats) automatiskt` +
	`)`)

// leadLines is how many non-empty lines of the sender's own text may carry
// the statement: robots say what they are at the top.
const leadLines = 8

// headerlessRobot is the combined check described above. subj is the
// trimmed subject, own the sender's own text (ownText).
func headerlessRobot(m *Message, subj, own string) (refusal, bool) {
	st := findStatements(subj, firstLines(own, leadLines))
	if st.failure != "" {
		sign := machineSign(m, own, st.failureInBody)
		if who := robotSender(m, false); who != "" {
			sign = "from " + who
		}
		if sign != "" {
			return refusal{RefuseBounceText, "delivery-failure text " + quoteSignal(st.failure) + " " + sign}, true
		}
	}
	if st.notice != "" {
		sign := machineSign(m, own, st.noticeInBody)
		if who := robotSender(m, true); who != "" {
			sign = "from " + who
		}
		if sign != "" {
			return refusal{RefuseListNotice, "list manager notice " + quoteSignal(st.notice) + " " + sign}, true
		}
	}
	return refusal{}, false
}

// statements are the phrases found at the start of the subject or of a
// lead line, the subject's first; the InBody fields say a lead line has
// one.
type statements struct {
	failure, notice             string
	failureInBody, noticeInBody bool
}

// findStatements runs one anchored match per line: the engine gives up at
// the first characters instead of trying every position of a multi-line
// text.
func findStatements(subj string, lead []string) statements {
	var st statements
	for _, line := range lead {
		if s := statementLine.re.FindStringSubmatch(line); s != nil {
			if s[1] != "" && !st.failureInBody {
				st.failure, st.failureInBody = strings.TrimSpace(s[1]), true
			}
			if s[2] != "" && !st.noticeInBody {
				st.notice, st.noticeInBody = strings.TrimSpace(s[2]), true
			}
		}
	}
	if s := statementSubject.re.FindStringSubmatch(subj); s != nil {
		if s[1] != "" {
			st.failure = s[1]
		}
		if s[2] != "" {
			st.notice = s[2]
		}
	}
	return st
}

// machineSign names the structural sign that software wrote the message,
// or "". An attached original only counts when the statement is in the
// body too: a coworker attaches the bounce they got and writes their own
// subject, a robot states the failure in its text.
func machineSign(m *Message, own string, statedInBody bool) string {
	if s := automatedStatement.re.FindStringSubmatch(own); s != nil {
		return "with the statement " + quoteSignal(s[1])
	}
	if rawHeaderBlock(own) {
		return "quoting the original's header block"
	}
	if statedInBody && m.HasAttachedMessage {
		return "with the original attached"
	}
	return ""
}

// robotSender describes the first of From, Sender and Return-Path that a
// role account uses, or "". Beyond the system senders loop protection
// refuses on their own, it knows addresses that are robots only together
// with what they say: mail-system accounts ("mailer", "mail-admin",
// Exchange's MicrosoftExchange<hex>), a display name like "Mail Delivery
// System", and with list the addresses list managers send notices from
// (staff-admin@, staff-moderator@, mailman@, sympa@), which are too often
// a team's own for delivery-failure text.
func robotSender(m *Message, list bool) string {
	type cand struct{ field, addr string }
	cands := []cand{{"From", m.From.Address}}
	if m.Sender != nil {
		cands = append(cands, cand{"Sender", m.Sender.Address})
	}
	if m.HasReturnPath {
		cands = append(cands, cand{"Return-Path", m.ReturnPath})
	}
	for _, c := range cands {
		kind := authorLocalPart(c.addr)
		if kind == "" {
			kind = mailSystemLocalPart(c.addr)
		}
		if kind == "" && list {
			kind = listManagerLocalPart(c.addr)
		}
		if kind != "" {
			return c.field + " " + quoteAddr(c.addr) + " (" + kind + ")"
		}
	}
	if robotName(m.From.Name) {
		return "From name " + quoteSignal(m.From.Name)
	}
	return ""
}

// mailSystemLocalPart names mail-system role accounts that also stand for
// people's shared mailboxes now and then, so they count only together with
// delivery-failure text.
func mailSystemLocalPart(addr string) string {
	lp := splitLocal(addr)
	w := lp.words
	switch {
	case len(w) == 0:
		return ""
	case strings.HasPrefix(lp.base, "microsoftexchange"):
		return "Exchange system address"
	case hasRole(w, "mailer", "daemon", "mailadmin", "mailsystem", "maildelivery", "mailgateway", "mailgw", "mta"):
		return "mail system address"
	}
	// Not "facility-admin@": "Delivery report: chairs arrived" is a person.
	return ""
}

// listManagerLocalPart names the addresses list managers send notices
// from.
func listManagerLocalPart(addr string) string {
	lp := splitLocal(addr)
	w := lp.words
	switch {
	case len(w) == 0:
		return ""
	case len(w) > 1 && oneOf(w[len(w)-1], "admin", "owner", "owners", "moderator", "moderators", "editor", "approval", "bounces", "request"):
		return "list " + w[len(w)-1] + " address"
	case oneOf(lp.tag, "admin", "owner", "moderator", "bounces", "request"):
		return "list " + lp.tag + " address"
	case len(w) == 1 && oneOf(w[0], "mailman", "sympa", "listmaster", "ezmlm", "lyris", "listadmin", "listserver"):
		return "list manager address"
	}
	return ""
}

// robotName matches the display names MTAs sign bounces with.
func robotName(name string) bool {
	n := strings.Join(strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return r == ' ' || r == '-' || r == '_' || r == '.' || r == '"' || r == '\''
	}), " ")
	switch n {
	case "mail delivery system", "mail delivery subsystem", "mail delivery service", "mail delivery",
		"mail administrator", "mail system", "mailer daemon", "postmaster", "microsoft outlook",
		"microsoft exchange", "system administrator", "mail delivery subsystem postmaster":
		return true
	}
	return false
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// rawHeaderNames are fields only a raw header block has; a person's
// forwarded-message header ("From:/Sent:/To:/Subject:") has none of them.
var rawHeaderNames = []string{"received", "return-path", "message-id", "mime-version", "content-type",
	"dkim-signature", "authentication-results", "delivered-to", "x-mailer", "x-originating-ip", "arc-seal"}

// rawHeaderBlock reports whether text contains a quoted header block as
// robots return it: three or more header fields in a row (folded
// continuation lines allowed), one of them a field only raw headers have.
func rawHeaderBlock(text string) bool {
	run, raw := 0, false
	for _, line := range strings.Split(text, "\n") {
		name, ok := headerFieldName(strings.TrimLeft(line, " \t"))
		if !ok {
			if run > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) && strings.TrimSpace(line) != "" {
				continue // a folded continuation
			}
			run, raw = 0, false
			continue
		}
		run++
		raw = raw || oneOf(name, rawHeaderNames...)
		if run >= 3 && raw {
			return true
		}
	}
	return false
}

// headerFieldName returns the lower-case name of a "Name: value" line.
func headerFieldName(line string) (string, bool) {
	colon := strings.IndexByte(line, ':')
	if colon < 2 || colon > 40 || colon+1 < len(line) && line[colon+1] != ' ' && line[colon+1] != '\t' {
		return "", false
	}
	for i := 0; i < colon; i++ {
		c := line[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return "", false
		}
	}
	return strings.ToLower(line[:colon]), true
}

// ownText is the part of a body the sender wrote: it stops at a signature
// separator, a forwarded or original-message separator, "Begin forwarded
// message:" or an Outlook header block with "Sent:", and leaves out
// ">"-quoted lines and reply attributions. Unlike StripQuoted it does not
// stop at a "From:"/"Date:" pair, because that is how the raw header block
// a bounce quotes begins.
func ownText(text string) string {
	lines := strings.Split(text, "\n")
	out := make([]string, 0, len(lines))
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSuffix(lines[i], "\r")
		t := strings.TrimSpace(line)
		if line == "-- " || isOutlookSeparator(line) || hasPrefixFold(t, "begin forwarded message") || outlookSentBlock(lines, i) {
			break
		}
		if strings.HasPrefix(t, ">") {
			continue
		}
		if n := attribution(lines, i); n > 0 {
			i += n - 1
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// outlookSentBlock is isOutlookHeader narrowed to the "Sent:" fields only a
// mail client writes.
func outlookSentBlock(lines []string, i int) bool {
	if !isOutlookHeader(lines, i) {
		return false
	}
	for j := i + 1; j < len(lines) && j <= i+3; j++ {
		t := strings.TrimSpace(strings.TrimLeft(lines[j], "*"))
		for _, p := range []string{"sent:", "gesendet:", "envoyé :", "envoyé:"} {
			if hasPrefixFold(t, p) {
				return true
			}
		}
	}
	return false
}

// firstLines returns the first n non-empty lines of text.
func firstLines(text string, n int) []string {
	var out []string
	for line := range strings.SplitSeq(text, "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		out = append(out, line)
		if len(out) == n {
			break
		}
	}
	return out
}
