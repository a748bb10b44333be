package smtpfallback

import (
	"context"
	"slices"
	"sync"
	"time"
)

// pool holds the connections of one mailbox: at most max open (idle, busy
// or being dialled), idle ones authenticated and ready for RSET.
type pool struct {
	max         int
	idleTimeout time.Duration
	now         func() time.Time

	mu      sync.Mutex
	open    int
	idle    []*session // most recently used last
	waiters []chan struct{}
	closed  bool
}

func newPool(max int, idleTimeout time.Duration, now func() time.Time) *pool {
	return &pool{max: max, idleTimeout: idleTimeout, now: now}
}

// get returns an idle session, or nil and a reserved slot for a new
// connection; the caller must then either put a session or call release.
// It waits, until ctx ends, while max connections are busy.
func (p *pool) get(ctx context.Context) (*session, error) {
	for {
		var stale []*session
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, ErrClosed
		}
		var s *session
		for len(p.idle) > 0 && s == nil {
			s = p.idle[len(p.idle)-1]
			p.idle = p.idle[:len(p.idle)-1]
			s.timer.Stop()
			if p.now().Sub(s.idleSince) >= p.idleTimeout {
				stale = append(stale, s)
				p.open--
				s = nil
			}
		}
		reserved := false
		if s == nil && p.open < p.max {
			p.open++
			reserved = true
		}
		var wait chan struct{}
		if s == nil && !reserved {
			wait = make(chan struct{})
			p.waiters = append(p.waiters, wait)
		}
		p.mu.Unlock()

		for _, st := range stale {
			go st.close()
		}
		if s != nil || reserved {
			return s, nil
		}
		select {
		case <-wait:
		case <-ctx.Done():
			p.mu.Lock()
			if i := slices.Index(p.waiters, wait); i >= 0 {
				p.waiters = slices.Delete(p.waiters, i, i+1)
			} else {
				// Woken and cancelled at once: pass the turn on.
				p.wakeLocked()
			}
			p.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// put returns a healthy, authenticated session for reuse.
func (p *pool) put(s *session) {
	p.mu.Lock()
	if p.closed {
		p.open--
		p.mu.Unlock()
		s.close()
		return
	}
	s.idleSince = p.now()
	s.idleGen++
	gen := s.idleGen
	s.timer = time.AfterFunc(p.idleTimeout, func() { p.expire(s, gen) })
	p.idle = append(p.idle, s)
	p.wakeLocked()
	p.mu.Unlock()
}

// release gives back the slot of a session that was closed or never made.
func (p *pool) release() {
	p.mu.Lock()
	p.open--
	p.wakeLocked()
	p.mu.Unlock()
}

// expire closes s if it is still idle since the put numbered gen.
func (p *pool) expire(s *session, gen uint64) {
	p.mu.Lock()
	i := slices.Index(p.idle, s)
	if i < 0 || s.idleGen != gen {
		p.mu.Unlock()
		return
	}
	p.idle = slices.Delete(p.idle, i, i+1)
	p.open--
	p.wakeLocked()
	p.mu.Unlock()
	s.close()
}

// close closes the idle sessions and fails waiting and future gets. Busy
// sessions are closed when they are put back.
func (p *pool) close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	for _, w := range p.waiters {
		close(w)
	}
	p.waiters = nil
	for _, s := range idle {
		s.timer.Stop()
	}
	p.mu.Unlock()

	var wg sync.WaitGroup
	for _, s := range idle {
		wg.Go(s.close)
	}
	wg.Wait()
}

// wakeLocked lets the longest waiter try again.
func (p *pool) wakeLocked() {
	if len(p.waiters) > 0 {
		close(p.waiters[0])
		p.waiters = p.waiters[1:]
	}
}
