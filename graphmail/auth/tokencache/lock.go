package tokencache

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// errLockTimeout means another process held the lock for longer than
// Options.LockTimeout.
var errLockTimeout = errors.New("timed out waiting for the token cache lock")

// acquireLock takes the lock beside the cache file, shared or exclusive,
// polling until it is free, ctx is done or timeout passes. On ctx's end it
// returns ctx.Err(); on timeout errLockTimeout.
func acquireLock(ctx context.Context, path string, exclusive bool, timeout time.Duration) (*fileLock, error) {
	f, err := openLockFile(path)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		ok, err := tryLock(f, exclusive)
		if err != nil {
			_ = f.Close()
			return nil, err
		}
		if ok {
			return &fileLock{f: f}, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			_ = f.Close()
			return nil, errLockTimeout
		}
		// Jitter keeps a storm of processes from polling in step.
		d := min(wait/2+rand.N(wait), left)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			_ = f.Close()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// unlock releases the lock. Closing the descriptor releases it too, and the
// kernel does so when a process dies, so a crashed writer never leaves a
// stale lock. The lock file itself is never removed: removing it would let
// two processes lock two different files.
func (l *fileLock) unlock() {
	unlockFile(l.f)
	_ = l.f.Close()
}
