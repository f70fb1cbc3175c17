package rules

import (
	"strings"
	"testing"
)

func TestSystemLocalPart(t *testing.T) {
	tests := []struct {
		addr, want string
	}{
		{"MAILER-DAEMON@mx.example.test", "MAILER-DAEMON"},
		{"Mailer_Daemon@mx.example.test", "MAILER-DAEMON"},
		{"mailer.daemon@mx.example.test", "MAILER-DAEMON"},
		{"MailerDaemon@mx.example.test", "MAILER-DAEMON"},
		{"mailer daemon@mx.example.test", "MAILER-DAEMON"}, // "mailer daemon"@ after parsing
		{"mailer-daemon-eu+relay@mx.example.test", "MAILER-DAEMON"},
		{"POSTMASTER@mx.example.test", "postmaster"},
		{"Post.Master@mx.example.test", "postmaster"},
		{"postmaster_relay@mx.example.test", "postmaster"},
		{"no_reply@example.test", "no-reply address"},
		{"do.not.reply@example.test", "no-reply address"},
		{"Do-Not-Reply@example.test", "no-reply address"},
		{"NoReply+tag@example.test", "no-reply address"},
		{"staff-request@lists.example.test", "list request address"},
		{"staff+owner@lists.example.test", "list owner address"},
		{"staff-bounces+alice=example.test@lists.example.test", "bounce address"},
		{"LISTSERV@lists.example.test", "LISTSERV"},
		// Not system senders on their own.
		{"bounce+xyz@relay.example.test", ""}, // only in From/Sender: authorLocalPart
		{"gmail-noreply@google.example", ""},  // whole local part only (requests corpus)
		{"max.bounce@example.test", ""},
		{"noreen.reply@example.test", ""},
		{"postman@example.test", ""},
		{"mailer@example.test", ""},
		{"staff-admin@lists.example.test", ""},
		{"", ""},
	}
	for _, tc := range tests {
		if got := systemLocalPart(tc.addr); got != tc.want {
			t.Errorf("systemLocalPart(%q) = %q, want %q", tc.addr, got, tc.want)
		}
	}
	for addr, want := range map[string]string{
		"bounce+xyz@relay.example.test":          "bounce address",
		"bounces-123@mailer.example.test":        "bounce address",
		"Bounce@relay.example.test":              "bounce address",
		"bounce-mc.us5_1.2-x=y@mcsv.example":     "bounce address",
		"max.bounce@example.test":                "",
		"bouncer@example.test":                   "",
		"Mailer_Daemon@mx.example.test":          "MAILER-DAEMON",
		"anna.schmidt+newsletter@example.test":   "",
		"it-help+bounces-foo@example.test":       "bounce address", // Mailman's tag, as before
		"ordinary.person-bounces@lists.example":  "bounce address",
		"jane.doe-requested@example.test":        "",
		"owner.of.the.house@example.test":        "",
		"MicrosoftExchange329e71ec@example.test": "",
	} {
		if got := authorLocalPart(addr); got != want {
			t.Errorf("authorLocalPart(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestSystemSenderReturnPath: a VERP bounce address in the Return-Path
// says a bulk platform handles bounces, not that a robot wrote the mail.
func TestSystemSenderReturnPath(t *testing.T) {
	d := testDept(t)
	m := person()
	m.ReturnPath, m.Header["Return-Path"] = "bounces+1234-abcd@mailer.example.test", []string{"<bounces+1234-abcd@mailer.example.test>"}
	if got := decide(d, m, arrival); !got.Reply {
		t.Errorf("VERP Return-Path refused a person: %s %s", got.Refusal, got.Reason)
	}
	m.From.Address = "bounces+1234-abcd@mailer.example.test"
	if got := decide(d, m, arrival); got.Refusal != RefuseSystemSender {
		t.Errorf("VERP From: got %q %q, want system-sender", got.Refusal, got.Reason)
	}
}

// TestHeaderlessRobot checks that delivery-failure and list-notice text
// refuses only together with a machine sign, in every language it knows.
func TestHeaderlessRobot(t *testing.T) {
	failures := []struct{ lang, subject, line string }{
		{"English", "Undeliverable message", "Your message to einkauf@lieferant.example couldn't be delivered."},
		{"English DSN", "Delivery Status Notification (Failure)", "Delivery has failed to these recipients or groups:"},
		{"English exim", "Mail delivery failed: returning message to sender", "A message that you sent could not be delivered to one or more of its recipients."},
		{"English sendmail", "Returned mail: see transcript for details", "Returned mail: User unknown"},
		{"German", "Unzustellbar: Angebot", "Ihre Nachricht an einkauf@lieferant.example konnte nicht zugestellt werden."},
		{"German 2", "Nicht zustellbar: Angebot", "Die Nachricht konnte nicht zugestellt werden."},
		{"French", "Non remis : Réunion", "Votre message n'a pas pu être remis aux destinataires suivants :"},
		{"French 2", "Non distribuable : Réunion", "Échec de la remise aux destinataires suivants :"},
		{"Spanish", "No se puede entregar: Factura", "Su mensaje no pudo ser entregado a los siguientes destinatarios:"},
		{"Italian", "Non recapitabile: Preventivo", "Il messaggio non è stato recapitato ai seguenti destinatari:"},
		{"Dutch", "Onbestelbaar: Offerte", "Uw bericht kan niet worden bezorgd aan de volgende ontvangers:"},
		{"Portuguese", "Não foi possível entregar: Orçamento", "Não é possível entregar a mensagem aos seguintes destinatários:"},
		{"Swedish", "Olevererbart: Offert", "Det gick inte att leverera meddelandet till följande mottagare:"},
	}
	robot := Address{Name: "Microsoft Outlook", Address: "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@example.test"}
	d := testDept(t)
	d.AllowedSenders = []string{"*"}
	for _, f := range failures {
		t.Run(f.lang, func(t *testing.T) {
			for _, tc := range []struct {
				name           string
				from           Address
				subject, text  string
				attached, want bool
			}{
				{"subject from a robot", robot, f.subject, "See below.", false, true},
				{"body line from a robot", robot, "Mail", "*** " + f.line + "\n\n  someone@example.test", false, true},
				{"body line, original attached", Address{Address: "gw@example.test"}, "Mail", f.line, true, true},
				{"subject with a statement", Address{Address: "gw@example.test"}, f.subject, "This is an automatically generated message.\n\n" + f.line, false, true},
				{"subject, person", person().From, f.subject, "Hi, what does this mean? Thanks, Jürgen", false, false},
				{"body line, person", person().From, "Help with my mail", f.line + "\nThis is what I get from the supplier.", false, false},
				{"subject, person attaches the bounce", person().From, f.subject, "Hi, the bounce is attached.", true, false},
				{"reply to the robot", robot, "Re: " + f.subject, f.line, true, false},
				{"person mentions it", person().From, "Question", "Hi, since Monday: " + f.line + "\nThis is an automatically generated message, it says.", true, false},
			} {
				m := person()
				m.From, m.Subject, m.Text, m.HasAttachedMessage = tc.from, tc.subject, tc.text, tc.attached
				m.ReturnPath = tc.from.Address
				got := decide(d, m, arrival)
				if tc.want && got.Refusal != RefuseBounceText {
					t.Errorf("%s: got %q %q, want %q", tc.name, got.Refusal, got.Reason, RefuseBounceText)
				}
				if !tc.want && !got.Reply {
					t.Errorf("%s: refused %q %q", tc.name, got.Refusal, got.Reason)
				}
			}
		})
	}

	notices := []struct {
		name, from, subject, text string
		want                      bool
	}{
		{"loop alert from -admin", "staff-admin@lists.example.test", "Loop alert: staff@lists.example.test", "", true},
		{"loop detected in body from +owner-less -moderator", "staff-moderator@lists.example.test", "Notice", "Mail loop detected for staff@lists.example.test.", true},
		{"held for moderation from mailman", "mailman@lists.example.test", "Your message to Staff has been held", "", true},
		{"non-member post with a statement", "lists@example.test", "Non-member submission from it-help@example.test", "This is an automated message from the list server.", true},
		{"loop alert from a person", "anna@example.test", "Loop alert from the build server", "Can someone look?", false},
		{"person at -admin mentions it", "it-admin@example.test", "Mail loop on the scanner?", "we got a loop alert from the list server", false},
		{"moderation question", "anna@example.test", "Your message to staff has been held - why?", "", false},
		{"a team's -admin address with delivery words", "facility-admin@example.test", "Delivery report: chairs arrived", "Delivery delayed for the desks.", false},
	}
	for _, tc := range notices {
		t.Run(tc.name, func(t *testing.T) {
			m := person()
			m.From = Address{Address: tc.from}
			m.ReturnPath = tc.from
			m.Subject, m.Text = tc.subject, tc.text
			got := decide(d, m, arrival)
			if tc.want && got.Refusal != RefuseListNotice {
				t.Errorf("got %q %q, want %q", got.Refusal, got.Reason, RefuseListNotice)
			}
			if !tc.want && !got.Reply {
				t.Errorf("refused %q %q", got.Refusal, got.Reason)
			}
		})
	}
}

func TestOwnText(t *testing.T) {
	tests := []struct {
		name, text, keep, drop string
	}{
		{"gmail forward", "Hi\n\n---------- Forwarded message ---------\nFrom: x\nDate: y\n\nbody", "Hi", "Forwarded"},
		{"apple forward", "See below\n\nBegin forwarded message:\n\nFrom: x\nSubject: y\nDate: z", "See below", "From: x"},
		{"outlook forward", "FYI\n\nFrom: Mail Delivery System\nSent: Monday\nTo: me\nSubject: x", "FYI", "Sent:"},
		{"quoted reply", "Thanks!\n> Undeliverable\n> mail", "Thanks!", "Undeliverable"},
		{"raw header block stays", "Failed.\n\nReturn-path: <a@b>\nReceived: from x\nFrom: a@b\nDate: Mon", "Date: Mon", ""},
	}
	for _, tc := range tests {
		got := ownText(tc.text)
		if !strings.Contains(got, tc.keep) || tc.drop != "" && strings.Contains(got, tc.drop) {
			t.Errorf("%s: ownText = %q, want it to keep %q and drop %q", tc.name, got, tc.keep, tc.drop)
		}
	}
}

func TestRawHeaderBlock(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"Return-Path: <a@b>\nReceived: from x\n\tby y\nMessage-ID: <1@b>", true},
		{"   Received: from x\n   From: a@b\n   Message-ID: <c@d>", true},
		{"From: Alice\nSent: Monday\nTo: Bob\nSubject: hi", false},
		{"From: a@b\nTo: c@d\nSubject: e\nDate: f", false},
		{"Received: from x\n\nFrom: a\nTo: b", false},
		{"Note: one\nReceived: two", false},
	}
	for _, tc := range tests {
		if got := rawHeaderBlock(tc.text); got != tc.want {
			t.Errorf("rawHeaderBlock(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
}
