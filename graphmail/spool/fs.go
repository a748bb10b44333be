package spool

import (
	"io/fs"
	"os"
)

// fileSystem is the part of the operating system the spool uses. Every
// durability step is one call, so a test can record their order and check
// that a message is on disk (written, fsynced, renamed, directory fsynced)
// before Enqueue returns.
type fileSystem interface {
	// writeFileSync creates name, writes data, fsyncs and closes it.
	writeFileSync(name string, data []byte) error
	// rename renames oldpath to newpath (atomic within one file system).
	rename(oldpath, newpath string) error
	// remove removes name; a missing file is not an error.
	remove(name string) error
	// syncDir fsyncs a directory, making renames and removals in it durable.
	syncDir(dir string) error
	readFile(name string) ([]byte, error)
	readDir(dir string) ([]fs.DirEntry, error)
	stat(name string) (fs.FileInfo, error)
	mkdirAll(dir string) error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) writeFileSync(name string, data []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(name)
		return err
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

func (osFS) readFile(name string) ([]byte, error)      { return os.ReadFile(name) }
func (osFS) readDir(dir string) ([]fs.DirEntry, error) { return os.ReadDir(dir) }
func (osFS) stat(name string) (fs.FileInfo, error)     { return os.Stat(name) }
func (osFS) mkdirAll(dir string) error                 { return os.MkdirAll(dir, 0o700) }
