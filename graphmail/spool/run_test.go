package spool

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fast(int) time.Duration { return time.Millisecond }

func TestRunDelivers(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	id := mustEnqueue(t, s, "Message-ID: <keep@example.com>\r\n\r\nbody\r\n", "a@example.com", "bcc-only@example.com")
	f := &fakeDeliverer{}
	events := make(chan Event, 1)
	runSpool(t, s, f, RunOptions{Backoff: fast, OnEvent: func(e Event) { events <- e }})
	// The event comes once the message has left the queue for done/.
	if e := recv(t, events, "the delivery"); e.Outcome != OutcomeSubmitted {
		t.Fatalf("event = %+v, want submitted", e)
	}
	d := f.delivered()[0]
	if d.ID != id || d.MessageID != "keep@example.com" || d.Attempt != 1 || len(d.Envelope.To) != 2 {
		t.Fatalf("delivery = %+v", d)
	}
	if _, err := os.Stat(filepath.Join(dir, "done", string(id)+".msg")); err != nil {
		t.Fatalf("not in done/: %v", err)
	}
	it, _, _ := s.Show(id)
	if it.Meta.Submitted == nil || it.Meta.Submitted.Receipt.RequestID != "req-"+string(id) {
		t.Fatalf("submitted record = %+v", it.Meta.Submitted)
	}
}

func TestRunDeleteDone(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{DeleteDone: true})
	id := mustEnqueue(t, s, "x")
	f := &fakeDeliverer{}
	runSpool(t, s, f, RunOptions{})
	waitFor(t, "delivery", func() bool { return len(f.delivered()) == 1 })
	waitFor(t, "removal", func() bool { _, _, err := s.Show(id); return errors.Is(err, ErrNotFound) })
}

func TestRunRetriesTemporaryFailures(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	var calls atomic.Int32
	f := &fakeDeliverer{fail: func(Delivery) error {
		if calls.Add(1) <= 2 {
			return tempErr{temp: true}
		}
		return nil
	}}
	var attempts []int
	events := make(chan Event, 10)
	runSpool(t, s, f, RunOptions{Backoff: fast, OnEvent: func(e Event) { events <- e }})
	mustEnqueue(t, s, "x")
	waitFor(t, "delivery", func() bool { return len(f.delivered()) == 1 })
	for range 3 {
		e := recv(t, events, "an attempt")
		attempts = append(attempts, e.Attempt)
	}
	if f.delivered()[0].Attempt != 3 || attempts[0] != 1 || attempts[2] != 3 {
		t.Fatalf("attempts = %v, delivered as attempt %d", attempts, f.delivered()[0].Attempt)
	}
}

func TestRunDeadletter(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		age    time.Duration // clock moves by this before the attempt
		reason string
	}{
		{"permanent error", tempErr{temp: false}, 0, "permanent error"},
		{"Permanent wrapper", Permanent(errors.New("bad message")), 0, "permanent error"},
		{"temporary past max age", tempErr{temp: true}, 6 * 24 * time.Hour, "max age 120h0m0s exceeded"},
		{"unclassified past max age", errors.New("mystery"), 5 * 24 * time.Hour, "max age 120h0m0s exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := mustOpen(t, t.TempDir(), Options{Now: clk.Now})
			id := mustEnqueue(t, s, "x")
			clk.Add(tt.age)
			f := &fakeDeliverer{fail: func(Delivery) error { return tt.err }}
			runSpool(t, s, f, RunOptions{Backoff: fast})
			waitFor(t, "dead letter", func() bool {
				it, _, err := s.Show(id)
				return err == nil && it.State == StateDeadletter
			})
			it, _, _ := s.Show(id)
			if it.Meta.Dead == nil || it.Meta.Dead.Reason != tt.reason || it.Meta.LastError != tt.err.Error() || it.Meta.Attempts != 1 {
				t.Fatalf("meta = %+v dead = %+v", it.Meta, it.Meta.Dead)
			}
		})
	}
}

func TestRunTemporaryWithinMaxAgeIsDeferred(t *testing.T) {
	clk := newClock()
	s := mustOpen(t, t.TempDir(), Options{Now: clk.Now})
	id := mustEnqueue(t, s, "x")
	clk.Add(4 * 24 * time.Hour)
	f := &fakeDeliverer{fail: func(Delivery) error { return tempErr{temp: true} }}
	runSpool(t, s, f, RunOptions{}) // DefaultBackoff: next attempt in 1 minute of the fake clock
	waitFor(t, "deferral", func() bool {
		it, _, err := s.Show(id)
		return err == nil && it.Meta.Attempts == 1
	})
	it, _, _ := s.Show(id)
	if it.State != StateQueued || !it.Meta.NextAttempt.Equal(clk.Now().Add(time.Minute)) || it.Meta.LastError == "" {
		t.Fatalf("item = %+v", it)
	}
}

func TestDefaultBackoff(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {4, 8 * time.Minute}, {7, time.Hour}, {100, time.Hour}, {0, time.Minute}}
	for _, tt := range tests {
		if got := DefaultBackoff(tt.attempt); got != tt.want {
			t.Errorf("DefaultBackoff(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
}

func TestRestartRecovery(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	a := mustEnqueue(t, s, "a")
	b := mustEnqueue(t, s, "b")
	// A leftover from a crash in the middle of an Enqueue.
	stale := filepath.Join(dir, "tmp", "0000000000000000deadbeef.msg")
	os.WriteFile(stale, []byte("partial"), 0o600)
	os.Chtimes(stale, time.Now().Add(-2*time.Hour), time.Now().Add(-2*time.Hour))
	fresh := filepath.Join(dir, "tmp", "1111111111111111deadbeef.msg") // another process enqueuing now
	os.WriteFile(fresh, []byte("partial"), 0o600)

	s2 := mustOpen(t, dir, Options{}) // a new process
	f := &fakeDeliverer{}
	runSpool(t, s2, f, RunOptions{})
	waitFor(t, "both delivered", func() bool { return len(f.delivered()) == 2 })
	got := map[ID]bool{f.delivered()[0].ID: true, f.delivered()[1].ID: true}
	if !got[a] || !got[b] {
		t.Fatalf("delivered %v, want %s and %s", got, a, b)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale tmp file not removed: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Fatalf("a fresh tmp file (an Enqueue in progress) was removed: %v", err)
	}
}

// writeRecord puts a meta record for id into sub/, as a crash would leave it.
func writeRecord(t *testing.T, dir, sub string, id ID, m Meta) {
	t.Helper()
	data, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, sub, string(id)+".meta"), data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSubmittedButNotRemovedIsNotRedelivered(t *testing.T) {
	// The crash came after the submitted record was fsynced: either before
	// the message left queue/, or between the two renames.
	tests := []struct {
		name, recordIn string
	}{
		{"record in queue", "queue"},
		{"record already moved to done", "done"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{})
			id := mustEnqueue(t, s, "x")
			other := mustEnqueue(t, s, "y")
			it, _, _ := s.Show(id)
			m := it.Meta
			m.Attempts = 1
			m.Submitted = &Submitted{At: time.Now(), Receipt: Receipt{Path: "graph", RequestID: "r-1"}}
			writeRecord(t, dir, tt.recordIn, id, m)

			if it, _, _ := s.Show(id); it.State != StateDone {
				t.Fatalf("Show before restart: state %q, want done", it.State)
			}
			f := &fakeDeliverer{}
			runSpool(t, mustOpen(t, dir, Options{}), f, RunOptions{})
			waitFor(t, "the other message", func() bool { return len(f.delivered()) == 1 })
			if d := f.delivered(); d[0].ID != other {
				t.Fatalf("delivered %s again", d[0].ID)
			}
			it, _, err := s.Show(id)
			if err != nil || it.State != StateDone || it.Meta.Submitted.Receipt.RequestID != "r-1" {
				t.Fatalf("Show = %+v, %v", it, err)
			}
			if _, err := os.Stat(filepath.Join(dir, "queue", string(id)+".msg")); !os.IsNotExist(err) {
				t.Fatalf("message still in queue/: %v", err)
			}
		})
	}
}

func TestDeadRecordFinishedOnRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	id := mustEnqueue(t, s, "x")
	it, _, _ := s.Show(id)
	m := it.Meta
	m.Dead, m.LastError = &Dead{At: time.Now(), Reason: "permanent error"}, "550 no"
	writeRecord(t, dir, "queue", id, m)
	f := &fakeDeliverer{}
	stop := runSpool(t, mustOpen(t, dir, Options{}), f, RunOptions{})
	waitFor(t, "dead letter", func() bool { it, _, _ := s.Show(id); return it.State == StateDeadletter })
	stop() // every attempt Run started has ended
	if n := len(f.delivered()); n != 0 {
		t.Fatalf("%d deliveries of a dead message", n)
	}
}

func TestRetryAndPurge(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	var fail atomic.Bool
	fail.Store(true)
	f := &fakeDeliverer{fail: func(Delivery) error {
		if fail.Load() {
			return Permanent(errors.New("550 5.7.1 refused"))
		}
		return nil
	}}
	events := make(chan Event, 4)
	runSpool(t, s, f, RunOptions{OnEvent: func(e Event) { events <- e }})
	a := mustEnqueue(t, s, "a")
	b := mustEnqueue(t, s, "b")
	// The events come once the attempts are over, the messages in
	// deadletter/ and no longer being delivered.
	for range 2 {
		if e := recv(t, events, "a dead letter"); e.Outcome != OutcomeDead {
			t.Fatalf("event = %+v, want dead", e)
		}
	}
	if items, _ := s.List(); len(items) != 2 || items[0].State != StateDeadletter || items[1].State != StateDeadletter {
		t.Fatalf("List = %+v, want two dead letters", items)
	}
	if err := s.Purge(b); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Show(b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Show after Purge: %v", err)
	}
	if err := s.Purge(b); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Purge: %v", err)
	}
	fail.Store(false)
	if err := s.Retry(a); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "redelivery", func() bool { return len(f.delivered()) == 1 })
	waitFor(t, "done", func() bool { it, _, _ := s.Show(a); return it.State == StateDone })
	it, _, _ := s.Show(a)
	if it.Meta.Requeued.IsZero() || it.Meta.Attempts != 1 {
		t.Fatalf("meta after retry = %+v", it.Meta)
	}
}

func TestRetryAllMakesDeferredDue(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	var fail atomic.Bool
	fail.Store(true)
	f := &fakeDeliverer{fail: func(Delivery) error {
		if fail.Load() {
			return tempErr{temp: true}
		}
		return nil
	}}
	events := make(chan Event, 8)
	runSpool(t, s, f, RunOptions{Backoff: func(int) time.Duration { return time.Hour }, OnEvent: func(e Event) { events <- e }})
	for range 3 {
		mustEnqueue(t, s, "x")
	}
	for range 3 {
		if e := recv(t, events, "a deferral"); e.Outcome != OutcomeDeferred || e.Attempt != 1 {
			t.Fatalf("event %+v, want the first attempt deferred", e)
		}
	}
	fail.Store(false)
	n, err := s.RetryAll()
	if err != nil || n != 3 {
		t.Fatalf("RetryAll = %d, %v", n, err)
	}
	waitFor(t, "deliveries", func() bool { return len(f.delivered()) == 3 })
}

func TestRunIsExclusive(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	runSpool(t, s, &fakeDeliverer{}, RunOptions{})
	waitFor(t, "Run to start", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.running })
	err := mustOpen(t, dir, Options{}).Run(context.Background(), &fakeDeliverer{}, RunOptions{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Run = %v, want ErrLocked", err)
	}
}

func TestRunRespectsWorkers(t *testing.T) {
	hfs := newHookFS()
	s := mustOpen(t, t.TempDir(), Options{fs: hfs})
	f := &fakeDeliverer{block: make(chan struct{})}
	runSpool(t, s, f, RunOptions{Workers: 3, ScanInterval: time.Millisecond})
	for range 10 {
		mustEnqueue(t, s, "x")
	}
	waitFor(t, "3 in flight", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.active == 3 })
	hfs.waitScans(t, 2) // Run had the chance to start a fourth
	s.mu.Lock()
	inflight := 0
	for _, e := range s.index {
		if e.inflight {
			inflight++
		}
	}
	s.mu.Unlock()
	if inflight != 3 {
		t.Fatalf("%d messages in flight with 3 workers", inflight)
	}
	id := func() ID {
		s.mu.Lock()
		defer s.mu.Unlock()
		for id, e := range s.index {
			if e.inflight {
				return id
			}
		}
		return ""
	}()
	if err := s.Purge(id); !errors.Is(err, ErrBusy) {
		t.Errorf("Purge of a message in flight = %v, want ErrBusy", err)
	}
	close(f.block)
	waitFor(t, "all delivered", func() bool { return len(f.delivered()) == 10 })
	if f.maxActive != 3 {
		t.Fatalf("max deliveries at once = %d, want 3", f.maxActive)
	}
}

func TestRunShutdownLeavesInterruptedQueued(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	f := &fakeDeliverer{block: make(chan struct{})}
	stop := runSpool(t, s, f, RunOptions{Grace: 20 * time.Millisecond})
	id := mustEnqueue(t, s, "x")
	waitFor(t, "in flight", func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.active == 1 })
	stop()
	it, _, err := s.Show(id)
	if err != nil || it.State != StateQueued || it.Meta.Attempts != 0 {
		t.Fatalf("after shutdown: %+v, %v", it, err)
	}
}

func TestRunPicksUpOtherProcessesMessages(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	f := &fakeDeliverer{}
	runSpool(t, s, f, RunOptions{ScanInterval: 10 * time.Millisecond})
	other := mustOpen(t, dir, Options{}) // the sendmail drop-in
	id := mustEnqueue(t, other, "x")
	waitFor(t, "delivery", func() bool { d := f.delivered(); return len(d) == 1 && d[0].ID == id })
}

// TestRunPartialDelivery: a delivery that reaches some recipients and
// defers others keeps the message queued for the deferred ones alone;
// the ones that failed for good are reported once, in the event.
func TestRunPartialDelivery(t *testing.T) {
	s := mustOpen(t, t.TempDir(), Options{})
	var calls atomic.Int32
	d := DelivererFunc(func(ctx context.Context, del Delivery) (Receipt, error) {
		if calls.Add(1) == 1 {
			return Receipt{Path: "graph", Deferred: []string{"later@example.com"},
				Failed: []Failure{{Address: "gone@example.com", Err: errors.New("550 unknown"), Error: "550 unknown"}}}, nil
		}
		return Receipt{Path: "graph"}, nil
	})
	var mu sync.Mutex
	var tos [][]string
	rec := DelivererFunc(func(ctx context.Context, del Delivery) (Receipt, error) {
		mu.Lock()
		tos = append(tos, del.Envelope.To)
		mu.Unlock()
		return d.Deliver(ctx, del)
	})
	events := make(chan Event, 4)
	runSpool(t, s, rec, RunOptions{Backoff: fast, OnEvent: func(e Event) { events <- e }})
	id := mustEnqueue(t, s, "x", "now@example.com", "later@example.com", "gone@example.com")
	first := recv(t, events, "the partial delivery")
	if first.Outcome != OutcomeDeferred || len(first.Receipt.Failed) != 1 || first.Receipt.Failed[0].Address != "gone@example.com" {
		t.Fatalf("first event %+v", first)
	}
	if second := recv(t, events, "the retry"); second.Outcome != OutcomeSubmitted {
		t.Fatalf("second event %+v", second)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(tos) != 2 || len(tos[0]) != 3 || len(tos[1]) != 1 || tos[1][0] != "later@example.com" {
		t.Fatalf("deliveries went to %v, want all three, then later@ alone", tos)
	}
	it, _, err := s.Show(id)
	if err != nil || it.Meta.Submitted == nil || len(it.Meta.Pending) != 1 {
		t.Fatalf("record %+v, %v", it.Meta, err)
	}
}
