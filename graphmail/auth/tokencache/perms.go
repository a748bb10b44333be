package tokencache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PermissionError reports a cache directory or file whose ownership or mode
// would let someone else read or replace the cache. New returns it instead of
// repairing the permissions: a loose mode may be deliberate, or a sign of
// tampering, and either way a person should look.
type PermissionError struct {
	// Path is the directory or file at fault.
	Path string
	// Problem says what is wrong, for example "is writable by group or
	// others (mode 0770)".
	Problem string

	fix string // the command Hint suggests, "" if none
}

// Error implements error.
func (e *PermissionError) Error() string {
	return fmt.Sprintf("tokencache: %s %s", e.Path, e.Problem)
}

// Hint returns the next step for a person, such as "chmod 700 /path" (the
// path quoted for a POSIX shell if needed), for a CLI "hint:" line.
func (e *PermissionError) Hint() string {
	if e.fix != "" {
		return e.fix
	}
	return "remove " + e.Path + " or point the token cache elsewhere; graphmail recreates it"
}

// The modes New creates and requires.
const (
	dirMode  fs.FileMode = 0o700
	fileMode fs.FileMode = 0o600
)

// ensureDir creates dir (and missing parents) with mode 0700 and checks it:
// it must be a directory, owned by the current user or root, and not
// writable by group or others.
func ensureDir(dir string) error {
	return ensureDirFor(dir, "the cache directory")
}

// ensureDirFor is ensureDir for a directory that error messages call what.
func ensureDirFor(dir, what string) error {
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("tokencache: creating %s: %w", what, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("tokencache: %w", err)
	}
	if !fi.IsDir() {
		return &PermissionError{Path: dir, Problem: "is not a directory"}
	}
	if uid, ok := fileOwner(fi); ok && uid != currentUID() && uid != 0 {
		return &PermissionError{Path: dir, Problem: fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", uid, currentUID()),
			fix: fmt.Sprintf("chown %d %s", currentUID(), quote(dir))}
	}
	if checkModes && fi.Mode().Perm()&0o022 != 0 {
		return &PermissionError{Path: dir, Problem: fmt.Sprintf("is writable by group or others (mode %04o)", fi.Mode().Perm()),
			fix: "chmod 700 " + quote(dir)}
	}
	return nil
}

// checkFile checks an existing cache file: a regular file owned by the
// current user with no group or other permissions. A missing file is fine.
func checkFile(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokencache: %w", err)
	}
	return checkFileInfo(path, fi)
}

// checkFileInfo is checkFile for the file at path described by fi.
func checkFileInfo(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return &PermissionError{Path: path, Problem: "is not a regular file"}
	}
	if uid, ok := fileOwner(fi); ok && uid != currentUID() {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("is owned by uid %d, not by the current user (uid %d)", uid, currentUID())}
	}
	if checkModes && fi.Mode().Perm()&0o077 != 0 {
		return &PermissionError{Path: path, Problem: fmt.Sprintf("is accessible by group or others (mode %04o)", fi.Mode().Perm()),
			fix: "chmod 600 " + quote(path)}
	}
	return nil
}

// quote returns p as one shell word.
func quote(p string) string {
	p = filepath.Clean(p)
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '_' || r == '-') {
			return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
		}
	}
	return p
}
