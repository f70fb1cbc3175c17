package rules

import (
	"path"
	"strings"

	"github.com/ackd/ackd/internal/addrspec"
)

// Refusal codes in Decision.Refusal: stable, short, for metrics and status.
const (
	RefuseLoop            = "loop"               // ackd's own X-Ackd-Loop header
	RefuseOwnAddress      = "own-address"        // from the department itself
	RefuseOtherDepartment = "other-department"   // from another department ackd answers for
	RefuseBounce          = "bounce"             // DSN: multipart/report delivery-status
	RefuseReport          = "report"             // other reports: ARF feedback, MDN read receipts
	RefuseAutoSubmitted   = "auto-submitted"     // Auto-Submitted other than "no"
	RefuseAutoReply       = "auto-reply"         // vendor auto-reply markers
	RefuseSuppress        = "suppress"           // X-Auto-Response-Suppress asks for silence
	RefuseList            = "list"               // List-* headers
	RefusePrecedence      = "precedence"         // Precedence bulk/list/junk/auto_reply
	RefuseNullReturnPath  = "null-return-path"   // Return-Path <>
	RefuseSystemSender    = "system-sender"      // MAILER-DAEMON, noreply, *-request …
	RefuseNoFrom          = "no-from"            // no usable From address
	RefuseBadAddress      = "bad-address"        // From address a reply cannot be written to (addrspec.Check)
	RefuseNotAddressed    = "not-addressed"      // department not named in any recipient header
	RefuseNotAllowed      = "sender-not-allowed" // From outside allowed_senders
	RefuseHeuristic       = "heuristic"          // content looks machine-made; see heuristic.go
	RefuseNoMessage       = "no-message"         // Decide was given nil
)

// LoopHeader is the header ackd puts on all mail it sends; seeing it on
// incoming mail means ackd is talking to itself.
const LoopHeader = "X-Ackd-Loop"

type refusal struct{ code, reason string }

// refuse runs RFC 3834 loop protection. The checks run from the most
// specific signal to the most general, so a DSN from MAILER-DAEMON with a
// null Return-Path says "bounce", not "null return path".
func (d *Department) refuse(m *Message) (refusal, bool) {
	if m.Has(LoopHeader) {
		return refusal{RefuseLoop, LoopHeader + " present: mail sent by ackd"}, true
	}
	if r, ok := d.ownSender(m); ok {
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
	if !d.addressed(m) {
		return refusal{RefuseNotAddressed, "department address not in To/Cc/Resent-To/Resent-Cc/Delivered-To/X-Original-To"}, true
	}
	if !d.allowed(from) {
		return refusal{RefuseNotAllowed, "sender outside allowed_senders"}, true
	}
	if r, ok := d.authRefusal(m, from); ok {
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
	cands := []struct{ field, addr string }{{"From", m.From.Address}}
	if !strings.Contains(m.From.Address, "@") && m.From.Name != "" {
		// "From: MAILER-DAEMON <>": the robot signs with its name only.
		cands = append(cands, struct{ field, addr string }{"From name", m.From.Name})
	}
	if m.Sender != nil {
		cands = append(cands, struct{ field, addr string }{"Sender", m.Sender.Address})
	}
	if m.HasReturnPath {
		cands = append(cands, struct{ field, addr string }{"Return-Path", m.ReturnPath})
	}
	for _, c := range cands {
		if what := systemLocalPart(c.addr); what != "" {
			return refusal{RefuseSystemSender, "system sender " + quoteAddr(c.addr) + " in " + c.field + " (" + what + ")"}, true
		}
	}
	return refusal{}, false
}

// systemLocalPart names the kind of robot an address belongs to, or "".
// Mailing list software uses both "-" and "+" to tag its addresses
// (Mailman list-bounces+x@, mlmmj list+owner@), so both are checked.
func systemLocalPart(addr string) string {
	a := strings.ToLower(strings.TrimSpace(addr))
	a = strings.Trim(a, "<>")
	if a == "" {
		return ""
	}
	local := a
	if at := strings.LastIndexByte(a, '@'); at >= 0 {
		local = a[:at]
	}
	local = strings.Trim(local, `"`)
	base, detail, _ := strings.Cut(local, "+")
	squashed := strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' {
			return -1
		}
		return r
	}, base)
	switch {
	case squashed == "mailerdaemon":
		return "MAILER-DAEMON"
	case base == "postmaster":
		return "postmaster"
	case base == "listserv":
		return "LISTSERV"
	case base == "majordomo":
		return "majordomo"
	case squashed == "noreply" || squashed == "donotreply" || squashed == "noreplies":
		return "no-reply address"
	case strings.HasSuffix(base, "-request"):
		return "list request address"
	case strings.HasPrefix(base, "owner-") || strings.HasSuffix(base, "-owner") || detail == "owner":
		return "list owner address"
	case strings.HasSuffix(base, "-bounces") || strings.HasPrefix(detail, "bounces") || strings.Contains(base, "-bounces-"):
		return "bounce address"
	case detail == "request":
		return "list request address"
	}
	return ""
}

// ownSender refuses mail whose From, Sender or Reply-To is the department
// itself or another department: answering it would start a loop between
// two auto-responders that both think the other is a person.
func (d *Department) ownSender(m *Message) (refusal, bool) {
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
		if d.isOwn(addr) {
			return refusal{RefuseOwnAddress, a.field + " is the department's own address " + quoteAddr(addr)}, true
		}
		for _, o := range d.others {
			if addr == o {
				return refusal{RefuseOtherDepartment, a.field + " is another department's address " + quoteAddr(addr)}, true
			}
		}
	}
	return refusal{}, false
}

func (d *Department) isOwn(addr string) bool {
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
func (d *Department) addressed(m *Message) bool {
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
func (d *Department) allowed(from string) bool {
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
