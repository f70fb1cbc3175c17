package config

import "fmt"

// presetSent is the English name of the Sent folder on a provider's IMAP
// server. Both mark it \Sent (RFC 6154), so ackd finds it without
// sent_mailbox; the name is only for the warning.
var presetSent = map[string]string{
	ProviderMicrosoft365: "Sent Items",
	ProviderGoogle:       "[Gmail]/Sent Mail",
}

// ProviderWarnings are settings that quietly undo an imap or smtp
// section's provider: preset. The loader lets an explicit host, port or
// tls win over the preset (a test server, a proxy), so a block merged into
// the example config still connects to the example's 127.0.0.1; and a
// sent_mailbox copied from the example names a folder Exchange and Gmail
// do not have. Warnings, not problems: each can be meant.
func (c *Config) ProviderWarnings() []string {
	var out []string
	if w := presetOverride("smtp", c.SMTP.Provider, providerPresets[c.SMTP.Provider].smtpHost,
		DefaultSMTPPort, TLSStartTLS, c.SMTP.Host, c.SMTP.Port, c.SMTP.TLS); w != "" {
		out = append(out, w)
	}
	for _, d := range c.Departments {
		ic := d.IMAP
		what := fmt.Sprintf("department %q imap", d.Name)
		if w := presetOverride(what, ic.Provider, providerPresets[ic.Provider].imapHost,
			993, TLSImplicit, ic.Host, ic.Port, ic.TLS); w != "" {
			out = append(out, w)
		}
		if sent, ok := presetSent[ic.Provider]; ok && ic.SentMailbox != "" && ic.SentMailbox != sent {
			out = append(out, fmt.Sprintf("%s: sent_mailbox %q with provider: %s: without sent_mailbox ackd finds the Sent folder "+
				"(%q in English) by its \\Sent attribute, and a folder the server does not have is never read, so staff "+
				"replies are not followed; remove sent_mailbox unless that folder exists", what, ic.SentMailbox, ic.Provider, sent))
		}
	}
	return out
}

// presetOverride warns when host, port or tls differ from what the
// provider preset would have set; "" when they agree or there is no preset.
func presetOverride(what, provider, presetHost string, presetPort int, presetTLS, host string, port int, tls string) string {
	if provider == "" || presetHost == "" {
		return ""
	}
	if host == presetHost && port == presetPort && tls == presetTLS {
		return ""
	}
	return fmt.Sprintf("%s: provider: %s means %s:%d (tls %s), but host, port or tls in the same section make ackd "+
		"connect to %s:%d (tls %s); remove host, port and tls to use the preset", what, provider,
		presetHost, presetPort, presetTLS, host, port, tls)
}
