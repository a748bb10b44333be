//go:build !unix

package spool

// lockDir does nothing where flock is not available: run one daemon per
// spool directory.
func lockDir(dir string) (func(), error) { return func() {}, nil }
