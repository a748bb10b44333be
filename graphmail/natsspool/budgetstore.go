package natsspool

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/budget"
)

// BudgetStore is a budget.Store in the stream's KV bucket S_BUDGET, shared
// by every relay on the stream: one key per mailbox, changed only with a
// compare-and-set on its revision, so that the relays' Takes are
// serialised as the budget's rule needs, and watched, so that a waiting
// relay starts as soon as another one ends a message.
type BudgetStore struct {
	kv jetstream.KeyValue
}

var _ budget.Store = (*BudgetStore)(nil)

// BudgetStore returns the Queue's per-mailbox budget store.
func (q *Queue) BudgetStore() *BudgetStore { return &BudgetStore{kv: q.budget} }

// budgetKey is the KV key of a mailbox key (which holds characters a KV
// key may not).
func budgetKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:12])
}

// Update implements budget.Store: read, apply f, write if the revision is
// still the one read, else read again.
func (s *BudgetStore) Update(ctx context.Context, key string, f func(budget.State) (budget.State, error)) error {
	wait := 50 * time.Millisecond
	for {
		err := s.update(ctx, key, f)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		// The bucket has no leader for a moment (a server stopped, an
		// election): try again until ctx ends rather than fail a delivery.
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		wait = min(wait*2, 2*time.Second)
	}
}

// transient reports whether a KV error may pass by itself: anything but
// the caller's own function failing.
func transient(err error) bool {
	_, own := errors.AsType[*fnError](err)
	return !own
}

func (s *BudgetStore) update(ctx context.Context, key string, f func(budget.State) (budget.State, error)) error {
	_, err := updateJSON(ctx, s.kv, budgetKey(key), func(st *budget.State) error {
		next, err := f(*st)
		if err != nil {
			return err
		}
		*st = next
		return nil
	}, nil) // damaged: start afresh, like the File store
	if errors.Is(err, budget.ErrNoChange) {
		return nil
	}
	return err
}

// Changed implements budget.Store: a KV watch on the mailbox's key, set
// up in the background (a watch whose set-up is lost while a server stops
// must not hold a delivery), and a tick every changedTick besides, so that
// a waiter looks again even when the watch fails.
func (s *BudgetStore) Changed(ctx context.Context, key string) (<-chan struct{}, func()) {
	wctx, cancel := context.WithCancel(ctx)
	ch := make(chan struct{}, 1)
	signal := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		t := time.NewTicker(changedTick)
		defer t.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
				signal()
			}
		}
	}()
	go func() {
		w, err := s.kv.Watch(wctx, budgetKey(key), jetstream.UpdatesOnly())
		if err != nil {
			return // the ticks remain
		}
		defer w.Stop()
		for {
			select {
			case <-wctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e != nil {
					signal()
				}
			}
		}
	}()
	return ch, cancel
}

// changedTick is how often a waiter for a mailbox's budget looks again
// without a change seen.
const changedTick = time.Second
