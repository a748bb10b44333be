//go:build unix && !linux

package budget

import (
	"errors"

	"golang.org/x/sys/unix"
)

// processStart reports whether process pid exists (kill(pid, 0)); the
// start time is not known here.
func processStart(pid int) (string, bool) {
	return "", !errors.Is(unix.Kill(pid, 0), unix.ESRCH)
}

// pidNamespace returns "": there are no pid namespaces here.
func pidNamespace() string { return "" }
