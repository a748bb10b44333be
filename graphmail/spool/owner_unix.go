//go:build unix

package spool

import (
	"errors"
	"io/fs"
	"os"
	"syscall"
)

// fileOwner returns the owner, group and link count of a file.
func fileOwner(fi fs.FileInfo) (uid, gid uint32, nlink uint64, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, 0, false
	}
	return st.Uid, st.Gid, uint64(st.Nlink), true
}

// openNoFollow opens name for reading. It refuses a symbolic link and does
// not wait for a writer when name is a FIFO.
func openNoFollow(name string) (*os.File, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if errors.Is(err, syscall.ELOOP) || errors.Is(err, syscall.EMLINK) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errSymlink}
	}
	return f, err
}

// createExcl creates name for writing: never an existing file, never
// through a symbolic link.
func createExcl(name string, perm fs.FileMode) (*os.File, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, perm)
}

// processOwner returns the spool owner as seen from this process: the
// owner of dir, and whether this process (root) must give it the files it
// makes.
func processOwner(dir string) (*owner, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	uid, gid, _, ok := fileOwner(fi)
	if !ok {
		return nil, nil
	}
	return &owner{uid: uid, gid: gid, chown: os.Geteuid() == 0 && uid != 0}, nil
}
