//go:build (!unix && !windows) || aix

package budget

import (
	"errors"
	"os"
)

// lockFile fails: there is no file locking here, so each process keeps to
// its own limits (File logs this once).
func lockFile(lf *os.File) error { return errors.ErrUnsupported }

// unlockFile does nothing.
func unlockFile(lf *os.File) {}
