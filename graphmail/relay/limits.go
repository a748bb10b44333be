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
	total    int // open connections
	conns    map[netip.Addr]int
	connRate map[netip.Addr]*bucket
	msgRate  map[netip.Addr]*bucket
	failures map[netip.Addr]*failures
	now      func() time.Time
}

func newLimiter(now func() time.Time) *limiter {
	return &limiter{conns: map[netip.Addr]int{}, connRate: map[netip.Addr]*bucket{}, msgRate: map[netip.Addr]*bucket{}, failures: map[netip.Addr]*failures{}, now: now}
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

// Why openConn refuses a connection.
const (
	connOK       = iota
	connTooMany  // MaxConnections, all clients together
	connFromIP   // MaxConnsPerClient
	connRateOfIP // ConnsPerMinute
)

// openConn counts a new connection from ip, or says why it is refused.
func (l *limiter) openConn(ip netip.Addr, maxTotal, maxConns, perMinute int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gc()
	switch {
	case l.total >= maxTotal:
		return connTooMany
	case l.conns[ip] >= maxConns:
		return connFromIP
	case !l.take(l.connRate, ip, perMinute):
		return connRateOfIP
	}
	l.conns[ip]++
	l.total++
	return connOK
}

func (l *limiter) closeConn(ip netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
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

// quietLog rate-limits a kind of log line to burst lines, refilled over a
// minute, so that a flood of refused connections cannot flood the log;
// the next line logged says how many were left out.
type quietLog struct {
	mu      sync.Mutex
	b       bucket
	started bool
	dropped int
}

// quietBurst is how many lines of one kind a minute quietLog lets through.
const quietBurst = 10

// allow reports whether to log a line now, and how many were left out
// since the last one.
func (q *quietLog) allow(now time.Time) (ok bool, dropped int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.started {
		q.b, q.started = bucket{tokens: quietBurst, last: now}, true
	}
	q.b.tokens = min(quietBurst, q.b.tokens+now.Sub(q.b.last).Minutes()*quietBurst)
	q.b.last = now
	if q.b.tokens < 1 {
		q.dropped++
		return false, 0
	}
	q.b.tokens--
	dropped, q.dropped = q.dropped, 0
	return true, dropped
}
