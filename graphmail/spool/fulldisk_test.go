package spool

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// faultFS is the real file system with one kind of call failing while a
// fault is set, as on a full (ENOSPC), failing (EIO) or read-only (EROFS)
// disk. It counts the scans of queue/, so a test waits for scans, not for
// time.
type faultFS struct {
	osFS
	mu    sync.Mutex
	op    string // the failing call: "write", "fsync" or "rename"
	err   error  // nil: no fault
	scans int
}

func (f *faultFS) setFault(op string, err error) {
	f.mu.Lock()
	f.op, f.err = op, err
	f.mu.Unlock()
}

func (f *faultFS) fault(op, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil || f.op != op {
		return nil
	}
	return &fs.PathError{Op: op, Path: name, Err: f.err}
}

func (f *faultFS) scanCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.scans
}

func (f *faultFS) writeFileSync(name string, data []byte) error {
	if err := f.fault("write", name); err != nil {
		return err
	}
	return f.osFS.writeFileSync(name, data)
}

func (f *faultFS) syncDir(dir string) error {
	if err := f.fault("fsync", dir); err != nil {
		return err
	}
	return f.osFS.syncDir(dir)
}

func (f *faultFS) rename(o, n string) error {
	if err := f.fault("rename", n); err != nil {
		return err
	}
	return f.osFS.rename(o, n)
}

func (f *faultFS) readDir(dir string) ([]fs.DirEntry, error) {
	if filepath.Base(dir) == dirQueue {
		f.mu.Lock()
		f.scans++
		f.mu.Unlock()
	}
	return f.osFS.readDir(dir)
}

// countingDeliverer counts the deliveries of each message. The first
// call runs first (to inject a fault) and fails with firstErr.
type countingDeliverer struct {
	mu       sync.Mutex
	n        map[ID]int
	calls    int
	first    func()
	firstErr error
}

func newCountingDeliverer() *countingDeliverer { return &countingDeliverer{n: map[ID]int{}} }

func (c *countingDeliverer) Deliver(ctx context.Context, d Delivery) (Receipt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.n[d.ID]++
	if c.calls == 1 {
		if c.first != nil {
			c.first()
		}
		if c.firstErr != nil {
			return Receipt{}, c.firstErr
		}
	}
	return Receipt{Path: "graph", RequestID: "req-" + string(d.ID)}, nil
}

func (c *countingDeliverer) count(id ID) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

func (c *countingDeliverer) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// asRecordError checks that err is a *RecordError caused by want and
// returns it.
func asRecordError(t *testing.T, err error, want syscall.Errno) *RecordError {
	t.Helper()
	var re *RecordError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *RecordError", err, err)
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v does not wrap %v", err, want)
	}
	return re
}

// TestUnrecordedOutcomeIsNotRepeated: when the record of an attempt cannot
// be written, the message is never handed to the Deliverer again, no
// other delivery starts while the disk refuses records (however many
// scans pass), one write is retried per scan, and everything resumes once
// the fault clears. Before the fix a submitted message was sent again on
// every scan: 12 copies of each queued message in 13 scans.
func TestUnrecordedOutcomeIsNotRepeated(t *testing.T) {
	tests := []struct {
		name       string
		op         string
		errno      syscall.Errno
		deliverErr error // the first attempt's result
		state      State // where the first message ends ("": deleted)
		deleteDone bool  // Options.DeleteDone
	}{
		{"submitted, disk full", "write", syscall.ENOSPC, nil, StateDone, false},
		{"submitted, fsync fails", "fsync", syscall.EIO, nil, StateDone, false},
		{"submitted, read-only", "rename", syscall.EROFS, nil, StateDone, false},
		{"submitted, delete done, fsync fails", "fsync", syscall.EIO, nil, "", true},
		{"deferred, disk full", "write", syscall.ENOSPC, tempErr{temp: true}, StateQueued, false},
		{"dead, disk full", "write", syscall.ENOSPC, tempErr{temp: false}, StateDeadletter, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ffs := &faultFS{}
			logs := &countingHandler{}
			s := mustOpen(t, dir, Options{fs: ffs, DeleteDone: tt.deleteDone, Logger: slog.New(logs)})
			first := mustEnqueue(t, s, "Subject: 1\r\n\r\none\r\n")
			others := []ID{mustEnqueue(t, s, "Subject: 2\r\n\r\ntwo\r\n"), mustEnqueue(t, s, "Subject: 3\r\n\r\nthree\r\n")}
			d := newCountingDeliverer()
			d.first = func() { ffs.setFault(tt.op, tt.errno) }
			d.firstErr = tt.deliverErr
			stop := runSpool(t, s, d, RunOptions{Workers: 1, ScanInterval: 5 * time.Millisecond, Backoff: func(int) time.Duration { return time.Hour }})

			waitFor(t, "the spool to report it cannot record", func() bool { return s.Health() != nil })
			n0 := ffs.scanCount()
			waitFor(t, "ten more scans", func() bool { return ffs.scanCount() >= n0+10 })
			writeErrors := s.WriteErrors()
			scans := ffs.scanCount()
			if got := d.total(); got != 1 || d.count(first) != 1 {
				t.Fatalf("while the disk refuses records: %d deliveries (%d of the first message), want 1", got, d.count(first))
			}
			re := asRecordError(t, s.Health(), tt.errno)
			if re.Unrecorded != 1 || re.Since.IsZero() {
				t.Fatalf("Health = %+v, want 1 unrecorded and a time", re)
			}
			// One write per scan: a probe, not a busy loop.
			if writeErrors < 10 || writeErrors > uint64(scans)+2 {
				t.Fatalf("%d failed writes in %d scans", writeErrors, scans)
			}
			if err := s.Purge(first); !errors.Is(err, ErrBusy) {
				t.Fatalf("Purge of a message whose record waits = %v, want ErrBusy", err)
			}
			// One line says it, not one per scan.
			if errLines := logs.lines(slog.LevelError); len(errLines) != 1 {
				t.Fatalf("error lines while blocked = %q, want one", errLines)
			}

			ffs.setFault("", nil)
			waitFor(t, "the other messages", func() bool { return d.count(others[0]) == 1 && d.count(others[1]) == 1 })
			stop()
			if err := s.Health(); err != nil {
				t.Fatalf("Health after the fault cleared = %v", err)
			}
			if got := d.total(); got != 3 || d.count(first) != 1 {
				t.Fatalf("%d deliveries in all, %d of the first message; want 3 and 1", got, d.count(first))
			}
			it, _, err := s.Show(first)
			switch {
			case tt.state == "":
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("Show of a deleted message = %+v, %v", it, err)
				}
			case err != nil:
				t.Fatal(err)
			case it.State != tt.state || it.Meta.Attempts != 1:
				t.Fatalf("first message: state %q, %d attempts; want %q, 1", it.State, it.Meta.Attempts, tt.state)
			case tt.state == StateDone && it.Meta.Submitted.Receipt.RequestID != "req-"+string(first):
				t.Fatalf("submitted record = %+v", it.Meta.Submitted)
			}
			if tt.state == StateQueued && !it.Meta.NextAttempt.After(time.Now()) {
				t.Fatalf("deferral not recorded: next attempt %v", it.Meta.NextAttempt)
			}
		})
	}
}

// TestRunOnceUnrecorded: RunOnce stops starting deliveries when a record
// cannot be written and says so; a second RunOnce of the same Spool does
// not send the message again, and once the disk takes records the next
// one writes the record and delivers the rest.
func TestRunOnceUnrecorded(t *testing.T) {
	dir := t.TempDir()
	ffs := &faultFS{}
	s := mustOpen(t, dir, Options{fs: ffs})
	ids := []ID{mustEnqueue(t, s, "a"), mustEnqueue(t, s, "b"), mustEnqueue(t, s, "c")}
	d := newCountingDeliverer()
	d.first = func() { ffs.setFault("write", syscall.ENOSPC) }
	ctx := context.Background()

	st, err := s.RunOnce(ctx, d, RunOptions{Workers: 1})
	if re := asRecordError(t, err, syscall.ENOSPC); re.Unrecorded != 1 {
		t.Fatalf("RunOnce: %+v", re)
	}
	if want := (RunStats{Submitted: 1, NotAttempted: 2, Queued: 3}); st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
	st, err = s.RunOnce(ctx, d, RunOptions{Workers: 1})
	asRecordError(t, err, syscall.ENOSPC)
	if d.total() != 1 || st.Submitted != 0 || st.NotAttempted != 2 {
		t.Fatalf("second RunOnce on a full disk: %d deliveries, stats %+v", d.total(), st)
	}
	asRecordError(t, s.Health(), syscall.ENOSPC)

	ffs.setFault("", nil)
	st, err = s.RunOnce(ctx, d, RunOptions{Workers: 1})
	if err != nil || st.Submitted != 2 || st.Queued != 0 {
		t.Fatalf("RunOnce after the fault cleared = %+v, %v", st, err)
	}
	if err := s.Health(); err != nil {
		t.Fatalf("Health = %v", err)
	}
	for _, id := range ids {
		if n := d.count(id); n != 1 {
			t.Errorf("%s delivered %d times", id, n)
		}
		if it, _, err := s.Show(id); err != nil || it.State != StateDone || it.Meta.Submitted == nil {
			t.Errorf("Show(%s) = %+v, %v", id, it, err)
		}
	}
}
