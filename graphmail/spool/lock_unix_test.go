//go:build unix

package spool

import (
	"context"
	"errors"
	"syscall"
	"testing"
)

// TestRunWaitsForRunOnce: a Run (graphmail serve) that starts while a
// RunOnce delivers waits for it; the RunOnce notices, starts nothing
// more, and the Run delivers the rest. No message is delivered twice.
func TestRunWaitsForRunOnce(t *testing.T) {
	dir := t.TempDir()
	once := mustOpen(t, dir, Options{})
	var ids []ID
	for range 3 {
		ids = append(ids, mustEnqueue(t, once, "Subject: x\r\n\r\n"))
	}
	g := newGateDeliverer()
	done := make(chan RunStats, 1)
	go func() {
		st, err := once.RunOnce(context.Background(), g, RunOptions{Workers: 1})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	first := recv(t, g.started, "RunOnce's first delivery")

	daemon := mustOpen(t, dir, Options{})
	f := &fakeDeliverer{}
	runSpool(t, daemon, f, RunOptions{})
	// The Run holds daemon.lock as soon as it waits.
	waitFor(t, "Run to wait for the spool", func() bool { return daemonLockHeld(t, dir) })
	g.answer <- nil
	st := recv(t, done, "RunOnce to return")
	if want := (RunStats{Submitted: 1, NotAttempted: 2, Queued: 2, Yielded: true}); st != want {
		t.Errorf("RunOnce = %+v, want %+v", st, want)
	}
	waitFor(t, "Run to deliver the rest", func() bool { return len(f.delivered()) == 2 })
	got := map[ID]bool{first.ID: true}
	for _, d := range f.delivered() {
		if got[d.ID] {
			t.Errorf("%s delivered twice", d.ID)
		}
		got[d.ID] = true
	}
	if len(got) != 3 {
		t.Errorf("delivered %v, want %v", got, ids)
	}
}

// daemonLockHeld reports whether a Run holds dir/daemon.lock.
func daemonLockHeld(t *testing.T, dir string) bool {
	t.Helper()
	s := mustOpen(t, dir, Options{})
	f, err := s.openLock(daemonLockName)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return errors.Is(tryLock(f, syscall.LOCK_SH), ErrLocked)
}
