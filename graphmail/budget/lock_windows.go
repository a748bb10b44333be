package budget

import (
	"os"

	"golang.org/x/sys/windows"
)

// lockFile takes an exclusive LockFileEx lock on lf's first byte, waiting
// for it.
func lockFile(lf *os.File) error {
	return windows.LockFileEx(windows.Handle(lf.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, new(windows.Overlapped))
}

// unlockFile releases lockFile's lock.
func unlockFile(lf *os.File) {
	windows.UnlockFileEx(windows.Handle(lf.Fd()), 0, 1, 0, new(windows.Overlapped))
}
