module github.com/ackd/ackd

go 1.26.0

require (
	github.com/emersion/go-imap/v2 v2.0.0-beta.8
	github.com/emersion/go-message v0.18.2
	github.com/emersion/go-smtp v0.25.1
	github.com/k3a/html2text v1.3.0
	github.com/rickar/cal/v2 v2.1.13
	golang.org/x/text v0.14.0
	gopkg.in/yaml.v3 v3.0.1
)

require github.com/emersion/go-sasl v0.0.0-20241020182733-b788ff22d5a6 // indirect
