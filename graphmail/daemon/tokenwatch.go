package daemon

import (
	"context"
	"sync"
	"time"
)

// TokenWatchInterval is how often the daemon checks that a token can be
// had. The token provider answers from its cache until the token nears
// expiry, so this costs about one token request an hour.
const TokenWatchInterval = time.Minute

// tokenWatch keeps the daemon's view of its credential: whether a token
// could be had at the last check, and until when it is valid. /readyz and
// /metrics read it; no HTTP request ever makes the daemon ask the identity
// platform for a token (an unauthenticated client could otherwise drive
// token traffic).
type tokenWatch struct {
	tokens   TokenSource
	scope    string
	interval time.Duration

	mu      sync.Mutex
	checked bool
	expires time.Time
	err     error
	// checkedCh is closed after the first check (for tests and for a
	// readiness answer that is not "not checked yet" forever).
	checkedCh chan struct{}
}

func newTokenWatch(tokens TokenSource, scope string, interval time.Duration) *tokenWatch {
	if interval <= 0 {
		interval = TokenWatchInterval
	}
	return &tokenWatch{tokens: tokens, scope: scope, interval: interval, checkedCh: make(chan struct{})}
}

// run checks at once and then every interval until ctx ends.
func (w *tokenWatch) run(ctx context.Context) {
	t := time.NewTicker(w.interval)
	defer t.Stop()
	for {
		w.check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (w *tokenWatch) check(ctx context.Context) {
	if w.tokens == nil {
		w.mu.Lock()
		first := !w.checked
		w.checked = true
		w.mu.Unlock()
		if first {
			close(w.checkedCh)
		}
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := w.tokens.Token(ctx, w.scope, false)
	w.mu.Lock()
	first := !w.checked
	w.checked, w.err = true, err
	if err == nil {
		w.expires = tok.ExpiresOn
	}
	w.mu.Unlock()
	if first {
		close(w.checkedCh)
	}
}

// state returns the last check's result; checked is false before the
// first check ended.
func (w *tokenWatch) state() (checked bool, expires time.Time, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checked, w.expires, w.err
}
