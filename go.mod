module github.com/ackd/ackd

go 1.26.0

require (
	github.com/rickar/cal/v2 v2.1.13
	gopkg.in/yaml.v3 v3.0.1
)
