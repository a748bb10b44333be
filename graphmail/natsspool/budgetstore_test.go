package natsspool

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/budget"
	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
)

// TestBudgetStoreAcrossRelays: three relays' Budgets over the stream's KV
// bucket keep one mailbox within its limits together: never more than
// InFlight held at once, never more than PerWindow started in any window.
func TestBudgetStoreAcrossRelays(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	limits := budget.Limits{PerWindow: 6, Window: 400 * time.Millisecond, InFlight: 2, Lease: 5 * time.Second}
	type span struct{ start, end time.Time }
	var (
		mu    sync.Mutex
		spans []span
		held  int
		most  int
	)
	var wg sync.WaitGroup
	for r := range 3 {
		q := open(t, c, Options{Name: "relay-" + string(rune('a'+r))})
		b := budget.New(q.BudgetStore(), limits, budget.Options{Holder: q.holder()})
		for range 4 {
			wg.Go(func() {
				for range 5 {
					release, err := b.Acquire(context.Background(), "https://graph.test alerts@contoso.com")
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					s := span{start: time.Now()}
					held++
					most = max(most, held)
					mu.Unlock()
					mu.Lock()
					held--
					s.end = time.Now()
					spans = append(spans, s)
					mu.Unlock()
					release()
				}
			})
		}
	}
	wg.Wait()
	if most > limits.InFlight {
		t.Errorf("%d held at once, want at most %d", most, limits.InFlight)
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].start.Before(spans[j].start) })
	for i := range spans {
		n := 0
		for j := i; j < len(spans) && spans[j].start.Sub(spans[i].start) < limits.Window; j++ {
			n++
		}
		if n > limits.PerWindow {
			t.Fatalf("%d started within %s from %d, want at most %d", n, limits.Window, i, limits.PerWindow)
		}
	}
	if len(spans) != 60 {
		t.Errorf("%d acquisitions, want 60", len(spans))
	}
}
