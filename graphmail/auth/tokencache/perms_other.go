//go:build !unix

package tokencache

import "io/fs"

// checkModes is false where Unix permission bits are not enforced (Windows):
// there the file relies on the ACLs of the user's profile directory.
const checkModes = false

func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

func currentUID() int { return -1 }

// syncDir is a no-op: directories cannot be opened for syncing on Windows.
func syncDir(string) error { return nil }
