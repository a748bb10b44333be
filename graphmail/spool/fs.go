package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// fileSystem is the part of the operating system the spool uses. Every
// durability step is one call, so a test can record their order and check
// that a message is on disk (written, fsynced, renamed, directory fsynced)
// before Enqueue returns.
type fileSystem interface {
	// writeFileSync creates name, writes data, fsyncs and closes it.
	writeFileSync(name string, data []byte) error
	// createSync creates name, lets fill write it, fsyncs and closes it;
	// when fill fails, name is removed.
	createSync(name string, fill func(f *os.File) error) error
	// openFile opens a regular file for reading, with readFile's checks.
	openFile(name string) (*os.File, error)
	// rename renames oldpath to newpath (atomic within one file system).
	rename(oldpath, newpath string) error
	// remove removes name; a missing file is not an error.
	remove(name string) error
	// syncDir fsyncs a directory, making renames and removals in it durable.
	syncDir(dir string) error
	// readFile reads a regular file without following a symbolic link.
	readFile(name string) ([]byte, error)
	readDir(dir string) ([]fs.DirEntry, error)
	stat(name string) (fs.FileInfo, error)
	mkdirAll(dir string) error
}

// owner is the user and group that own a spool: the owner of its
// directory. Files in queue/ owned by anyone else (but root) are not
// trusted, and a process running as root gives the files and directories
// it makes to the owner, so that the daemon can read them.
type owner struct {
	uid, gid uint32
	chown    bool // this process runs as root and the owner is not root
}

// osFS is the real file system. With own set, files it reads must belong
// to the spool's owner or to root, and (when own.chown) files and
// directories it makes are given to the owner.
type osFS struct {
	own *owner
}

// Reasons a file in the spool cannot be used; see quarantine.
var (
	errNotRegular = errors.New("not a regular file")
	errSymlink    = errors.New("a symbolic link")
	errHardLinked = errors.New("has other hard links")
	errTooLarge   = errors.New("too large")
)

// foreignError is a file owned by someone who may not write into the
// queue.
type foreignError struct{ uid uint32 }

func (e *foreignError) Error() string {
	return fmt.Sprintf("owned by uid %d, not by the spool's owner or root", e.uid)
}

func (o osFS) writeFileSync(name string, data []byte) error {
	return o.createSync(name, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

func (o osFS) createSync(name string, fill func(f *os.File) error) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		f.Close()
		os.Remove(name)
		return err
	}
	if o.own != nil && o.own.chown {
		if err := f.Chown(int(o.own.uid), int(o.own.gid)); err != nil {
			return fail(err)
		}
	}
	if err := fill(f); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	return f.Close()
}

func (osFS) rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

func (osFS) remove(name string) error {
	if err := os.Remove(name); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

func (osFS) syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// readFile opens name without following a symbolic link (nor blocking on
// a FIFO), checks that it is a regular file, owned by the spool's owner or
// root when that is known, and reads it.
func (o osFS) readFile(name string) ([]byte, error) {
	f, err := o.openFile(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// openFile opens name for reading with readFile's checks.
func (o osFS) openFile(name string) (*os.File, error) {
	f, err := openNoFollow(name)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "read", Path: name, Err: errNotRegular}
	}
	if o.own != nil {
		if uid, _, _, ok := fileOwner(fi); ok && uid != o.own.uid && uid != 0 {
			f.Close()
			return nil, &fs.PathError{Op: "read", Path: name, Err: &foreignError{uid: uid}}
		}
	}
	return f, nil
}

func (osFS) readDir(dir string) ([]fs.DirEntry, error) { return os.ReadDir(dir) }
func (osFS) stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }

func (o osFS) mkdirAll(dir string) error {
	if _, err := os.Lstat(dir); err == nil {
		return os.MkdirAll(dir, 0o700) // an existing directory (or the error MkdirAll gives for a file)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if o.own != nil && o.own.chown {
		return os.Chown(dir, int(o.own.uid), int(o.own.gid))
	}
	return nil
}

// transient reports whether a failure to read a file says nothing about
// the file: the process ran out of something, or was interrupted.
func transient(err error) bool {
	for _, e := range []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.EINTR, syscall.EAGAIN} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
