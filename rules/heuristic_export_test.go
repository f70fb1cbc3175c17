package rules

// Heuristic lets the external corpus tests run the content heuristics on
// their own, even on messages an earlier check already refuses.
func Heuristic(m *Message) (code Refusal, reason string, refused bool) {
	r, ok := heuristic(m)
	return r.code, r.reason, ok
}
