package budget

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// forgetAfter is how long File keeps a mailbox whose entries have all
// ended: far longer than any Window, so that only mailboxes no longer
// used are forgotten.
const forgetAfter = 24 * time.Hour

// File is a Store in one JSON file shared by the processes of a host
// (every graphmail send, sendmail and serve): a map from key to State.
//
// Each Update locks a sibling file (the path with ".lock" added) with
// flock(2) — LockFileEx on Windows — reads the file, calls f, and writes
// the result to a temporary file that is synced and renamed over the
// file. The directory is not synced: losing the file in a crash is
// harmless, since it holds only the last Window of messages (at worst
// one Window's worth of messages more start after a power cut).
//
// The file and its lock file are created with mode 0600, or 0660 when
// their directory has the setgid bit set (a directory shared by a group,
// whose members all send from the host). The directory is created (0700)
// if missing.
//
// Entries held by processes of this host that no longer exist (see
// LocalHolder) count as ended when they are found so. A file that cannot
// be read or parsed is started afresh, and a file that cannot be locked
// or written leaves each process on its own: one warning is logged for
// each such episode, and sending is never blocked by the file.
//
// File cannot tell of changes (Changed returns nil): Budget polls it.
// It is safe for concurrent use.
type File struct {
	path string
	log  *slog.Logger
	now  func() time.Time
	self process

	mu     sync.Mutex
	warned bool // a problem was logged and none has been fixed since
}

// FileOptions adjust a File.
type FileOptions struct {
	// Logger receives the warnings; nil discards.
	Logger *slog.Logger
	// Now stamps the end of entries of dead processes; nil means time.Now.
	Now func() time.Time
}

// NewFile returns the File store at path. It touches nothing on disk
// until the first Update.
func NewFile(path string, o FileOptions) *File {
	f := &File{path: path, log: o.Logger, now: o.Now, self: localProcess()}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.now == nil {
		f.now = time.Now
	}
	return f
}

// Path returns the file's path.
func (f *File) Path() string { return f.path }

// fileDoc is the content of the file.
type fileDoc struct {
	Version   int              `json:"version"`
	Mailboxes map[string]State `json:"mailboxes"`
}

// Update implements Store.
func (f *File) Update(ctx context.Context, key string, fn func(State) (State, error)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	unlock, err := f.lock()
	if err != nil {
		f.warn("budget: cannot lock the budget file; this process keeps to its own limits", err)
		_, err := fn(State{})
		return ignoreNoChange(err)
	}
	defer unlock()
	doc := f.read()
	st := doc.Mailboxes[key]
	reaped := f.reap(&st)
	ns, err := fn(st.clone())
	if errors.Is(err, ErrNoChange) {
		if !reaped {
			return nil
		}
		ns, err = st, nil
	}
	if err != nil {
		return err
	}
	if len(ns.Entries) == 0 {
		delete(doc.Mailboxes, key)
	} else {
		doc.Mailboxes[key] = ns
	}
	f.forget(doc)
	if err := f.write(doc); err != nil {
		f.warn("budget: cannot write the budget file; this process keeps to its own limits", err)
		return nil
	}
	f.warned = false
	return nil
}

// Changed implements Store: File cannot tell, so it returns nil.
func (f *File) Changed(ctx context.Context, key string) (<-chan struct{}, func()) {
	return nil, func() {}
}

// ignoreNoChange returns err unless it is ErrNoChange.
func ignoreNoChange(err error) error {
	if errors.Is(err, ErrNoChange) {
		return nil
	}
	return err
}

// warn logs msg once per episode of trouble.
func (f *File) warn(msg string, err error) {
	if f.warned {
		return
	}
	f.warned = true
	f.log.Warn(msg, "path", f.path, "error", err.Error())
}

// perm is the mode of the file and lock file: 0660 in a setgid
// directory, else 0600.
func (f *File) perm() os.FileMode {
	if fi, err := os.Stat(filepath.Dir(f.path)); err == nil && fi.Mode()&os.ModeSetgid != 0 {
		return 0o660
	}
	return 0o600
}

// lock takes the lock file's exclusive lock, creating the directory and
// the lock file when missing, and returns the function that releases it.
func (f *File) lock() (func(), error) {
	name := f.path + ".lock"
	perm := f.perm()
	lf, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(f.path), 0o700); err == nil {
			lf, err = os.OpenFile(name, os.O_RDWR|os.O_CREATE, perm)
		}
	}
	if err != nil {
		return nil, err
	}
	if fi, err := lf.Stat(); err == nil && fi.Mode().Perm() != perm {
		lf.Chmod(perm) // past the umask; fails harmlessly if another user's
	}
	if err := lockFile(lf); err != nil {
		lf.Close()
		return nil, fmt.Errorf("budget: locking %s: %w", name, err)
	}
	return func() {
		unlockFile(lf)
		lf.Close()
	}, nil
}

// read returns the file's content; a missing file is empty, and an
// unreadable or corrupt one is started afresh with a warning.
func (f *File) read() *fileDoc {
	doc := &fileDoc{Version: 1, Mailboxes: map[string]State{}}
	b, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return doc
	}
	if err == nil {
		var d fileDoc
		if err = json.Unmarshal(b, &d); err == nil && d.Version != 1 {
			err = fmt.Errorf("budget: unknown version %d", d.Version)
		}
		if err == nil {
			if d.Mailboxes != nil {
				doc.Mailboxes = d.Mailboxes
			}
			return doc
		}
	}
	f.log.Warn("budget: the budget file is unreadable or corrupt; starting it afresh", "path", f.path, "error", err.Error())
	return doc
}

// reap ends the in-flight entries of st held by processes of this host
// that no longer exist, at now, and reports whether there was one.
func (f *File) reap(st *State) bool {
	var now time.Time
	reaped := false
	for i, e := range st.Entries {
		if !e.End.IsZero() || !holderGone(e.Holder, f.self) {
			continue
		}
		if !reaped {
			st.Entries = st.clone().Entries
			now = f.now()
			reaped = true
		}
		st.Entries[i].End = later(now, e.Start)
		st.Entries[i].Expires = time.Time{}
	}
	return reaped
}

// forget drops the mailboxes whose entries all ended over forgetAfter ago.
func (f *File) forget(doc *fileDoc) {
	cut := f.now().Add(-forgetAfter)
	for k, st := range doc.Mailboxes {
		stale := true
		for _, e := range st.Entries {
			if end := e.ended(cut); end.IsZero() || end.After(cut) {
				stale = false
				break
			}
		}
		if stale {
			delete(doc.Mailboxes, k)
		}
	}
}

// write replaces the file with doc: a synced temporary file renamed over it.
func (f *File) write(doc *fileDoc) error {
	b, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.path), filepath.Base(f.path)+".tmp*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = tmp.Chmod(f.perm())
	if err == nil {
		_, err = tmp.Write(b)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, f.path)
	}
	if err != nil {
		os.Remove(name)
	}
	return err
}
