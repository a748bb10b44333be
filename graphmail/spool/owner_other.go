//go:build !unix

package spool

import (
	"io/fs"
	"os"
)

// fileOwner knows no owners where there are no unix permissions.
func fileOwner(fi fs.FileInfo) (uid, gid uint32, nlink uint64, ok bool) { return 0, 0, 0, false }

func openNoFollow(name string) (*os.File, error) { return os.Open(name) }

func createExcl(name string, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
}

func processOwner(dir string) (*owner, error) { return nil, nil }
