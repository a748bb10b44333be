//go:build !unix

package spool

import "context"

// lockRun does nothing where flock is not available: run one daemon per
// spool directory, and no queue run beside it.
func (s *Spool) lockRun(ctx context.Context) (func(), error) { return func() {}, nil }

// lockOnce does nothing where flock is not available.
func (s *Spool) lockOnce() (unlock func(), waiting func() bool, err error) {
	return func() {}, func() bool { return false }, nil
}
