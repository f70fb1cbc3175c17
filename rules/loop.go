package rules

import (
	"path"
	"strings"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/addrspec"
)

// Refusal is a short stable code for why a message got no receipt, in
// Decision.Refusal and in the store's skipped rows: what metrics, `ackd
// status` and the status page group by. Every code ackd records is a
// constant below; the store keeps it as a plain string.
type Refusal string

// Refusal codes Decide returns.
const (
	RefuseLoop            Refusal = "loop"               // ackd's own X-Ackd-Loop header
	RefuseOwnAddress      Refusal = "own-address"        // from the department itself
	RefuseOtherDepartment Refusal = "other-department"   // from another department ackd answers for
	RefuseBounce          Refusal = "bounce"             // DSN: multipart/report delivery-status
	RefuseReport          Refusal = "report"             // other reports: ARF feedback, MDN read receipts
	RefuseAutoSubmitted   Refusal = "auto-submitted"     // Auto-Submitted other than "no"
	RefuseAutoReply       Refusal = "auto-reply"         // vendor auto-reply markers
	RefuseSuppress        Refusal = "suppress"           // X-Auto-Response-Suppress asks for silence
	RefuseList            Refusal = "list"               // List-* headers
	RefusePrecedence      Refusal = "precedence"         // Precedence bulk/list/junk/auto_reply
	RefuseNullReturnPath  Refusal = "null-return-path"   // Return-Path <>
	RefuseSystemSender    Refusal = "system-sender"      // MAILER-DAEMON, noreply, *-request …
	RefuseNoFrom          Refusal = "no-from"            // no usable From address
	RefuseBadAddress      Refusal = "bad-address"        // From address a reply cannot be written to (addrspec.Check)
	RefuseNotAddressed    Refusal = "not-addressed"      // department not named in any recipient header
	RefuseNotAllowed      Refusal = "sender-not-allowed" // From outside allowed_senders
	RefuseHeuristic       Refusal = "heuristic"          // content looks machine-made; see heuristic.go
	RefuseBounceText      Refusal = "bounce-text"        // delivery-failure text from a robot, no DSN part; see headerless.go
	RefuseListNotice      Refusal = "list-notice"        // list manager's loop alert or moderation notice; see headerless.go
	RefuseNoMessage       Refusal = "no-message"         // Decide was given nil
)

// Refusal codes the daemon records for messages Decide never sees.
const (
	RefuseTooLarge      Refusal = "too-large"     // over max_message_bytes
	RefuseMalformed     Refusal = "malformed"     // Parse gave up on it
	RefuseOwnCopy       Refusal = "own-copy"      // ackd's own copy in the Sent folder
	RefuseUnprocessable Refusal = "unprocessable" // handling it failed on its content (a template, composing)
	// RefuseTooOld: it arrived more than max_age ago; it is recorded, and
	// nothing is mailed about it.
	RefuseTooOld Refusal = "too-old"
)

// LoopHeader is the header ackd puts on all mail it sends; seeing it on
// incoming mail means ackd is talking to itself.
const LoopHeader = "X-Ackd-Loop"

type refusal struct {
	code   Refusal
	reason string
}

// refuse runs RFC 3834 loop protection. The checks run from the most
// specific signal to the most general, so a DSN from MAILER-DAEMON with a
// null Return-Path says "bounce", not "null return path".
func refuse(d *config.Department, m *Message) (refusal, bool) {
	if m.Has(LoopHeader) {
		return refusal{RefuseLoop, LoopHeader + " present: mail sent by ackd"}, true
	}
	if r, ok := ownSender(d, m); ok {
		return r, true
	}
	if r, ok := reportRefusal(m); ok {
		return r, true
	}
	for _, v := range m.Values("Auto-Submitted") {
		if tok := firstToken(v); tok != "no" {
			return refusal{RefuseAutoSubmitted, "Auto-Submitted: " + oneLine(v)}, true
		}
	}
	for _, h := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponse", "X-Autoreply-From", "X-Mail-Autoreply"} {
		if m.Has(h) {
			return refusal{RefuseAutoReply, h + " present"}, true
		}
	}
	for _, v := range m.Values("X-Auto-Response-Suppress") {
		for _, tok := range strings.Split(v, ",") {
			switch strings.ToLower(strings.TrimSpace(tok)) {
			case "all", "autoreply", "oof":
				return refusal{RefuseSuppress, "X-Auto-Response-Suppress: " + oneLine(v)}, true
			}
		}
	}
	for _, h := range []string{"List-Id", "List-Help", "List-Subscribe", "List-Unsubscribe", "List-Post", "List-Owner", "List-Archive"} {
		if m.Has(h) {
			return refusal{RefuseList, h + " present"}, true
		}
	}
	for _, v := range m.Values("Precedence") {
		switch firstToken(v) {
		case "bulk", "list", "junk", "auto_reply", "auto-reply":
			return refusal{RefusePrecedence, "Precedence: " + oneLine(v)}, true
		}
	}
	if m.HasReturnPath && isNullPath(m.ReturnPath) {
		return refusal{RefuseNullReturnPath, "null Return-Path (<>): a bounce or auto-reply"}, true
	}
	if r, ok := systemSender(m); ok {
		return r, true
	}
	from := strings.ToLower(strings.TrimSpace(m.From.Address))
	if !usableAddress(from) {
		if from == "" {
			return refusal{RefuseNoFrom, "no From address"}, true
		}
		return refusal{RefuseNoFrom, "From address " + quoteAddr(from) + " is not usable"}, true
	}
	// The composer refuses what addrspec refuses; asking first turns such
	// a message away here, with the reason, instead of failing its receipt.
	if _, err := addrspec.Check(m.From.Address); err != nil {
		return refusal{RefuseBadAddress, "From address " + quoteAddr(from) + " cannot be replied to: " + oneLine(err.Error())}, true
	}
	if !addressed(d, m) {
		return refusal{RefuseNotAddressed, "department address not in To/Cc/Resent-To/Resent-Cc/Delivered-To/X-Original-To"}, true
	}
	if !allowed(d, from) {
		return refusal{RefuseNotAllowed, "sender outside allowed_senders"}, true
	}
	if r, ok := authRefusal(d, m, from); ok {
		return r, true
	}
	return refusal{}, false
}

// firstToken is a structured header value's keyword, lower case, without
// parameters or comments ("auto-generated (failure)" → "auto-generated").
func firstToken(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexAny(v, ";( \t"); i >= 0 {
		v = v[:i]
	}
	return strings.ToLower(v)
}

// oneLine keeps a header value short and on one line for a reason string.
func oneLine(v string) string {
	v = strings.Join(strings.Fields(v), " ")
	if len(v) > 80 {
		v = v[:77] + "..."
	}
	return v
}

func quoteAddr(a string) string { return "<" + oneLine(a) + ">" }

func isNullPath(p string) bool {
	p = strings.TrimSpace(p)
	p = strings.TrimPrefix(p, "<")
	p = strings.TrimSuffix(p, ">")
	return strings.TrimSpace(p) == ""
}

func usableAddress(a string) bool {
	at := strings.LastIndexByte(a, '@')
	return at > 0 && at < len(a)-1 && !strings.ContainsAny(a, " \t\r\n<>")
}

func reportRefusal(m *Message) (refusal, bool) {
	ct := strings.ToLower(strings.TrimSpace(m.ContentType))
	rt := strings.ToLower(strings.TrimSpace(m.ReportType))
	if ct == "multipart/report" {
		switch rt {
		case "feedback-report":
			return refusal{RefuseReport, "multipart/report (feedback-report): an abuse complaint"}, true
		case "disposition-notification":
			return refusal{RefuseReport, "multipart/report (disposition-notification): a read receipt"}, true
		case "":
			return refusal{RefuseBounce, "multipart/report: a delivery report"}, true
		}
		return refusal{RefuseBounce, "multipart/report (" + oneLine(rt) + "): a delivery report"}, true
	}
	if m.HasDeliveryStatus {
		return refusal{RefuseBounce, "delivery-status part: a bounce or delivery report"}, true
	}
	return refusal{}, false
}

// systemSender looks at every address a robot would sign with: From,
// Sender and the Return-Path.
func systemSender(m *Message) (refusal, bool) {
	type cand struct {
		field, addr string
		kind        func(string) string
	}
	cands := []cand{{"From", m.From.Address, authorLocalPart}}
	if !strings.Contains(m.From.Address, "@") && m.From.Name != "" {
		// "From: MAILER-DAEMON <>": the robot signs with its name only.
		cands = append(cands, cand{"From name", m.From.Name, authorLocalPart})
	}
	if m.Sender != nil {
		cands = append(cands, cand{"Sender", m.Sender.Address, authorLocalPart})
	}
	if m.HasReturnPath {
		cands = append(cands, cand{"Return-Path", m.ReturnPath, systemLocalPart})
	}
	for _, c := range cands {
		if what := c.kind(c.addr); what != "" {
			return refusal{RefuseSystemSender, "system sender " + quoteAddr(c.addr) + " in " + c.field + " (" + what + ")"}, true
		}
	}
	return refusal{}, false
}

// systemLocalPart names the kind of robot an address belongs to, or "".
// The local part is compared as words (see localWords), so case and the
// separators people and robots use interchangeably do not matter:
// "Mailer_Daemon", "mailer.daemon" and "MAILER-DAEMON" are one robot, and
// so are "no_reply", "do.not.reply" and "DoNotReply-Payroll". Mailing list
// software tags its addresses with both "-" and "+" (Mailman
// list-bounces+x@, mlmmj list+owner@, VERP bounces-123@), so both are
// checked.
func systemLocalPart(addr string) string {
	lp := splitLocal(addr)
	if lp.base == "" {
		return ""
	}
	w := lp.words
	switch {
	case hasRole(w, "mailerdaemon"):
		return "MAILER-DAEMON"
	case hasRole(w, "postmaster"):
		return "postmaster"
	case hasRole(w, "listserv"):
		return "LISTSERV"
	case hasRole(w, "majordomo"):
		return "majordomo"
	case oneOf(strings.Join(w, ""), "noreply", "donotreply", "dontreply", "noreplies"):
		// The whole local part only: "gmail-noreply" and "alerts.noreply"
		// are no-reply robots too, but automated notices people ask about
		// come from them (see the requests corpus).
		return "no-reply address"
	case strings.HasSuffix(lp.base, "-request"):
		return "list request address"
	case strings.HasPrefix(lp.base, "owner-") || strings.HasSuffix(lp.base, "-owner") || lp.tag == "owner":
		return "list owner address"
	case strings.HasSuffix(lp.base, "-bounces") || strings.HasPrefix(lp.tag, "bounces") || strings.Contains(lp.base, "-bounces-"):
		return "bounce address"
	case lp.tag == "request":
		return "list request address"
	}
	return ""
}

// authorLocalPart is systemLocalPart for the addresses that name who wrote
// a message (From, Sender). It also knows bounce processors signing with
// their VERP address (bounce@, bounce+tag@, bounces-123@): the same
// address in a Return-Path only says a bulk platform handles the bounces
// of mail that may well be a person's, so it counts there only in the
// list forms systemLocalPart knows.
func authorLocalPart(addr string) string {
	if what := systemLocalPart(addr); what != "" {
		return what
	}
	// "max.bounce" is a person: the word must come first.
	if w := splitLocal(addr).words; len(w) > 0 && (w[0] == "bounce" || w[0] == "bounces") {
		return "bounce address"
	}
	return ""
}

// localPart is an address's local part taken apart for role matching.
type localPart struct {
	base  string   // lower case, without quotes and without the +tag
	tag   string   // the sub-address after the first "+", lower case
	words []string // base split at ".", "_", "-" and white space
}

// splitLocal takes the local part of addr (or all of it when there is no
// "@": a robot signing with a bare name) apart. Sub-address tags name the
// recipient of a VERP bounce, never the role, so they are cut off first.
func splitLocal(addr string) localPart {
	a := strings.ToLower(strings.TrimSpace(addr))
	a = strings.Trim(a, "<>")
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		a = a[:at]
	}
	a = strings.Trim(a, `"`)
	base, tag, _ := strings.Cut(a, "+")
	words := strings.FieldsFunc(base, func(r rune) bool {
		return r == '.' || r == '_' || r == '-' || r == ' ' || r == '\t'
	})
	return localPart{base: base, tag: tag, words: words}
}

// hasRole reports whether consecutive words spell one of the roles when
// written together: [do not reply] and [donotreply] both spell "donotreply".
func hasRole(words []string, roles ...string) bool {
	for i := range words {
		joined := ""
		for _, w := range words[i:] {
			joined += w
			for _, r := range roles {
				if joined == r {
					return true
				}
			}
			if len(joined) >= 12 {
				break // longer than any role
			}
		}
	}
	return false
}

// ownSender refuses mail whose From, Sender or Reply-To is the department
// itself or another department: answering it would start a loop between
// two auto-responders that both think the other is a person.
func ownSender(d *config.Department, m *Message) (refusal, bool) {
	addrs := []struct{ field, addr string }{{"From", m.From.Address}}
	if m.Sender != nil {
		addrs = append(addrs, struct{ field, addr string }{"Sender", m.Sender.Address})
	}
	for _, a := range m.ReplyTo {
		addrs = append(addrs, struct{ field, addr string }{"Reply-To", a.Address})
	}
	for _, a := range addrs {
		addr := strings.ToLower(strings.TrimSpace(a.addr))
		if addr == "" {
			continue
		}
		if isOwn(d, addr) {
			return refusal{RefuseOwnAddress, a.field + " is the department's own address " + quoteAddr(addr)}, true
		}
		for _, o := range d.Others {
			if addr == o {
				return refusal{RefuseOtherDepartment, a.field + " is another department's address " + quoteAddr(addr)}, true
			}
		}
	}
	return refusal{}, false
}

func isOwn(d *config.Department, addr string) bool {
	if EqualAddress(addr, d.Address) {
		return true
	}
	for _, a := range d.Aliases {
		if EqualAddress(addr, a) {
			return true
		}
	}
	return false
}

// recipientHeaders are where a message names the mailbox it was meant for;
// Delivered-To and X-Original-To catch Bcc copies.
var recipientHeaders = []string{"Resent-To", "Resent-Cc", "Delivered-To", "X-Original-To"}

// addressed says whether the message names the department or an alias as
// a recipient. A department without any address cannot be checked and
// passes (config validation requires one).
func addressed(d *config.Department, m *Message) bool {
	own := make([]string, 0, 1+len(d.Aliases))
	for _, a := range append([]string{d.Address}, d.Aliases...) {
		if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
			own = append(own, a)
		}
	}
	if len(own) == 0 {
		return true
	}
	for _, list := range [][]Address{m.To, m.Cc} {
		for _, a := range list {
			for _, o := range own {
				if EqualAddress(a.Address, o) {
					return true
				}
			}
		}
	}
	for _, h := range recipientHeaders {
		for _, v := range m.Values(h) {
			lv := strings.ToLower(v)
			for _, o := range own {
				if containsAddress(lv, o) {
					return true
				}
			}
		}
	}
	return false
}

// containsAddress finds addr in a raw header value as a whole address, so
// "it-help@x" is not found in "old-it-help@x" or "it-help@x.evil".
func containsAddress(v, addr string) bool {
	for off := 0; off < len(v); {
		i := strings.Index(v[off:], addr)
		if i < 0 {
			return false
		}
		i += off
		j := i + len(addr)
		if (i == 0 || !isAddrByte(v[i-1])) && (j == len(v) || !isAddrByte(v[j]) || v[j] == '.' && (j+1 == len(v) || !isAddrByte(v[j+1]))) {
			return true
		}
		off = i + 1
	}
	return false
}

func isAddrByte(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("._%+-=!#$&'*/?^`{|}~@", c) >= 0 || c >= 0x80
}

// allowed matches the lower-cased sender against allowed_senders globs. An
// empty list allows nobody: receipts go only where an admin said so.
func allowed(d *config.Department, from string) bool {
	for _, p := range d.AllowedSenders {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "*" {
			return true
		}
		if ok, err := path.Match(p, from); err == nil && ok {
			return true
		}
	}
	return false
}
