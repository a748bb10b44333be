package budget

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Store is where the states of all mailboxes live, shared by every
// participant. Implementations must be safe for concurrent use.
type Store interface {
	// Update reads key's state, calls f and stores f's result atomically
	// with respect to every other participant (retrying f on a conflict).
	// f may be called more than once. When f returns an error Update
	// stores nothing and returns that error (wrapped or not); f returns
	// ErrNoChange to say there is nothing to store.
	Update(ctx context.Context, key string, f func(State) (State, error)) error
	// Changed returns a channel that receives (or is closed) when key may
	// have changed, and a stop function; a Store that cannot tell returns
	// nil, and Budget polls.
	Changed(ctx context.Context, key string) (<-chan struct{}, func())
}

// ErrNoChange is returned by an Update function to say that the state is
// to be left as it is: the Store writes nothing. A Store may return it
// from Update or return nil; Budget treats both as success.
var ErrNoChange = errors.New("budget: no change")

// Options adjust a Budget.
type Options struct {
	// Now is the clock; nil means time.Now. Its times are compared with
	// those of every other participant (see the package doc on clocks).
	Now func() time.Time
	// Holder names this participant in its entries; "" means
	// LocalHolder(), which the File store can check for liveness.
	Holder string
	// Logger receives the failures to renew or end an entry (the lease
	// then ends it); nil discards.
	Logger *slog.Logger
	// MaxPoll caps each wait between tries when the Store cannot tell of
	// changes (Changed returns nil); 0 means a quarter of the Window or
	// 250 ms, whichever is less.
	MaxPoll time.Duration
}

// Budget lets messages start within a mailbox's Limits as kept in a
// shared Store. It is safe for concurrent use.
type Budget struct {
	store   Store
	limits  Limits
	now     func() time.Time
	holder  string
	log     *slog.Logger
	maxPoll time.Duration

	mu    sync.Mutex
	freed map[string]chan struct{} // closed when this Budget ends a message of the mailbox
}

// New returns a Budget over store with the limits l, the same for every
// mailbox.
func New(store Store, l Limits, o Options) *Budget {
	b := &Budget{store: store, limits: l.withDefaults(), now: o.Now, holder: o.Holder, log: o.Logger, maxPoll: o.MaxPoll}
	if b.now == nil {
		b.now = time.Now
	}
	if b.holder == "" {
		b.holder = LocalHolder()
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.maxPoll <= 0 {
		b.maxPoll = min(b.limits.Window/4, 250*time.Millisecond)
	}
	return b
}

// Limits returns the limits b keeps, with their defaults.
func (b *Budget) Limits() Limits { return b.limits }

// Acquire waits until one more message may start for mailbox (a key: the
// caller passes an endpoint+address key) and returns the function that
// ends it, which may be called more than once. While held, the lease is
// renewed every Lease/3. It returns ctx.Err() if ctx ends first, and the
// Store's error if it fails.
func (b *Budget) Acquire(ctx context.Context, mailbox string) (release func(), err error) {
	id, err := newID()
	if err != nil {
		return nil, err
	}
	e := Entry{ID: id, Holder: b.holder}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Subscribe before looking, so that a change between the look
		// and the wait is not missed. A Store that cannot tell of changes
		// is polled, but this Budget's own releases wake its waiters at
		// once.
		changed, stop := b.store.Changed(ctx, mailbox)
		freed := b.freedChan(mailbox)
		var (
			took  bool
			retry time.Time
		)
		err := b.store.Update(ctx, mailbox, func(s State) (State, error) {
			now := b.now()
			ns, ok, r := s.Take(now, b.limits, e)
			took, retry = ok, r
			if !ok {
				if len(ns.Entries) == len(s.Entries) {
					return s, ErrNoChange
				}
				return ns, nil // pruned
			}
			return ns, nil
		})
		if err != nil && !errors.Is(err, ErrNoChange) {
			if stop != nil {
				stop()
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("budget: mailbox %s: %w", mailbox, err)
		}
		if took {
			if stop != nil {
				stop()
			}
			return b.hold(mailbox, id), nil
		}
		wait := retry.Sub(b.now())
		if changed == nil {
			wait = min(wait, b.maxPoll)
		}
		err = b.wait(ctx, wait, changed, freed)
		if stop != nil {
			stop()
		}
		if err != nil {
			return nil, err
		}
	}
}

// wait waits for d, a signal on changed (nil: none) or freed, or the
// end of ctx.
func (b *Budget) wait(ctx context.Context, d time.Duration, changed, freed <-chan struct{}) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-changed:
	case <-freed:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// freedChan returns the channel closed when this Budget next ends a
// message of mailbox.
func (b *Budget) freedChan(mailbox string) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.freed == nil {
		b.freed = map[string]chan struct{}{}
	}
	ch := b.freed[mailbox]
	if ch == nil {
		ch = make(chan struct{})
		b.freed[mailbox] = ch
	}
	return ch
}

// signalFreed wakes the waiters of mailbox in this Budget.
func (b *Budget) signalFreed(mailbox string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch := b.freed[mailbox]; ch != nil {
		close(ch)
		delete(b.freed, mailbox)
	}
}

// hold renews the lease of entry id of mailbox until the returned
// function is called, which ends the entry.
func (b *Budget) hold(mailbox, id string) func() {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(b.limits.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), b.limits.Lease/3)
			err := b.store.Update(ctx, mailbox, func(s State) (State, error) {
				return s.Renew(b.now(), b.limits, id), nil
			})
			cancel()
			if err != nil && !errors.Is(err, ErrNoChange) {
				b.log.Warn("budget: renewing a lease failed; it lapses unless a later renewal succeeds", "mailbox", mailbox, "error", err.Error())
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			<-stopped
			ctx, cancel := context.WithTimeout(context.Background(), b.limits.Lease)
			defer cancel()
			err := b.store.Update(ctx, mailbox, func(s State) (State, error) {
				return s.Finish(b.now(), id), nil
			})
			if err != nil && !errors.Is(err, ErrNoChange) {
				b.log.Warn("budget: ending an entry failed; its lease ends it", "mailbox", mailbox, "error", err.Error())
			}
			b.signalFreed(mailbox)
		})
	}
}

// newID returns a random entry ID.
func newID() (string, error) {
	var p [12]byte
	if _, err := rand.Read(p[:]); err != nil {
		return "", fmt.Errorf("budget: %w", err)
	}
	return hex.EncodeToString(p[:]), nil
}
