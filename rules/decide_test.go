package rules

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ackd/ackd/calendar"
	"github.com/ackd/ackd/config"
	"gopkg.in/yaml.v3"
)

var arrival = time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)

func testDept(t *testing.T, rules ...*config.Rule) *config.Department {
	t.Helper()
	return &config.Department{
		Name:           "IT Help Desk",
		Address:        "it-help@example.test",
		Aliases:        []string{"helpdesk@example.test"},
		AllowedSenders: []string{"*@example.test", "*@hr.example.test", "partner@extern.example"},
		Calendar:       &calendar.Calendar{},
		Categories: map[string]*config.Category{
			"default": {Name: "default", Commitment: calendar.Commitment{Days: 3}},
			"access":  {Name: "access", Commitment: calendar.Commitment{Business: 4 * time.Hour}},
			"print":   {Name: "print", Commitment: calendar.Commitment{Days: 1}},
		},
		Rules:  rules,
		Others: []string{"payroll@example.test", "facilities@example.test"},
	}
}

func rule(t *testing.T, name, category, src string) *config.Rule {
	t.Helper()
	mustCompile(t, src) // a bad clause fails here, with its problems
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatalf("yaml %q: %v", src, err)
	}
	return &config.Rule{Name: name, Category: category, Match: doc.Content[0]}
}

// decide compiles d's rules and has them judge m, as the daemon does
// with a loaded config.
func decide(d *config.Department, m *Message, at time.Time) Decision {
	s, err := Compile(&config.Config{File: "rules.yaml", Departments: []*config.Department{d}})
	if err != nil {
		panic("test rules do not compile: " + err.Error())
	}
	return s.Decide(d, m, at)
}

// person is a message every check lets through.
func person() *Message {
	return &Message{
		MessageID:     "1@example.test",
		From:          Address{Name: "Jürgen Müller", Address: "juergen@example.test"},
		To:            []Address{{Name: "IT", Address: "it-help@example.test"}},
		ReturnPath:    "juergen@example.test",
		HasReturnPath: true,
		Subject:       "Drucker im 2. OG druckt nicht",
		Header:        header("Return-Path", "<juergen@example.test>", "Precedence", "normal", "Auto-Submitted", "no"),
		ContentType:   "text/plain",
		Text:          "Hallo,\nder Drucker druckt nur leere Seiten.\nGruß Jürgen",
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m *Message)
		code   Refusal // "" means a receipt is sent
		reason string  // substring of the reason
	}{
		{"a person", func(*Message) {}, "", ""},
		{"null Return-Path", func(m *Message) { m.ReturnPath = "" }, RefuseNullReturnPath, "null Return-Path"},
		{"<> Return-Path", func(m *Message) { m.ReturnPath = "<>" }, RefuseNullReturnPath, "null Return-Path"},
		{"absent Return-Path is fine", func(m *Message) { m.ReturnPath, m.HasReturnPath = "", false }, "", ""},
		{"Auto-Submitted auto-replied", func(m *Message) { m.Header["Auto-Submitted"] = []string{"auto-replied"} }, RefuseAutoSubmitted, "Auto-Submitted: auto-replied"},
		{"Auto-Submitted with comment", func(m *Message) { m.Header["Auto-Submitted"] = []string{"auto-generated (failure)"} }, RefuseAutoSubmitted, "Auto-Submitted: auto-generated (failure)"},
		{"Auto-Submitted No in capitals", func(m *Message) { m.Header["Auto-Submitted"] = []string{" No "} }, "", ""},
		{"second Auto-Submitted copy", func(m *Message) { m.Header["Auto-Submitted"] = []string{"no", "auto-notified"} }, RefuseAutoSubmitted, "auto-notified"},
		{"List-Id", func(m *Message) { m.Header["List-Id"] = []string{"<staff.example.test>"} }, RefuseList, "List-Id present"},
		{"List-Unsubscribe", func(m *Message) { m.Header["List-Unsubscribe"] = []string{"<mailto:x@example.test>"} }, RefuseList, "List-Unsubscribe present"},
		{"List-Help", func(m *Message) { m.Header["List-Help"] = []string{"x"} }, RefuseList, "List-Help"},
		{"List-Subscribe", func(m *Message) { m.Header["List-Subscribe"] = []string{"x"} }, RefuseList, "List-Subscribe"},
		{"List-Post", func(m *Message) { m.Header["List-Post"] = []string{"NO"} }, RefuseList, "List-Post"},
		{"List-Owner", func(m *Message) { m.Header["List-Owner"] = []string{"x"} }, RefuseList, "List-Owner"},
		{"List-Archive", func(m *Message) { m.Header["List-Archive"] = []string{"x"} }, RefuseList, "List-Archive"},
		{"Precedence bulk", func(m *Message) { m.Header["Precedence"] = []string{"bulk"} }, RefusePrecedence, "Precedence: bulk"},
		{"Precedence List", func(m *Message) { m.Header["Precedence"] = []string{"List"} }, RefusePrecedence, "Precedence: List"},
		{"Precedence junk", func(m *Message) { m.Header["Precedence"] = []string{"junk"} }, RefusePrecedence, "junk"},
		{"Precedence auto_reply", func(m *Message) { m.Header["Precedence"] = []string{"auto_reply"} }, RefusePrecedence, "auto_reply"},
		{"Precedence urgent is fine", func(m *Message) { m.Header["Precedence"] = []string{"urgent"} }, "", ""},
		{"X-Auto-Response-Suppress All", func(m *Message) { m.Header["X-Auto-Response-Suppress"] = []string{"All"} }, RefuseSuppress, "X-Auto-Response-Suppress: All"},
		{"X-Auto-Response-Suppress OOF in a list", func(m *Message) { m.Header["X-Auto-Response-Suppress"] = []string{"DR, RN, NRN, OOF"} }, RefuseSuppress, "OOF"},
		{"X-Auto-Response-Suppress AutoReply", func(m *Message) { m.Header["X-Auto-Response-Suppress"] = []string{"autoreply"} }, RefuseSuppress, "autoreply"},
		{"X-Auto-Response-Suppress DR only is fine", func(m *Message) { m.Header["X-Auto-Response-Suppress"] = []string{"DR, RN"} }, "", ""},
		{"X-Autoreply", func(m *Message) { m.Header["X-Autoreply"] = []string{"yes"} }, RefuseAutoReply, "X-Autoreply present"},
		{"X-Autorespond", func(m *Message) { m.Header["X-Autorespond"] = []string{"x"} }, RefuseAutoReply, "X-Autorespond present"},
		{"X-Autoresponse", func(m *Message) { m.Header["X-Autoresponse"] = []string{"x"} }, RefuseAutoReply, "X-Autoresponse present"},
		{"X-AutoReply-From", func(m *Message) { m.Header["X-Autoreply-From"] = []string{"x"} }, RefuseAutoReply, "X-Autoreply-From present"},
		{"X-Mail-Autoreply", func(m *Message) { m.Header["X-Mail-Autoreply"] = []string{"x"} }, RefuseAutoReply, "X-Mail-Autoreply present"},
		{"multipart/report delivery-status", func(m *Message) { m.ContentType, m.ReportType = "multipart/report", "delivery-status" }, RefuseBounce, "multipart/report (delivery-status)"},
		{"multipart/report ARF", func(m *Message) { m.ContentType, m.ReportType = "multipart/report", "feedback-report" }, RefuseReport, "feedback-report"},
		{"multipart/report MDN", func(m *Message) { m.ContentType, m.ReportType = "multipart/report", "disposition-notification" }, RefuseReport, "read receipt"},
		{"delivery-status part in multipart/mixed", func(m *Message) { m.ContentType, m.HasDeliveryStatus = "multipart/mixed", true }, RefuseBounce, "delivery-status part"},
		{"MAILER-DAEMON", func(m *Message) {
			m.From = Address{Name: "Mail Delivery System", Address: "MAILER-DAEMON@mx.example.test"}
		}, RefuseSystemSender, "MAILER-DAEMON"},
		{"MAILER-DAEMON without domain", func(m *Message) { m.From = Address{Address: "MAILER-DAEMON"} }, RefuseSystemSender, "MAILER-DAEMON"},
		{"postmaster", func(m *Message) { m.From = Address{Address: "Postmaster@example.test"} }, RefuseSystemSender, "postmaster"},
		{"LISTSERV", func(m *Message) { m.From = Address{Address: "LISTSERV@lists.example.test"} }, RefuseSystemSender, "LISTSERV"},
		{"majordomo", func(m *Message) { m.From = Address{Address: "majordomo@example.test"} }, RefuseSystemSender, "majordomo"},
		{"-request", func(m *Message) { m.From = Address{Address: "staff-request@example.test"} }, RefuseSystemSender, "list request"},
		{"owner-", func(m *Message) { m.From = Address{Address: "owner-staff@example.test"} }, RefuseSystemSender, "list owner"},
		{"+owner (mlmmj)", func(m *Message) { m.From = Address{Address: "staff+owner@example.test"} }, RefuseSystemSender, "list owner"},
		{"-bounces", func(m *Message) { m.From = Address{Address: "staff-bounces@example.test"} }, RefuseSystemSender, "bounce address"},
		{"no-reply", func(m *Message) { m.From = Address{Name: "Portal", Address: "no-reply@example.test"} }, RefuseSystemSender, "no-reply"},
		{"noreply", func(m *Message) { m.From = Address{Address: "NoReply@example.test"} }, RefuseSystemSender, "no-reply"},
		{"do-not-reply", func(m *Message) { m.From = Address{Address: "do-not-reply@example.test"} }, RefuseSystemSender, "no-reply"},
		{"donotreply", func(m *Message) { m.From = Address{Address: "donotreply@example.test"} }, RefuseSystemSender, "no-reply"},
		{"system Sender", func(m *Message) { m.Sender = &Address{Address: "owner-staff@example.test"} }, RefuseSystemSender, "in Sender"},
		{"system Return-Path", func(m *Message) { m.ReturnPath = "staff-bounces+juergen=example.test@example.test" }, RefuseSystemSender, "in Return-Path"},
		{"a name containing noreply words is fine", func(m *Message) { m.From = Address{Name: "No Reply Needed", Address: "norbert@example.test"} }, "", ""},
		{"own address", func(m *Message) { m.From = Address{Address: "IT-Help@example.test"} }, RefuseOwnAddress, "own address <it-help@example.test>"},
		{"own alias", func(m *Message) { m.From = Address{Address: "helpdesk@example.test"} }, RefuseOwnAddress, "own address"},
		{"own address as Sender", func(m *Message) { m.Sender = &Address{Address: "it-help@example.test"} }, RefuseOwnAddress, "Sender is"},
		{"own address as Reply-To", func(m *Message) { m.ReplyTo = []Address{{Address: "it-help@example.test"}} }, RefuseOwnAddress, "Reply-To is"},
		{"another department", func(m *Message) { m.From = Address{Address: "Payroll@example.test"} }, RefuseOtherDepartment, "another department"},
		{"another department as Reply-To", func(m *Message) { m.ReplyTo = []Address{{Address: "facilities@example.test"}} }, RefuseOtherDepartment, "Reply-To"},
		{"X-Ackd-Loop", func(m *Message) { m.Header["X-Ackd-Loop"] = []string{""} }, RefuseLoop, "X-Ackd-Loop present"},
		{"not addressed", func(m *Message) { m.To = []Address{{Address: "someone@example.test"}} }, RefuseNotAddressed, "department address not in"},
		{"lookalike address not addressed", func(m *Message) { m.To = []Address{{Address: "it-help@example.test.evil"}} }, RefuseNotAddressed, ""},
		{"alias in Cc", func(m *Message) { m.To, m.Cc = nil, []Address{{Address: "HelpDesk@Example.Test"}} }, "", ""},
		{"Bcc via Delivered-To", func(m *Message) { m.To = nil; m.Header["Delivered-To"] = []string{"it-help@example.test"} }, "", ""},
		{"Bcc via X-Original-To", func(m *Message) { m.To = nil; m.Header["X-Original-To"] = []string{"<helpdesk@example.test>"} }, "", ""},
		{"Resent-To with a name", func(m *Message) { m.To = nil; m.Header["Resent-To"] = []string{"IT <IT-HELP@example.test>, x@y"} }, "", ""},
		{"Resent-Cc", func(m *Message) { m.To = nil; m.Header["Resent-Cc"] = []string{"helpdesk@example.test"} }, "", ""},
		{"Delivered-To lookalike", func(m *Message) { m.To = nil; m.Header["Delivered-To"] = []string{"old-it-help@example.test"} }, RefuseNotAddressed, ""},
		{"Delivered-To lookalike domain", func(m *Message) { m.To = nil; m.Header["Delivered-To"] = []string{"it-help@example.test.evil"} }, RefuseNotAddressed, ""},
		{"sender outside allowed_senders", func(m *Message) { m.From = Address{Address: "stranger@gmail.example"} }, RefuseNotAllowed, "sender outside allowed_senders"},
		{"sender allowed by exact pattern", func(m *Message) { m.From = Address{Address: "Partner@Extern.Example"} }, "", ""},
		{"subdomain not allowed by *@example.test", func(m *Message) { m.From = Address{Address: "x@sub.example.test"} }, RefuseNotAllowed, ""},
		{"no From", func(m *Message) { m.From = Address{} }, RefuseNoFrom, "no From address"},
		{"From without domain", func(m *Message) { m.From = Address{Name: "Jürgen", Address: "juergen"} }, RefuseNoFrom, "not usable"},
		// What the composer refuses, Decide refuses first (issue 11 #6):
		// `From: "a,b"@example.test` once passed here and then failed its
		// receipt on every retry.
		{"From the composer cannot write", func(m *Message) { m.From = Address{Address: "a,b@example.test"} }, RefuseBadAddress, "cannot be replied to"},
		{"From with a quote", func(m *Message) { m.From = Address{Address: `a"b@example.test`} }, RefuseBadAddress, "cannot be replied to"},
		// Order: the most specific reason wins.
		{"bounce beats system sender and null path", func(m *Message) {
			m.From, m.ReturnPath = Address{Address: "MAILER-DAEMON@mx.example.test"}, ""
			m.ContentType, m.ReportType = "multipart/report", "delivery-status"
			m.Header["Auto-Submitted"] = []string{"auto-replied"}
		}, RefuseBounce, ""},
		{"auto-submitted beats null path and system sender", func(m *Message) {
			m.From, m.ReturnPath = Address{Address: "noreply@example.test"}, ""
			m.Header["Auto-Submitted"] = []string{"auto-replied"}
		}, RefuseAutoSubmitted, ""},
		{"null path beats system sender", func(m *Message) {
			m.From, m.ReturnPath = Address{Address: "MAILER-DAEMON@example.test"}, "<>"
		}, RefuseNullReturnPath, ""},
		{"list beats precedence", func(m *Message) {
			m.Header["Precedence"], m.Header["List-Id"] = []string{"bulk"}, []string{"x"}
		}, RefuseList, ""},
		{"loop header beats everything", func(m *Message) {
			m.Header["X-Ackd-Loop"] = []string{"REQ-1"}
			m.Header["Auto-Submitted"] = []string{"auto-replied"}
			m.From = Address{Address: "it-help@example.test"}
		}, RefuseLoop, ""},
		{"system sender beats allowed_senders", func(m *Message) { m.From = Address{Address: "noreply@outside.example"} }, RefuseSystemSender, ""},
		{"no From beats not addressed", func(m *Message) { m.From, m.To = Address{}, nil }, RefuseNoFrom, ""},
	}
	d := testDept(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := person()
			tc.edit(m)
			got := decide(d, m, arrival)
			if got.Refusal != tc.code {
				t.Fatalf("Refusal = %q (%s), want %q", got.Refusal, got.Reason, tc.code)
			}
			if got.Reply != (tc.code == "") {
				t.Errorf("Reply = %v with refusal %q", got.Reply, got.Refusal)
			}
			if !strings.Contains(got.Reason, tc.reason) {
				t.Errorf("Reason = %q, want it to contain %q", got.Reason, tc.reason)
			}
			if got.Reason == "" {
				t.Error("empty Reason")
			}
			if !got.Reply && !got.DueAt.IsZero() {
				t.Errorf("refused decision has DueAt %v", got.DueAt)
			}
		})
	}
}

func TestAllowedSenders(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		from    string
		want    bool
	}{
		{"star allows anyone", []string{"*"}, "stranger@elsewhere.example", true},
		{"empty allows nobody", nil, "juergen@example.test", false},
		{"glob is case-insensitive", []string{"*@EXAMPLE.test"}, "Juergen@Example.TEST", true},
		{"character class", []string{"[a-j]*@example.test"}, "juergen@example.test", true},
		{"bad glob never matches", []string{"[*@example.test"}, "juergen@example.test", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := testDept(t)
			d.AllowedSenders = tc.allowed
			m := person()
			m.From.Address = tc.from
			got := decide(d, m, arrival)
			if got.Reply != tc.want {
				t.Errorf("Reply = %v (%s), want %v", got.Reply, got.Reason, tc.want)
			}
		})
	}
}

func TestHeuristics(t *testing.T) {
	tests := []struct {
		name, subject, text string
		headers             []string
		refuse              bool
		reason              string
	}{
		{"English Outlook auto-reply", "Automatic reply: Drucker", "", nil, true, "Automatic reply:"},
		{"AutoReply prefix", "AutoReply: Ticket", "", nil, true, "AutoReply:"},
		{"RT AutoReply after a tag", "[support.example.test #33575] AutoReply: FYI", "", nil, true, "AutoReply:"},
		{"Auto: prefix", "Auto: Re: printer", "", nil, true, "Auto:"},
		{"Out of Office", "Out of Office: VPN", "", nil, true, "Out of Office:"},
		{"German Outlook", "Automatische Antwort: Passwort", "", nil, true, "Automatische Antwort:"},
		{"German Abwesenheitsnotiz", "Abwesenheitsnotiz: Zugang für Jürgen", "", nil, true, "Abwesenheitsnotiz:"},
		{"French Outlook", "Réponse automatique : Mon écran", "", nil, true, "Réponse automatique :"},
		{"Turkish", "Otomatik yanıt: şifre", "", nil, true, "Otomatik yanıt:"},
		{"Japanese", "自動応答: パスワード", "", nil, true, "自動応答:"},
		{"Chinese", "自动回复：密码", "", nil, true, "自动回复："},
		{"mlmmj refusal", "Post to staff@lists.example.test denied: Re: VPN", "", nil, true, "Post to staff@lists.example.test denied"},
		{"Mailman hold", "Your message to Staff awaits moderator approval", "", nil, true, "awaits moderator approval"},
		{"Hotmail complaint", "complaint about message from 192.0.2.222", "", nil, true, "complaint about message"},
		{"another help desk's receipt", "[REQ-4711] Your request has been received", "", nil, true, "another help desk"},
		{"ticket received", "Ticket #123 received: printer", "", nil, true, "another help desk"},
		{"German ticket receipt", "[Ticket#2024061012] Anfrage eingegangen", "", nil, true, "another help desk"},
		{"SES bounce JSON", "AWS Notification Message", `{"notificationType":"Bounce","bounce":{}}`, nil, true, "SES Bounce notification"},
		{"SES complaint in SNS envelope", "AWS Notification Message", `{"Message" : "{\"notificationType\":\"Complaint\"}"}`, nil, true, "SES Complaint"},
		{"bounce text without DSN", "Mail failure", "This message was created automatically by mail delivery software.\n\nA message that you sent could not be delivered", nil, true, "reads like a bounce"},
		{"SNS header", "Hello", "", []string{"X-Amz-Sns-Message-Id", "abc"}, true, "X-Amz-Sns-Message-Id"},
		{"X-Failed-Recipients", "Hello", "", []string{"X-Failed-Recipients", "a@b"}, true, "X-Failed-Recipients"},
		// People: none of these may be refused. A bounce's subject alone
		// does not make a robot (TestHeaderlessRobot has the robots).
		{"Undeliverable from a person", "Undeliverable: Passwort", "", nil, false, ""},
		{"Delivery Status Notification from a person", "Delivery Status Notification (Failure)", "", nil, false, ""},
		{"Postfix bounce subject from a person", "Undelivered Mail Returned to Sender", "", nil, false, ""},
		{"asking about out of office", "Out of office message does not work", "", nil, false, ""},
		{"German absence question", "Abwesenheitsnotiz einrichten – wie?", "", nil, false, ""},
		{"reply to an auto-reply", "Re: Automatic reply: Drucker", "", nil, false, ""},
		{"forwarded bounce", "Fwd: Undeliverable: Angebot", "This message was created automatically by mail delivery software.", nil, false, ""},
		{"German forward of a bounce", "WG: Unzustellbar: Angebot", "", nil, false, ""},
		{"counted forward of a bounce", "RE[2]: Angebot", "This message was created automatically by mail delivery software.", nil, false, ""},
		{"Polish forward of a bounce", "Odp: Oferta", "This message was created automatically by mail delivery software.", nil, false, ""},
		{"own ticket follow-up", "[REQ-12] laptop not received", "", nil, false, ""},
		{"French request", "Mon écran reste noir après la mise à jour", "", nil, false, ""},
		{"Turkish request", "ŞİFRE SIFIRLAMA TALEBİ", "", nil, false, ""},
		{"Japanese request", "【至急】パスワードの再設定をお願いします", "", nil, false, ""},
		{"Chinese request", "打印机无法连接，请帮忙", "", nil, false, ""},
		{"talks about notifications", "SES notificationType question", `what does "notificationType" mean?`, nil, false, ""},
		{"delivery question", "Delivery of my new laptop", "", nil, false, ""},
		{"asking why a post was denied", "Why was my post to staff@lists.example.test denied?", "", nil, false, ""},
	}
	d := testDept(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := person()
			m.Subject, m.Text = tc.subject, tc.text
			for i := 0; i+1 < len(tc.headers); i += 2 {
				m.Header[tc.headers[i]] = []string{tc.headers[i+1]}
			}
			got := decide(d, m, arrival)
			if tc.refuse {
				if got.Refusal != RefuseHeuristic || !strings.Contains(got.Reason, tc.reason) {
					t.Errorf("got %q %q, want heuristic refusal naming %q", got.Refusal, got.Reason, tc.reason)
				}
				return
			}
			if !got.Reply {
				t.Errorf("person refused: %s %s", got.Refusal, got.Reason)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	rules := []*config.Rule{
		rule(t, "password-reset", "access", `subject: [password, passwort, "mot de passe", şifre, パスワード, 密码, "locked out"]`),
		rule(t, "printer", "print", "any:\n  - subject: [drucker, imprimante, printer, 打印机, プリンター]\n  - body: /\\btoner\\b/i\n"),
		rule(t, "vpn-from-hr", "access", `{subject: vpn, from: "*@hr.example.test"}`),
		rule(t, "typo-category", "nonexistent", `subject: scanner`),
	}
	d := testDept(t, rules...)
	tests := []struct {
		name, subject, text, from string
		rule, category            string
		commitment                calendar.Commitment
	}{
		{"first rule", "Passwort vergessen", "", "", "password-reset", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"first match wins over later", "Drucker: Passwort für Web-UI", "", "", "password-reset", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"second rule via body regex", "Hilfe", "Der TONER ist leer.", "", "printer", "print", calendar.Commitment{Days: 1}},
		{"quoted body is not matched", "Hilfe", "Danke!\n> Der Toner ist leer.", "", "", "default", calendar.Commitment{Days: 3}},
		{"French", "Mot de passe expiré", "", "", "password-reset", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"French printer", "L'imprimante du 3e étage", "", "", "printer", "print", calendar.Commitment{Days: 1}},
		{"Turkish", "ŞİFRE SIFIRLAMA", "", "", "password-reset", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"Japanese", "パスワードを忘れました", "", "", "password-reset", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"Chinese", "打印机坏了", "", "", "printer", "print", calendar.Commitment{Days: 1}},
		{"two keys, both hold", "VPN geht nicht", "", "anna@hr.example.test", "vpn-from-hr", "access", calendar.Commitment{Business: 4 * time.Hour}},
		{"two keys, one fails", "VPN geht nicht", "", "", "", "default", calendar.Commitment{Days: 3}},
		{"unknown category falls back to default", "Scanner defekt", "", "", "typo-category", "default", calendar.Commitment{Days: 3}},
		{"default", "Neuer Monitor für Zoë", "", "", "", "default", calendar.Commitment{Days: 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := person()
			m.Subject, m.Text = tc.subject, tc.text
			if tc.from != "" {
				m.From.Address = tc.from
			}
			got := decide(d, m, arrival)
			if !got.Reply || got.Refusal != "" {
				t.Fatalf("not replying: %q %q", got.Refusal, got.Reason)
			}
			if got.Rule != tc.rule || got.Category != tc.category || got.Commitment != tc.commitment {
				t.Errorf("rule %q category %q commitment %+v, want %q %q %+v", got.Rule, got.Category, got.Commitment, tc.rule, tc.category, tc.commitment)
			}
			wantReason := "no rule matched: default category"
			if tc.rule != "" {
				wantReason = `matched rule "` + tc.rule + `"`
			}
			if !strings.HasPrefix(got.Reason, wantReason) {
				t.Errorf("Reason %q, want prefix %q", got.Reason, wantReason)
			}
			if got.Department != "IT Help Desk" || !got.ReceivedAt.Equal(arrival) || got.DueAt.IsZero() {
				t.Errorf("department %q received %v due %v", got.Department, got.ReceivedAt, got.DueAt)
			}
		})
	}
}

// plainMatcher is a Matcher not built by CompileMatcher; Decide must still
// call it.
type plainMatcher func(*Message) bool

func (p plainMatcher) Match(m *Message) bool { return p(m) }

func TestDecideOddInputs(t *testing.T) {
	custom := &config.Rule{Name: "custom", Category: "print"}
	d := testDept(t,
		nil,
		&config.Rule{Name: "nil-matcher", Category: "print"},
		custom,
	)
	s := &Set{match: map[*config.Rule]Matcher{custom: plainMatcher(func(m *Message) bool { return m.Subject == "custom" })}}
	if got := s.Decide(d, nil, arrival); got.Reply || got.Refusal != RefuseNoMessage {
		t.Errorf("nil message: %+v", got)
	}
	m := person()
	m.Subject = "custom"
	if got := s.Decide(d, m, arrival); got.Rule != "custom" {
		t.Errorf("custom matcher not used: %+v", got)
	}
	m.Header = nil
	if got := s.Decide(d, m, arrival); !got.Reply {
		t.Errorf("nil header map: %+v", got)
	}

	bare := &config.Department{Name: "bare", Address: "bare@example.test", AllowedSenders: []string{"*"}}
	m = person()
	m.To = []Address{{Address: "bare@example.test"}}
	got := new(Set).Decide(bare, m, arrival)
	if !got.Reply || got.Category != DefaultCategory || !got.DueAt.IsZero() {
		t.Errorf("department without calendar or categories: %+v", got)
	}
}

func TestDecideConcurrent(t *testing.T) {
	d := testDept(t, rule(t, "printer", "print", `subject: drucker`))
	s, err := Compile(&config.Config{Departments: []*config.Department{d}})
	if err != nil {
		t.Fatal(err)
	}
	want := s.Decide(d, person(), arrival)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if got := s.Decide(d, person(), arrival); !reflect.DeepEqual(got, want) {
					errs <- got.Reason
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Errorf("concurrent Decide differs: %s", e)
	}
}
