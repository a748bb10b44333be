package spool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunOnceDeliversDueMessagesOnce: every message due when RunOnce
// starts is attempted exactly once, with Run's rules: a deferred one is not
// tried again in the same call however short the backoff, a permanent
// failure goes to the dead letters, a message not yet due stays queued.
func TestRunOnceDeliversDueMessagesOnce(t *testing.T) {
	clk := newClock()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{Now: clk.Now})
	ok1 := mustEnqueue(t, s, "Subject: ok1\r\n\r\n")
	ok2 := mustEnqueue(t, s, "Subject: ok2\r\n\r\n")
	temp := mustEnqueue(t, s, "Subject: temp\r\n\r\n")
	perm := mustEnqueue(t, s, "Subject: perm\r\n\r\n")
	later := mustEnqueue(t, s, "Subject: later\r\n\r\n")
	it, _, _ := s.Show(later)
	m := it.Meta
	m.Attempts, m.NextAttempt = 1, clk.Now().Add(time.Hour)
	writeRecord(t, dir, "queue", later, m)

	calls := map[ID]int{}
	var ncalls atomic.Int32
	f := &fakeDeliverer{fail: func(d Delivery) error {
		ncalls.Add(1)
		calls[d.ID]++ // one worker: no other goroutine touches calls meanwhile
		switch d.ID {
		case temp:
			return tempErr{temp: true}
		case perm:
			return Permanent(errors.New("550 no such user"))
		}
		return nil
	}}
	ev := newEvents()
	st, err := s.RunOnce(context.Background(), f, RunOptions{Workers: 1, Backoff: func(int) time.Duration { return 0 }, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	want := RunStats{Submitted: 2, Deferred: 1, Dead: 1, Queued: 2}
	if st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if n := ncalls.Load(); n != 4 {
		t.Errorf("%d deliveries, want 4 (one per due message)", n)
	}
	for _, id := range []ID{ok1, ok2, temp, perm} {
		if calls[id] != 1 {
			t.Errorf("%s attempted %d times, want 1", id, calls[id])
		}
	}
	if n := ev.count(OutcomeSubmitted) + ev.count(OutcomeDeferred) + ev.count(OutcomeDead); n != 4 {
		t.Errorf("%d attempt events, want 4", n)
	}
	states := map[ID]State{ok1: StateDone, ok2: StateDone, temp: StateQueued, perm: StateDeadletter, later: StateQueued}
	for id, want := range states {
		if it, _, err := s.Show(id); err != nil || it.State != want {
			t.Errorf("%s: %s, %v; want %s", id, it.State, err, want)
		}
	}
	// The next run finds the deferred one due (backoff 0), not the later one.
	st, err = s.RunOnce(context.Background(), f, RunOptions{Backoff: func(int) time.Duration { return 0 }})
	if err != nil || st.Deferred != 1 || st.Submitted != 0 || st.Queued != 2 {
		t.Errorf("second RunOnce = %+v, %v; want the deferred message tried again", st, err)
	}
}

// TestRunOnceRefusesWhileRunDelivers: RunOnce never waits and never
// delivers beside a Run (or another RunOnce) on the same directory.
func TestRunOnceRefusesWhileRunDelivers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	runSpool(t, s, &fakeDeliverer{}, RunOptions{})
	waitFor(t, "Run to start", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running })
	mustEnqueue(t, s, "Subject: x\r\n\r\n")
	f := &fakeDeliverer{}
	for _, other := range []*Spool{s, mustOpen(t, dir, Options{})} { // this process, another one
		st, err := other.RunOnce(context.Background(), f, RunOptions{})
		if !errors.Is(err, ErrLocked) || st != (RunStats{}) {
			t.Errorf("RunOnce beside Run = %+v, %v; want ErrLocked", st, err)
		}
	}
	if len(f.delivered()) != 0 {
		t.Error("RunOnce delivered beside Run")
	}
}

func TestRunOnceRefusesWhileRunOnceDelivers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	mustEnqueue(t, s, "Subject: x\r\n\r\n")
	g := newGateDeliverer()
	done := make(chan RunStats, 1)
	go func() {
		st, err := s.RunOnce(context.Background(), g, RunOptions{})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	recv(t, g.started, "the first RunOnce's delivery")
	if _, err := mustOpen(t, dir, Options{}).RunOnce(context.Background(), g, RunOptions{}); !errors.Is(err, ErrLocked) {
		t.Errorf("second RunOnce = %v, want ErrLocked", err)
	}
	g.answer <- nil
	if st := recv(t, done, "the first RunOnce"); st.Submitted != 1 {
		t.Errorf("first RunOnce = %+v", st)
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d deliveries, want 1", n)
	}
}

// TestRunOnceStopsAtDeadline: once ctx ends, RunOnce starts no delivery;
// the one in flight finishes (within Grace), the rest stays queued.
func TestRunOnceStopsAtDeadline(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	for range 3 {
		mustEnqueue(t, s, "Subject: x\r\n\r\n")
	}
	g := newGateDeliverer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan RunStats, 1)
	go func() {
		st, err := s.RunOnce(ctx, g, RunOptions{Workers: 1, Grace: time.Hour})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	recv(t, g.started, "the first delivery")
	cancel() // the deadline passes while it is in flight
	g.answer <- nil
	st := recv(t, done, "RunOnce to return")
	if want := (RunStats{Submitted: 1, NotAttempted: 2, Queued: 2}); st != want {
		t.Errorf("RunOnce = %+v, want %+v", st, want)
	}
	if n := g.calls.Load(); n != 1 {
		t.Errorf("%d deliveries started, want 1", n)
	}
}

// TestRunOnceGraceInterrupts: a delivery still running Grace after the
// deadline is cancelled; the message stays queued, not counted as an
// attempt.
func TestRunOnceGraceInterrupts(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	id := mustEnqueue(t, s, "Subject: x\r\n\r\n")
	g := newGateDeliverer()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan RunStats, 1)
	go func() {
		st, err := s.RunOnce(ctx, g, RunOptions{Grace: time.Millisecond})
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	recv(t, g.started, "the delivery")
	cancel()
	st := recv(t, done, "RunOnce to return")
	if want := (RunStats{Interrupted: 1, Queued: 1}); st != want {
		t.Errorf("RunOnce = %+v, want %+v", st, want)
	}
	if it, _, err := s.Show(id); err != nil || it.State != StateQueued || it.Meta.Attempts != 0 {
		t.Errorf("after the interrupted attempt: %+v, %v", it, err)
	}
}

func TestRunOnceEndedContext(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	mustEnqueue(t, s, "Subject: x\r\n\r\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fakeDeliverer{}
	if _, err := s.RunOnce(ctx, f, RunOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("RunOnce with an ended context = %v, want context.Canceled", err)
	}
	if len(f.delivered()) != 0 {
		t.Error("delivered with an ended context")
	}
}

// TestRunOnceRecovers: RunOnce finishes what a crash interrupted, like Run.
func TestRunOnceRecovers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	id := mustEnqueue(t, s, "Subject: x\r\n\r\n")
	it, _, _ := s.Show(id)
	m := it.Meta
	m.Submitted = &Submitted{At: time.Now(), Receipt: Receipt{Path: "graph", RequestID: "r-1"}}
	writeRecord(t, dir, "queue", id, m)
	f := &fakeDeliverer{}
	st, err := s.RunOnce(context.Background(), f, RunOptions{})
	if err != nil || st != (RunStats{}) || len(f.delivered()) != 0 {
		t.Errorf("RunOnce = %+v, %v, %d deliveries; want the submitted message finished, not sent", st, err, len(f.delivered()))
	}
	if it, _, err := s.Show(id); err != nil || it.State != StateDone {
		t.Errorf("Show = %+v, %v", it, err)
	}
}
