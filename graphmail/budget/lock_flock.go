//go:build unix && !aix

package budget

import (
	"os"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive flock(2) on lf, waiting for it.
func lockFile(lf *os.File) error {
	for {
		err := unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			return err
		}
	}
}

// unlockFile releases lockFile's lock.
func unlockFile(lf *os.File) { unix.Flock(int(lf.Fd()), unix.LOCK_UN) }
