package spool

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hookFS is the real file system with two hooks for driving an
// interleaving: every read of queue/ (the start of a scan) is counted, and
// the next fsync of a directory blockSync names waits until the test lets
// it go.
type hookFS struct {
	osFS
	scans   atomic.Int64
	scanned chan struct{} // poked after each read of queue/

	mu      sync.Mutex
	armed   string        // the directory (queue, deadletter…) whose next fsync blocks
	syncing chan struct{} // closed when the armed fsync has started
	proceed chan struct{} // the armed fsync waits for it
}

func newHookFS() *hookFS { return &hookFS{scanned: make(chan struct{}, 1)} }

func (h *hookFS) readDir(dir string) ([]fs.DirEntry, error) {
	ents, err := h.osFS.readDir(dir)
	if filepath.Base(dir) == dirQueue {
		h.scans.Add(1)
		select {
		case h.scanned <- struct{}{}:
		default:
		}
	}
	return ents, err
}

// blockSync arms the hook: the next fsync of sub/ blocks. It returns a
// channel closed once that fsync has started and a function that lets it
// go on.
func (h *hookFS) blockSync(sub string) (started <-chan struct{}, release func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.armed = sub
	h.syncing, h.proceed = make(chan struct{}), make(chan struct{})
	return h.syncing, sync.OnceFunc(func() { close(h.proceed) })
}

func (h *hookFS) syncDir(dir string) error {
	h.mu.Lock()
	block := h.armed != "" && filepath.Base(dir) == h.armed
	var syncing, proceed chan struct{}
	if block {
		h.armed = ""
		syncing, proceed = h.syncing, h.proceed
	}
	h.mu.Unlock()
	if block {
		close(syncing)
		<-proceed
	}
	return h.osFS.syncDir(dir)
}

// waitScans waits until Run has started n more scans of queue/ than it
// had when waitScans was called. Run scans, then picks the due messages,
// then waits; so after two more scans it has also picked due messages at
// least once.
func (h *hookFS) waitScans(t *testing.T, n int64) {
	t.Helper()
	target := h.scans.Load() + n
	deadline := time.NewTimer(time.Minute)
	defer deadline.Stop()
	for h.scans.Load() < target {
		select {
		case <-h.scanned:
		case <-deadline.C:
			t.Fatalf("Run did not scan the queue %d more times within a minute", n)
		}
	}
}

// recv returns the next value from ch; the deadline only bounds a hang.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(time.Minute):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// gateDeliverer announces each call on started and then waits for an
// answer on answer (nil delivers, an error fails the attempt).
type gateDeliverer struct {
	started chan Delivery
	answer  chan error
	calls   atomic.Int32
}

func newGateDeliverer() *gateDeliverer {
	return &gateDeliverer{started: make(chan Delivery, 8), answer: make(chan error, 8)}
}

func (g *gateDeliverer) Deliver(ctx context.Context, d Delivery) (Receipt, error) {
	g.calls.Add(1)
	g.started <- d
	select {
	case err := <-g.answer:
		if err != nil {
			return Receipt{}, err
		}
		return Receipt{Path: "graph", RequestID: "req-" + string(d.ID)}, nil
	case <-ctx.Done():
		return Receipt{}, ctx.Err()
	}
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRetryWhileDeliveringIsNotLost: a Retry that comes while a worker is
// delivering the message is not refused and not overwritten by the
// attempt's own record: when the attempt ends in a deferral, the message
// is due at once instead of after Backoff; when it ends in the dead
// letters, it is taken back from them.
func TestRetryWhileDeliveringIsNotLost(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		outcome     Outcome
		nextAttempt int // of the retried attempt
	}{
		{"deferred", tempErr{temp: true}, OutcomeDeferred, 2},
		{"dead", Permanent(errors.New("550 5.7.1 refused")), OutcomeDead, 1}, // attempts start again
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := newClock()
			s := mustOpen(t, t.TempDir(), Options{Now: clk.Now})
			g := newGateDeliverer()
			events := make(chan Event, 8)
			runSpool(t, s, g, RunOptions{
				Backoff: func(int) time.Duration { return time.Hour }, // of the fake clock: never, unless retried
				OnEvent: func(e Event) { events <- e },
			})
			id := mustEnqueue(t, s, "x")
			recv(t, g.started, "the first attempt")
			if err := s.Retry(id); err != nil {
				t.Fatalf("Retry while delivering = %v, want nil", err)
			}
			g.answer <- tt.err
			if e := recv(t, events, "the first attempt's event"); e.Outcome != tt.outcome {
				t.Fatalf("first attempt: %+v, want %s", e, tt.outcome)
			}
			// The record on disk says due now, not in an hour.
			if it, _, err := s.Show(id); err != nil || it.State != StateQueued || it.Meta.NextAttempt.After(clk.Now()) {
				t.Fatalf("record after the first attempt = %+v, %v; want queued and due now", it, err)
			}
			if d := recv(t, g.started, "the retried attempt"); d.Attempt != tt.nextAttempt {
				t.Fatalf("retried attempt = %d, want %d", d.Attempt, tt.nextAttempt)
			}
			g.answer <- nil
			if e := recv(t, events, "the second attempt's event"); e.Outcome != OutcomeSubmitted {
				t.Fatalf("second attempt: %+v, want submitted", e)
			}
		})
	}
}

// TestRetryOfAFreshDeadLetterIsNotLost: Retry of a message that has just
// reached deadletter/, while the worker that put it there has not yet let
// go of it, takes it back all the same.
func TestRetryOfAFreshDeadLetterIsNotLost(t *testing.T) {
	hfs := newHookFS()
	s := mustOpen(t, t.TempDir(), Options{fs: hfs})
	g := newGateDeliverer()
	events := make(chan Event, 8)
	runSpool(t, s, g, RunOptions{OnEvent: func(e Event) { events <- e }})
	id := mustEnqueue(t, s, "x")
	recv(t, g.started, "the first attempt")
	syncing, release := hfs.blockSync(dirDeadletter)
	defer release()
	g.answer <- Permanent(errors.New("550 5.7.1 refused"))
	recv(t, syncing, "the message to reach deadletter/")
	if it, _, err := s.Show(id); err != nil || it.State != StateDeadletter {
		t.Fatalf("Show = %+v, %v; want a dead letter", it, err)
	}
	if err := s.Retry(id); err != nil {
		t.Fatalf("Retry = %v", err)
	}
	release()
	if e := recv(t, events, "the first attempt's event"); e.Outcome != OutcomeDead {
		t.Fatalf("first attempt: %+v, want dead", e)
	}
	if d := recv(t, g.started, "the retried attempt"); d.Attempt != 1 {
		t.Fatalf("retried attempt = %d, want 1", d.Attempt)
	}
	g.answer <- nil
	if e := recv(t, events, "the second attempt's event"); e.Outcome != OutcomeSubmitted {
		t.Fatalf("second attempt: %+v, want submitted", e)
	}
}

// TestRetryIsNotDeliveredTwice drives the interleaving that made
// TestRetryAllMakesDeferredDue flaky: Retry's new record is on disk while
// Run scans the queue and picks due messages, before Retry has told the
// scheduler. The message must then be delivered exactly once, never by two
// workers at the same time.
func TestRetryIsNotDeliveredTwice(t *testing.T) {
	clk := newClock()
	hfs := newHookFS()
	logs := &lockedBuffer{}
	s := mustOpen(t, t.TempDir(), Options{Now: clk.Now, fs: hfs, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	g := newGateDeliverer()
	events := make(chan Event, 8)
	stop := runSpool(t, s, g, RunOptions{
		Backoff:      func(int) time.Duration { return time.Hour },
		ScanInterval: time.Millisecond,
		OnEvent:      func(e Event) { events <- e },
	})
	id := mustEnqueue(t, s, "x")
	recv(t, g.started, "the first attempt")
	g.answer <- tempErr{temp: true}
	if e := recv(t, events, "the deferral"); e.Outcome != OutcomeDeferred {
		t.Fatalf("first attempt: %+v, want deferred", e)
	}
	// A record of another size, so that a scan can tell it changed.
	clk.Add(1500*time.Millisecond + 123456789)

	syncing, release := hfs.blockSync(dirQueue)
	defer release()
	retried := make(chan error, 1)
	go func() { retried <- s.Retry(id) }()
	recv(t, syncing, "Retry to write its record")
	hfs.waitScans(t, 2) // Run scans and picks due messages while Retry is half done
	release()
	if err := recv(t, retried, "Retry to return"); err != nil {
		t.Fatalf("Retry = %v", err)
	}
	if d := recv(t, g.started, "the retried attempt"); d.Attempt != 2 {
		t.Fatalf("retried attempt = %d, want 2", d.Attempt)
	}
	hfs.waitScans(t, 2) // Run had the chance to start the message again
	for range 2 {
		g.answer <- nil // enough for a second, wrong, attempt too
	}
	stop()
	if n := g.calls.Load(); n != 2 {
		t.Fatalf("%d deliveries, want 2 (the deferred one and the retried one)", n)
	}
	if l := logs.String(); strings.Contains(l, "level=ERROR") {
		t.Fatalf("errors logged:\n%s", l)
	}
	if it, _, err := s.Show(id); err != nil || it.State != StateDone {
		t.Fatalf("after delivery: %+v, %v", it, err)
	}
}

// TestEnqueueWhileScanningIsNotDeliveredTwice: Run's scan can find a
// message in queue/ and start delivering it before Enqueue, still making
// the directory durable, tells the scheduler about it. Enqueue must not
// hand the scheduler a second copy to start again.
func TestEnqueueWhileScanningIsNotDeliveredTwice(t *testing.T) {
	hfs := newHookFS()
	s := mustOpen(t, t.TempDir(), Options{fs: hfs})
	g := newGateDeliverer()
	stop := runSpool(t, s, g, RunOptions{ScanInterval: time.Millisecond})
	hfs.waitScans(t, 1) // Run is running

	syncing, release := hfs.blockSync(dirQueue)
	defer release()
	enqueued := make(chan ID, 1)
	go func() {
		id, err := s.Enqueue(context.Background(), Envelope{From: "app@example.com", To: []string{"rcpt@example.com"}}, []byte("x"), Meta{})
		if err != nil {
			t.Errorf("Enqueue: %v", err)
		}
		enqueued <- id
	}()
	recv(t, syncing, "Enqueue to rename the message into queue/")
	d := recv(t, g.started, "Run to find and start the message")
	release()
	if id := recv(t, enqueued, "Enqueue to return"); id != d.ID {
		t.Fatalf("delivered %s, enqueued %s", d.ID, id)
	}
	hfs.waitScans(t, 2) // Run had the chance to start the message again
	for range 2 {
		g.answer <- nil // enough for a second, wrong, delivery too
	}
	stop()
	if n := g.calls.Load(); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}
