package mailwatch

import (
	"encoding/json"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/ackd/ackd/mailwatch/store"
	"github.com/ackd/ackd/rules"
)

// decideInputVersion is the shape of DecideInput this ackd writes.
const decideInputVersion = 1

// DecideInput is what a request was decided from and what was decided,
// as the daemon stores it with the request (store.NewRequest.DecideInput)
// so that `ackd replay` can decide it again with another config.
type DecideInput struct {
	Version int `json:"v"`
	// Message is the parsed message exactly as Decide saw it: headers,
	// addresses, content flags and the whole capped body text.
	Message *rules.Message `json:"message"`
	// Commitment and Due are what the config in force decided; the
	// request's DueAt may move later (#eta, reopen), these do not.
	Commitment string    `json:"commitment,omitempty"`
	Due        time.Time `json:"due,omitzero"`
}

// EncodeDecideInput encodes m and d for store.NewRequest.DecideInput.
func EncodeDecideInput(m *rules.Message, d rules.Decision) (string, error) {
	in := DecideInput{Version: decideInputVersion, Message: m, Due: d.DueAt}
	if !d.Commitment.IsZero() {
		in.Commitment = d.Commitment.String()
	}
	b, err := json.Marshal(in)
	if err != nil {
		return "", fmt.Errorf("encode decide input: %w", err)
	}
	return string(b), nil
}

// StoredInput returns what request r was decided from. With raw, the
// DecideInput stored with it, the message is exact (exact true). A request
// recorded before inputs were kept (raw "") gets a message rebuilt from
// its row: requester, subject, the recipients and the department's
// address as To, and the text excerpt; no other header, so rules on
// headers or on body text past the excerpt may decide it differently,
// and exact is false. Its original due is r.DueAt while its commitment
// cycle never restarted, else zero.
func StoredInput(r store.Request, deptAddress, raw string) (in DecideInput, exact bool, err error) {
	if raw != "" {
		if err := json.Unmarshal([]byte(raw), &in); err != nil {
			return DecideInput{}, false, fmt.Errorf("decode decide input of %s: %w", r.Ref, err)
		}
		if in.Message == nil {
			return DecideInput{}, false, fmt.Errorf("decode decide input of %s: no message", r.Ref)
		}
		return in, true, nil
	}
	m := &rules.Message{
		MessageID: r.MessageID, From: rules.Address{Name: r.RequesterName, Address: r.Requester},
		To: []rules.Address{{Address: deptAddress}}, Subject: r.Subject, Text: r.Text,
		Header: map[string][]string{"From": {r.Requester}, "To": {deptAddress}, "Subject": {r.Subject}},
	}
	for _, a := range r.Recipients {
		m.Cc = append(m.Cc, rules.Address{Address: a})
	}
	in = DecideInput{Message: m}
	if r.CycleStart.IsZero() || r.CycleStart.Equal(r.ReceivedAt) {
		in.Due = r.DueAt
	}
	return in, false, nil
}

// skippedTextBytes caps the text a skipped message keeps for replay: most
// skips are lists and bounces, and a rule on words past the first 8 KiB
// of a body is rare.
const skippedTextBytes = 8 << 10

// skippedInput is the DecideInput a skip keeps (store.Skipped): m with
// its text capped at skippedTextBytes; "" when it cannot be encoded,
// which costs replay one message, never the skip.
func skippedInput(m *rules.Message, d rules.Decision) string {
	c := *m
	if len(c.Text) > skippedTextBytes {
		cut := skippedTextBytes
		for cut > 0 && !utf8.RuneStart(c.Text[cut]) {
			cut--
		}
		c.Text = c.Text[:cut]
	}
	in, err := EncodeDecideInput(&c, d)
	if err != nil {
		return ""
	}
	return in
}
