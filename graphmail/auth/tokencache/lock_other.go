//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tokencache

import "os"

// fileLock is a no-op on systems without flock(2). Files are still replaced
// atomically, so readers never see a partial file, but concurrent writers
// may drop each other's tokens (the next process then fetches a new one).
type fileLock struct{ f *os.File }

func openLockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, fileMode)
}

func tryLock(*os.File, bool) (bool, error) { return true, nil }

func unlockFile(*os.File) {}
