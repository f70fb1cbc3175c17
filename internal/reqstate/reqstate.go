// Package reqstate names where a request is: the one set of request
// states that the store keeps and the lifecycle moves between. It is a
// leaf (no imports) because the store may import only the standard
// library and the lifecycle must not import the store; both alias these
// (store.State*, lifecycle.New …), so existing names keep working.
package reqstate

// State is where a request is. The store keeps it as the string.
type State string

// Request states. A request is open until it is resolved.
const (
	New          State = "new"
	Acknowledged State = "acknowledged"
	Answered     State = "answered"
	Waiting      State = "waiting"
	Overdue      State = "overdue"
	Resolved     State = "resolved"
)
