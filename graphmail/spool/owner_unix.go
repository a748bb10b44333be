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

// Modes of the spool directory and of maildrop/ when Open makes them (an
// existing directory keeps the mode its administrator gave it). The spool
// directory lets everyone through (but not list it), so that any user can
// reach maildrop/: write and search for everyone, no listing, sticky (a
// user cannot remove or rename another user's files), setgid (a file made
// in it belongs to the spool's group, which lets the owner read it).
const (
	modeSpoolDir = 0o711
	modeMaildrop = fs.ModeDir | fs.ModeSetgid | fs.ModeSticky | 0o733
)

// mkdirMode makes dir with the given mode (whatever the umask) when it does
// not exist, given to the spool's owner when this process is root.
func mkdirMode(dir string, mode fs.FileMode, own *owner) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil
		}
		return err
	}
	if own != nil && own.chown {
		if err := os.Chown(dir, int(own.uid), int(own.gid)); err != nil {
			return err
		}
	}
	return os.Chmod(dir, mode)
}
