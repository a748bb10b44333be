package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"
)

// AcquireSuffix is appended to Options.Path to name the file that
// serializes token requests between processes (see LockForAcquire). Like
// the cache lock it is empty and never removed.
const AcquireSuffix = ".acquire"

// freshFor is how long a cached access token must still be valid for a
// process to take it without asking the identity platform: MSAL refreshes
// tokens that expire within five minutes.
const freshFor = 5 * time.Minute

// LockForAcquire lets one process at a time ask the identity platform for
// a token for scope when the file holds no usable one, so that a storm of
// processes starting with a cold cache (cron at the top of the hour) costs
// one token request per scope, not one each: the first asks and writes the
// file; the others, let in one by one, find the token there (MSAL reads the
// file before it asks). It returns at once, with nothing held, when the
// file already holds a token for scope valid for more than five minutes.
// The wait is bounded by Options.LockTimeout; past it (a stuck holder) the
// caller goes on without the lock, so sending never blocks on another
// process. The returned function releases the lock.
func (c *Cache) LockForAcquire(ctx context.Context, scope string) (unlock func()) {
	if c.holdsFresh(ctx, scope) {
		return func() {}
	}
	lk, err := acquireLock(ctx, c.path+AcquireSuffix, true, c.lockTimeout)
	switch {
	case err == nil:
		return lk.unlock
	case ctx.Err() != nil:
	case errors.Is(err, errLockTimeout):
		c.log.Warn("token cache: another process has been asking for a token for too long; asking without waiting", "path", c.path+AcquireSuffix, "timeout", c.lockTimeout)
	default:
		c.log.Warn("token cache: cannot lock for a token request; asking without the lock", "path", c.path+AcquireSuffix, "error", err)
	}
	return func() {}
}

// holdsFresh reports whether the file holds an access token for scope
// that is valid for more than freshFor.
func (c *Cache) holdsFresh(ctx context.Context, scope string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	plain, ok, err := c.load(ctx)
	if err != nil || !ok {
		return false
	}
	return hasFreshToken(plain, scope, c.now().Add(freshFor))
}

// hasFreshToken reports whether MSAL's serialized cache holds an access
// token whose target includes scope (case-insensitively) and that expires
// after until. MSAL writes expires_on as a string of Unix seconds.
func hasFreshToken(plain []byte, scope string, until time.Time) bool {
	var doc struct {
		AccessToken map[string]struct {
			Target    string          `json:"target"`
			ExpiresOn json.RawMessage `json:"expires_on"`
		} `json:"AccessToken"`
	}
	if json.Unmarshal(plain, &doc) != nil {
		return false
	}
	for _, at := range doc.AccessToken {
		if !targetHas(at.Target, scope) {
			continue
		}
		raw := strings.Trim(string(at.ExpiresOn), `"`)
		secs, err := strconv.ParseInt(raw, 10, 64)
		if err == nil && time.Unix(secs, 0).After(until) {
			return true
		}
	}
	return false
}

func targetHas(target, scope string) bool {
	for _, t := range strings.Fields(target) {
		if strings.EqualFold(t, scope) {
			return true
		}
	}
	return false
}
