package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// recordingFS is the real file system, recording each durability step.
type recordingFS struct {
	osFS
	root string
	mu   sync.Mutex
	ops  []string
	// failRename, when set, fails renames into this directory.
	failRename string
}

func (r *recordingFS) rec(op, name string) {
	rel, err := filepath.Rel(r.root, name)
	if err != nil {
		rel = name
	}
	r.mu.Lock()
	r.ops = append(r.ops, op+" "+filepath.ToSlash(rel))
	r.mu.Unlock()
}

func (r *recordingFS) writeFileSync(name string, data []byte) error {
	r.rec("write+fsync", name)
	return r.osFS.writeFileSync(name, data)
}

func (r *recordingFS) createSync(name string, fill func(*os.File) error) error {
	r.rec("write+fsync", name)
	return r.osFS.createSync(name, fill)
}

func (r *recordingFS) rename(o, n string) error {
	if r.failRename != "" && filepath.Base(filepath.Dir(n)) == r.failRename {
		return errors.New("injected rename failure")
	}
	r.rec("rename", n)
	return r.osFS.rename(o, n)
}

func (r *recordingFS) syncDir(dir string) error {
	r.rec("fsyncdir", dir)
	return r.osFS.syncDir(dir)
}

func (r *recordingFS) remove(name string) error {
	r.rec("remove", name)
	return r.osFS.remove(name)
}

func (r *recordingFS) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 5, 10, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeDeliverer records deliveries and answers with the errors queued in
// fail (nil: success).
type fakeDeliverer struct {
	mu        sync.Mutex
	got       []Delivery
	fail      func(d Delivery) error
	active    int
	maxActive int
	block     chan struct{} // when set, each Deliver waits for it
}

func (f *fakeDeliverer) Deliver(ctx context.Context, d Delivery) (Receipt, error) {
	f.mu.Lock()
	f.active++
	f.maxActive = max(f.maxActive, f.active)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.active--
		f.mu.Unlock()
	}()
	if f.block != nil {
		select {
		case <-f.block:
		case <-ctx.Done():
			return Receipt{}, ctx.Err()
		}
	}
	var err error
	if f.fail != nil {
		err = f.fail(d)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		return Receipt{}, err
	}
	f.got = append(f.got, d)
	return Receipt{Path: "graph", RequestID: "req-" + string(d.ID)}, nil
}

func (f *fakeDeliverer) delivered() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.got...)
}

// tempErr is a temporary error, like a Graph 503.
type tempErr struct{ temp bool }

func (e tempErr) Error() string   { return "fake failure" }
func (e tempErr) Temporary() bool { return e.temp }

// runSpool runs s in the background until the returned stop is called.
func runSpool(t *testing.T, s *Spool, d Deliverer, o RunOptions) (stop func()) {
	t.Helper()
	if o.ScanInterval == 0 {
		o.ScanInterval = 20 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, d, o) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitFor polls cond until it holds. The deadline only bounds a hang: it
// is far beyond what any test needs on a loaded machine.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustOpen(t *testing.T, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustEnqueue(t *testing.T, s *Spool, raw string, to ...string) ID {
	t.Helper()
	if len(to) == 0 {
		to = []string{"rcpt@example.com"}
	}
	id, err := s.Enqueue(context.Background(), Envelope{From: "app@example.com", To: to}, []byte(raw), Meta{Client: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
