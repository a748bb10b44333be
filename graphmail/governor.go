package graphmail

import (
	"context"
	"strings"
	"sync"
	"time"
)

// mailboxConcurrency is the number of Graph requests Exchange Online lets
// one app have in flight per mailbox; a fifth gets 429 MailboxConcurrency.
const mailboxConcurrency = 4

// governor keeps the Graph requests of every Client that shares it within
// Exchange Online's per-mailbox limits: at most maxInFlight requests in
// flight per mailbox, and each Client's message rate. Mailboxes are told
// apart by Graph endpoint and address (mailboxKey), so two mailboxes (or
// two tenants) never wait for each other. It is safe for concurrent use.
type governor struct {
	maxInFlight int

	mu    sync.Mutex
	boxes map[string]*mailboxGate
}

// mailboxGate is the state of one mailbox.
type mailboxGate struct {
	slots chan struct{} // a token per request in flight
	next  time.Time     // earliest start of the next message
}

func newGovernor(maxInFlight int) *governor {
	return &governor{maxInFlight: maxInFlight, boxes: map[string]*mailboxGate{}}
}

// theGovernor is the one deliberate piece of process-wide state in
// graphmail: Exchange's MailboxConcurrency limit is per mailbox, not per
// Client, so every Client of the process shares it.
var (
	theGovernorOnce sync.Once
	theGovernor     *governor
)

// processGovernor returns the process-wide governor: mailboxConcurrency
// requests in flight per mailbox.
func processGovernor() *governor {
	theGovernorOnce.Do(func() { theGovernor = newGovernor(mailboxConcurrency) })
	return theGovernor
}

func (g *governor) gate(key string) *mailboxGate {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := g.boxes[key]
	if b == nil {
		b = &mailboxGate{slots: make(chan struct{}, g.maxInFlight)}
		g.boxes[key] = b
	}
	return b
}

// mailboxKey identifies a mailbox across Clients: the Graph endpoint and the
// address, without regard to case.
func mailboxKey(endpoint, mailbox string) string {
	return strings.ToLower(endpoint) + " " + strings.ToLower(mailbox)
}

// acquire waits until one more request may be in flight for the mailbox
// and returns the function that ends it (call it exactly once). It returns
// ctx.Err() if ctx ends first.
func (g *governor) acquire(ctx context.Context, mailbox string) (release func(), err error) {
	b := g.gate(mailbox)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() { once.Do(func() { <-b.slots }) }, nil
}

// pace waits until the mailbox may start another message when messages
// start interval apart; it returns at once for interval 0. Waiting ends
// early with ctx.Err() if ctx ends, and the slot is then given back.
func (g *governor) pace(ctx context.Context, mailbox string, interval time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) error {
	if interval <= 0 {
		return ctx.Err()
	}
	b := g.gate(mailbox)
	g.mu.Lock()
	t := now()
	start := b.next
	if start.Before(t) {
		start = t
	}
	b.next = start.Add(interval)
	g.mu.Unlock()
	wait := start.Sub(t)
	if wait <= 0 {
		return ctx.Err()
	}
	if err := sleep(ctx, wait); err != nil {
		g.mu.Lock()
		if b.next.Equal(start.Add(interval)) {
			b.next = start // nobody queued behind us: give the slot back
		}
		g.mu.Unlock()
		return err
	}
	return nil
}
