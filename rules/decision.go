package rules

import (
	"time"

	"github.com/ackd/ackd/calendar"
)

// Decision is the outcome of Decide for one message: whether ackd sends a
// receipt, why, and what it commits to.
type Decision struct {
	// Reply is true when a receipt should be sent.
	Reply bool
	// Reason says in words a person understands why ackd replies or not:
	// `matched rule "password-reset"`, "Auto-Submitted: auto-replied",
	// "List-Id present", "sender outside allowed_senders".
	Reason string
	// Refusal is a short stable code for the refusal ("auto-submitted",
	// "list", "bounce", "system-sender", …), empty when Reply is true. It is
	// what metrics and `ackd status` group by.
	Refusal Refusal

	Department string // department name
	Rule       string // name of the matching rule, "" when the default category caught it
	Category   string
	Commitment calendar.Commitment
	ReceivedAt time.Time // arrival time (IMAP INTERNALDATE), as given to Decide
	DueAt      time.Time // ReceivedAt plus Commitment in business time; zero when Reply is false

	// Language is the base language code the requester is answered in
	// and LanguageReason why (lang.Choice); both empty when Reply is false.
	Language       string
	LanguageReason string

	// AskFor are the lines of the category's and rule's ask_for the
	// request does not already answer, in Language; Present the ones it
	// does (left out of the receipt). Links are the category's and rule's
	// links with their titles in Language.
	AskFor  []string
	Present []string
	Links   []DecisionLink
}

// DecisionLink is a link for the receipt, its title in the request's language.
type DecisionLink struct {
	Title, URL string
}
