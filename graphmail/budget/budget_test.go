package budget

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// runHolders runs n goroutines that each take one message of mailbox
// from b, hold it while hold runs, and release it; it returns the spans
// they saw (from b's clock).
func runHolders(t *testing.T, b *Budget, mailbox string, n int, hold func()) []span {
	t.Helper()
	var (
		mu    sync.Mutex
		spans []span
		wg    sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			release, err := b.Acquire(t.Context(), mailbox)
			if err != nil {
				t.Error(err)
				return
			}
			sp := span{start: b.now()}
			hold()
			sp.end = b.now()
			release()
			mu.Lock()
			spans = append(spans, sp)
			mu.Unlock()
		})
	}
	wg.Wait()
	return spans
}

func TestAcquireInFlight(t *testing.T) {
	l := Limits{InFlight: 2}
	b := New(new(Memory), l, Options{})
	var cur, peak atomic.Int32
	spans := runHolders(t, b, "m", 20, func() {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		cur.Add(-1)
	})
	if len(spans) != 20 {
		t.Fatalf("%d of 20 holders ran", len(spans))
	}
	if p := peak.Load(); p > 2 {
		t.Errorf("%d held at once, want at most 2", p)
	}
	if err := checkSpans(l, spans); err != nil {
		t.Error(err)
	}
}

func TestAcquireRate(t *testing.T) {
	l := Limits{PerWindow: 3, Window: 100 * time.Millisecond}
	m := new(Memory)
	b := New(m, l, Options{})
	spans := runHolders(t, b, "m", 10, func() {})
	if err := checkSpans(l, spans); err != nil {
		t.Error(err)
	}
	// Another mailbox does not wait for this one.
	other := New(m, Limits{PerWindow: 1, Window: time.Hour}, Options{})
	release, err := other.Acquire(t.Context(), "other")
	if err != nil {
		t.Fatal(err)
	}
	release()
}

func TestAcquireContext(t *testing.T) {
	b := New(new(Memory), Limits{PerWindow: 1, Window: time.Hour}, Options{})
	release, err := b.Acquire(t.Context(), "m")
	if err != nil {
		t.Fatal(err)
	}
	release()
	release() // idempotent
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Acquire(ctx, "m"); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire with a cancelled context: %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Acquire(ctx, "m"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Acquire past the rate: %v, want context.DeadlineExceeded", err)
	}
}

func TestAcquireRenews(t *testing.T) {
	m := new(Memory)
	b := New(m, Limits{Lease: 30 * time.Millisecond}, Options{Holder: "me"})
	changed, _ := m.Changed(t.Context(), "m")
	release, err := b.Acquire(t.Context(), "m")
	if err != nil {
		t.Fatal(err)
	}
	first := m.State("m").Entries[0]
	if first.Holder != "me" || !first.End.IsZero() {
		t.Fatalf("entry = %+v", first)
	}
	// Wait for renewals until the lease has been extended.
	for {
		<-changed
		changed, _ = m.Changed(t.Context(), "m")
		if e := m.State("m").Entries[0]; e.Expires.After(first.Expires) {
			break
		}
	}
	release()
	if e := m.State("m").Entries; len(e) != 1 || e[0].End.IsZero() {
		t.Errorf("after release the state holds %+v, want the entry ended", e)
	}
}

// failing is a Store whose Update fails.
type failing struct{ err error }

func (f failing) Update(ctx context.Context, key string, fn func(State) (State, error)) error {
	return f.err
}

func (failing) Changed(ctx context.Context, key string) (<-chan struct{}, func()) { return nil, nil }

func TestAcquireStoreError(t *testing.T) {
	errDown := errors.New("down")
	b := New(failing{errDown}, Limits{}, Options{})
	if _, err := b.Acquire(t.Context(), "m"); !errors.Is(err, errDown) {
		t.Errorf("Acquire = %v, want the store's error", err)
	}
	// A store that hands ErrNoChange back is fine.
	b = New(failing{ErrNoChange}, Limits{}, Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Acquire(ctx, "m"); !errors.Is(err, context.Canceled) {
		t.Errorf("Acquire = %v, want context.Canceled", err)
	}
}

func TestHolder(t *testing.T) {
	self := localProcess()
	p, ok := parseHolder(LocalHolder())
	if !ok || p != self {
		t.Fatalf("parseHolder(%q) = %+v, %v; want %+v", LocalHolder(), p, ok, self)
	}
	tests := []struct {
		holder string
		gone   bool
	}{
		{holder: self.String(), gone: false},
		{holder: "other-host pid 1", gone: false},
		{holder: "not a holder", gone: false},
		{holder: process{host: self.host, pid: self.pid, start: "1", ns: self.ns}.String(), gone: self.start != ""},
	}
	for _, tt := range tests {
		if got := holderGone(tt.holder, self); got != tt.gone {
			t.Errorf("holderGone(%q) = %v, want %v", tt.holder, got, tt.gone)
		}
	}
}

// blind is a Memory that cannot tell of changes, like File; refused
// receives each time an Update leaves the state as it was.
type blind struct {
	Memory
	refused chan struct{}
}

func (b *blind) Update(ctx context.Context, key string, f func(State) (State, error)) error {
	return b.Memory.Update(ctx, key, func(s State) (State, error) {
		ns, err := f(s)
		if errors.Is(err, ErrNoChange) {
			b.refused <- struct{}{}
		}
		return ns, err
	})
}

func (*blind) Changed(ctx context.Context, key string) (<-chan struct{}, func()) { return nil, nil }

// TestAcquireWokenByOwnRelease: with a Store that must be polled, a
// waiter is woken by a release of its own Budget without waiting for the
// poll (an hour here).
func TestAcquireWokenByOwnRelease(t *testing.T) {
	store := &blind{refused: make(chan struct{}, 1)}
	b := New(store, Limits{InFlight: 1, Lease: time.Hour}, Options{MaxPoll: time.Hour})
	release, err := b.Acquire(t.Context(), "m")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan error, 1)
	go func() {
		r, err := b.Acquire(t.Context(), "m")
		if err == nil {
			r()
		}
		got <- err
	}()
	<-store.refused // the second one waits
	release()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
