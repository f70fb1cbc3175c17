package mailwatch

import (
	"strings"
	"sync"
	"time"
)

// Limiter caps receipts per requester per hour and across all departments
// per minute, so a forged flood or a robot that slipped past loop
// protection cannot turn ackd into a spam cannon.
type Limiter struct {
	perSender int // per hour; 0 = unlimited
	global    int // per minute; 0 = unlimited

	mu      sync.Mutex
	senders map[string][]time.Time
	recent  []time.Time
}

// NewLimiter builds a limiter; zero means no cap.
func NewLimiter(perSenderPerHour, globalPerMinute int) *Limiter {
	return &Limiter{perSender: perSenderPerHour, global: globalPerMinute, senders: map[string][]time.Time{}}
}

// Allow records a receipt to sender at now and reports whether it is
// within both caps; when not, it says which cap bit.
func (l *Limiter) Allow(sender string, now time.Time) (bool, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	sender = strings.ToLower(sender)
	l.recent = prune(l.recent, now.Add(-time.Minute))
	hist := prune(l.senders[sender], now.Add(-time.Hour))
	if l.global > 0 && len(l.recent) >= l.global {
		l.senders[sender] = hist
		return false, "global receipt limit per minute reached"
	}
	if l.perSender > 0 && len(hist) >= l.perSender {
		l.senders[sender] = hist
		return false, "receipt limit per sender per hour reached"
	}
	l.recent = append(l.recent, now)
	l.senders[sender] = append(hist, now)
	if len(l.senders) > 10000 {
		// Forget idle senders so memory stays bounded under a flood of
		// distinct forged addresses.
		for k, v := range l.senders {
			if len(prune(v, now.Add(-time.Hour))) == 0 {
				delete(l.senders, k)
			}
		}
	}
	return true, ""
}

func prune(ts []time.Time, after time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(after) {
		i++
	}
	return ts[i:]
}
