package relay

import (
	"net/netip"
	"sync"
	"time"
)

// limiter keeps the per-client-IP counters: open connections, recent
// connections and messages (token buckets), and AUTH failures.
type limiter struct {
	mu       sync.Mutex
	conns    map[netip.Addr]int
	connRate map[netip.Addr]*bucket
	msgRate  map[netip.Addr]*bucket
	failures map[netip.Addr]*failures
	now      func() time.Time
}

func newLimiter() *limiter {
	return &limiter{conns: map[netip.Addr]int{}, connRate: map[netip.Addr]*bucket{}, msgRate: map[netip.Addr]*bucket{}, failures: map[netip.Addr]*failures{}, now: time.Now}
}

// bucket is a token bucket holding up to perMinute tokens, refilled
// evenly over a minute.
type bucket struct {
	tokens float64
	last   time.Time
}

func (l *limiter) take(m map[netip.Addr]*bucket, ip netip.Addr, perMinute int) bool {
	if perMinute <= 0 {
		return true
	}
	now := l.now()
	b, ok := m[ip]
	if !ok {
		b = &bucket{tokens: float64(perMinute), last: now}
		m[ip] = b
	}
	b.tokens = min(float64(perMinute), b.tokens+now.Sub(b.last).Minutes()*float64(perMinute))
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// openConn counts a new connection from ip; false means refuse it.
func (l *limiter) openConn(ip netip.Addr, maxConns, perMinute int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc()
	if l.conns[ip] >= maxConns || !l.take(l.connRate, ip, perMinute) {
		return false
	}
	l.conns[ip]++
	return true
}

func (l *limiter) closeConn(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.conns[ip]--; l.conns[ip] <= 0 {
		delete(l.conns, ip)
	}
}

// message counts a message from ip; false means over the rate.
func (l *limiter) message(ip netip.Addr, perMinute int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.take(l.msgRate, ip, perMinute)
}

// failures counts recent AUTH failures from one IP.
type failures struct {
	n    int
	last time.Time
}

// failureMemory is how long an IP's AUTH failures count.
const failureMemory = 15 * time.Minute

// authFailed records a failure and returns how long to delay the reply.
func (l *limiter) authFailed(ip netip.Addr, base time.Duration) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.failures[ip]
	if !ok || now.Sub(f.last) > failureMemory {
		f = &failures{}
		l.failures[ip] = f
	}
	f.n++
	f.last = now
	return base << min(f.n-1, 5)
}

// gc forgets idle buckets and old failures; called with mu held.
func (l *limiter) gc() {
	now := l.now()
	if len(l.connRate)+len(l.msgRate)+len(l.failures) < 1024 {
		return
	}
	for _, m := range []map[netip.Addr]*bucket{l.connRate, l.msgRate} {
		for ip, b := range m {
			if now.Sub(b.last) > time.Minute {
				delete(m, ip)
			}
		}
	}
	for ip, f := range l.failures {
		if now.Sub(f.last) > failureMemory {
			delete(l.failures, ip)
		}
	}
}
