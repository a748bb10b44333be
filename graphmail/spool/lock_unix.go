//go:build unix

package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
)

// Two advisory locks (flock) coordinate the processes that deliver from a
// spool; the kernel drops them when a process dies, so a crash never
// leaves the spool locked.
//
//   - lock: whoever delivers (Run or RunOnce) holds it exclusively.
//   - daemon.lock: Run holds it exclusively for as long as it runs, so
//     that a second Run is refused at once, while a Run that finds a
//     RunOnce delivering waits for it; RunOnce looks at it (shared, for a
//     moment) to see whether a Run is waiting, and then stops starting
//     deliveries and lets go.
const (
	lockName       = "lock"
	daemonLockName = "daemon.lock"
)

// openLock opens the lock file name in the spool directory, creating it
// (0600, given to the spool's owner when this process is root: a lock file
// the daemon cannot open would keep it from starting).
func (s *Spool) openLock(name string) (*os.File, error) {
	p := filepath.Join(s.dir, name)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if s.own != nil && s.own.chown {
		if fi, err := f.Stat(); err == nil {
			if uid, _, _, ok := fileOwner(fi); ok && uid != s.own.uid {
				if err := f.Chown(int(s.own.uid), int(s.own.gid)); err != nil {
					f.Close()
					return nil, err
				}
			}
		}
	}
	return f, nil
}

// tryLock takes a lock (syscall.LOCK_EX or LOCK_SH) on f without waiting;
// ErrLocked when another holds it.
func tryLock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case errors.Is(err, syscall.EWOULDBLOCK):
			return ErrLocked
		}
		return err
	}
}

// waitLock takes an exclusive lock on f, waiting until ctx ends. When ctx
// ends first it returns ctx's error and f is no longer the caller's: it is
// closed once the pending flock returns.
func waitLock(ctx context.Context, f *os.File) error {
	got := make(chan error, 1)
	go func() {
		for {
			err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
			if !errors.Is(err, syscall.EINTR) {
				got <- err
				return
			}
		}
	}()
	select {
	case err := <-got:
		if err != nil {
			f.Close()
		}
		return err
	case <-ctx.Done():
		go func() {
			<-got
			f.Close() // closing drops the lock, if it was taken meanwhile
		}()
		return ctx.Err()
	}
}

// lockRun takes the locks for Run: daemon.lock at once (ErrLocked when
// another Run has it), then lock, waiting for a RunOnce that holds it.
func (s *Spool) lockRun(ctx context.Context) (func(), error) {
	d, err := s.openLock(daemonLockName)
	if err != nil {
		return nil, err
	}
	if err := tryLock(d, syscall.LOCK_EX); err != nil {
		if !errors.Is(err, ErrLocked) {
			d.Close()
			return nil, err
		}
		// Another Run holds it, or a RunOnce is looking at it (shared,
		// for a moment): only the second lets a shared lock be taken.
		if err := tryLock(d, syscall.LOCK_SH); err != nil {
			d.Close()
			return nil, err
		}
		if err := waitLock(ctx, d); err != nil {
			return nil, err
		}
	}
	l, err := s.openLock(lockName)
	if err != nil {
		d.Close()
		return nil, err
	}
	if err := tryLock(l, syscall.LOCK_EX); err != nil {
		if !errors.Is(err, ErrLocked) {
			l.Close()
			d.Close()
			return nil, err
		}
		s.log.Info("spool: waiting for the queue run that is delivering to stop", "dir", s.dir)
		if err := waitLock(ctx, l); err != nil {
			d.Close()
			return nil, err
		}
	}
	return func() {
		l.Close()
		d.Close()
	}, nil
}

// lockOnce takes the lock for RunOnce without waiting: ErrLocked when Run
// or another RunOnce holds it, or when a Run is waiting for it. waiting
// reports whether a Run has started meanwhile and waits for the lock.
func (s *Spool) lockOnce() (unlock func(), waiting func() bool, err error) {
	l, err := s.openLock(lockName)
	if err != nil {
		return nil, nil, err
	}
	if err := tryLock(l, syscall.LOCK_EX); err != nil {
		l.Close()
		return nil, nil, err
	}
	d, err := s.openLock(daemonLockName)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	waiting = func() bool {
		if err := tryLock(d, syscall.LOCK_SH); err != nil {
			return errors.Is(err, ErrLocked)
		}
		syscall.Flock(int(d.Fd()), syscall.LOCK_UN)
		return false
	}
	if waiting() {
		d.Close()
		l.Close()
		return nil, nil, ErrLocked
	}
	return func() {
		d.Close()
		l.Close()
	}, waiting, nil
}
