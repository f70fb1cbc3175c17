package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/ackd/ackd/config"
	"github.com/ackd/ackd/internal/corpus"
	"github.com/ackd/ackd/rules"
)

// benchVocabulary is what help-desk rules look for, in the languages the
// tests use; most corpus messages match none of it, so a typical decision
// walks all 200 rules, which is the case worth measuring.
var benchVocabulary = []string{
	"password", "passwort", "mot de passe", "şifre", "パスワード", "密码", "locked out", "account locked",
	"vpn", "drucker", "imprimante", "printer", "打印机", "toner", "scanner", "monitor", "bildschirm", "écran",
	"laptop", "notebook", "docking station", "headset", "keyboard", "tastatur", "maus", "mouse",
	"outlook", "teams", "zoom", "sharepoint", "onedrive", "excel", "sap", "citrix", "wlan", "wifi",
	"netzwerk", "réseau", "network", "firewall", "proxy", "zertifikat", "certificate", "lizenz", "license",
	"neuer mitarbeiter", "new hire", "onboarding", "offboarding", "zugang", "access request", "berechtigung",
	"permission", "mailbox", "postfach", "shared drive", "laufwerk", "backup", "restore", "wiederherstellen",
	"virus", "phishing", "spam", "malware", "handy", "smartphone", "mobile", "iphone", "android", "telefon",
	"urgent", "dringend", "urgente", "至急", "緊急", "紧急", "ausfall", "panne", "outage", "down",
}

func benchRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	v := benchVocabulary
	w := func(i int) string { return fmt.Sprintf("%q", v[i%len(v)]) }
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "  - name: rule-%d\n    category: default\n    match:\n", i)
		switch i % 10 {
		case 0, 1, 2, 3:
			fmt.Fprintf(&b, "      subject: [%s, %s, %s, %s]\n", w(i), w(i+7), w(i+13), w(i+29))
		case 4:
			fmt.Fprintf(&b, "      body: [%s, %s, %s]\n", w(i), w(i+11), w(i+23))
		case 5:
			fmt.Fprintf(&b, "      subject: %q\n", fmt.Sprintf(`/(?i)\b(ticket|case|inc)[ -]?%d\d{3}\b/`, i%10+1))
		case 6:
			fmt.Fprintf(&b, "      from: [\"*@dept%d.example.test\", \"@branch%d.example.test\", boss%d@example.test]\n", i, i, i)
		case 7:
			fmt.Fprintf(&b, "      header: {X-Priority: [\"1\", \"/^2 /\"], X-Department: %s}\n", w(i))
		case 8:
			fmt.Fprintf(&b, "      any:\n        - subject: %s\n        - all: [{body: %s}, {not: {from: \"*@example.test\"}}]\n        - {cc: \"*@vip.example.test\", subject: %s}\n",
				w(i+3), w(i+5), w(i+9))
		case 9:
			if i%20 == 9 {
				fmt.Fprintf(&b, "      body: %q\n", fmt.Sprintf(`/(?i)error code %d\d\d/`, i%9+1))
			} else {
				fmt.Fprintf(&b, "      all:\n        - subject: [%s, %s]\n        - not: {subject: %s}\n", w(i), w(i+31), w(i+41))
			}
		}
	}
	return b.String()
}

func compileBenchRules(b *testing.B, n int) []*config.Rule {
	b.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(benchRules(n)), &doc); err != nil {
		b.Fatalf("bench rules yaml: %v", err)
	}
	list := doc.Content[0].Content[1]
	out := make([]*config.Rule, 0, len(list.Content))
	for _, item := range list.Content {
		var name, cat string
		var match *yaml.Node
		for i := 0; i+1 < len(item.Content); i += 2 {
			switch item.Content[i].Value {
			case "name":
				name = item.Content[i+1].Value
			case "category":
				cat = item.Content[i+1].Value
			case "match":
				match = item.Content[i+1]
			}
		}
		out = append(out, &config.Rule{Name: name, Category: cat, Match: match})
	}
	return out
}

func BenchmarkDecide(b *testing.B) {
	files := corpus.Files(b, "requests")
	msgs := make([]*rules.Message, 0, len(files))
	depts := make([]*config.Department, 0, len(files))
	rs := compileBenchRules(b, 200)
	if len(rs) != 200 {
		b.Fatalf("compiled %d rules", len(rs))
	}
	set, err := rules.Compile(&config.Config{File: "bench.yaml", Departments: []*config.Department{{Rules: rs}}})
	if err != nil {
		b.Fatalf("compile: %v", err)
	}
	// Only messages that reach the rules are timed: refused ones stop
	// early and would flatter the figure.
	matched, refused := 0, 0
	for _, f := range files {
		m := parseFile(b, f)
		d, _ := corpusDept(m)
		d.Rules = rs
		dec := set.Decide(d, m, corpusArrival)
		if !dec.Reply {
			refused++
			continue
		}
		if dec.Rule != "" {
			matched++
		}
		msgs = append(msgs, m)
		depts = append(depts, d)
	}
	b.Logf("%d messages timed (%d refused before the rules left out); %d matched a rule, the rest walked all %d rules",
		len(msgs), refused, matched, len(rs))
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		k := n % len(msgs)
		set.Decide(depts[k], msgs[k], corpusArrival)
		n++
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "decisions/s")
}
