package budget

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// processStart returns the start time of process pid (in clock ticks
// since boot, field 22 of /proc/pid/stat) and whether the process exists
// (a zombie does not count). An unreadable /proc counts as existing.
func processStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		return "", true
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", true
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) > 0 && (f[0] == "Z" || f[0] == "X") {
		return "", false
	}
	if len(f) < 20 {
		return "", true
	}
	return f[19], true // field 22; f[0] is field 3
}

// pidNamespace returns the inode of this process's pid namespace, or "".
func pidNamespace() string {
	l, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return ""
	}
	// "pid:[4026531836]"
	l = strings.TrimPrefix(l, "pid:[")
	return strings.TrimSuffix(l, "]")
}
