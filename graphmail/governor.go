package graphmail

import (
	"context"
	"strings"
	"sync"
	"time"
)

// MailboxConcurrency is the number of Graph requests Exchange Online lets
// one app have in flight per mailbox; a fifth gets 429 MailboxConcurrency.
const MailboxConcurrency = 4

// GovernorOptions configure a Governor.
type GovernorOptions struct {
	// MaxInFlight is the most Graph requests in flight per mailbox; 0 means
	// MailboxConcurrency.
	MaxInFlight int
	// MessagesPerMinute is the most messages started per minute and
	// mailbox, spaced evenly (a burst is paced, not throttled); 0 means
	// unlimited. Exchange Online delays messages beyond 30 a minute.
	MessagesPerMinute int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits for the next message slot; nil means a timer honouring
	// ctx. It must return ctx.Err() when ctx ends first.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Governor keeps the Graph requests of every Client that shares it within
// Exchange Online's per-mailbox limits: at most MaxInFlight requests in
// flight per mailbox and, optionally, a message rate. Mailboxes are told
// apart by Graph endpoint and address, so two mailboxes (or two tenants)
// never wait for each other. It is safe for concurrent use; share one
// Governor between all Clients of a process that send from the same mailbox.
type Governor struct {
	maxInFlight int
	interval    time.Duration
	now         func() time.Time
	sleep       func(context.Context, time.Duration) error

	mu    sync.Mutex
	boxes map[string]*mailboxGate
}

// mailboxGate is the state of one mailbox.
type mailboxGate struct {
	slots chan struct{} // a token per request in flight
	next  time.Time     // earliest start of the next message
}

// NewGovernor returns a Governor with the given limits.
func NewGovernor(opts GovernorOptions) *Governor {
	g := &Governor{maxInFlight: opts.MaxInFlight, now: opts.Now, sleep: opts.Sleep, boxes: map[string]*mailboxGate{}}
	if g.maxInFlight <= 0 {
		g.maxInFlight = MailboxConcurrency
	}
	if opts.MessagesPerMinute > 0 {
		g.interval = time.Minute / time.Duration(opts.MessagesPerMinute)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.sleep == nil {
		g.sleep = sleepCtx
	}
	return g
}

// defaultGovernor is the one deliberate piece of process-wide state in
// graphmail: Exchange's MailboxConcurrency limit is per mailbox, not per
// Client, so Clients that share no Governor must still share this one.
var (
	defaultGovernorOnce sync.Once
	defaultGovernor     *Governor
)

// DefaultGovernor returns the process-wide Governor that Clients without
// Config.Governor share: MailboxConcurrency requests in flight per mailbox,
// no rate limit. To pace messages, give the Clients of a process one
// Governor of your own with MessagesPerMinute set.
func DefaultGovernor() *Governor {
	defaultGovernorOnce.Do(func() { defaultGovernor = NewGovernor(GovernorOptions{}) })
	return defaultGovernor
}

func (g *Governor) gate(key string) *mailboxGate {
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

// Acquire waits until one more request may be in flight for the mailbox and
// returns the function that ends it (call it exactly once). It returns
// ctx.Err() if ctx ends first.
func (g *Governor) Acquire(ctx context.Context, endpoint, mailbox string) (release func(), err error) {
	b := g.gate(mailboxKey(endpoint, mailbox))
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

// Pace waits until the mailbox may start another message under
// MessagesPerMinute; it returns at once without a rate. Waiting ends early
// with ctx.Err() if ctx ends, and the slot is then given back.
func (g *Governor) Pace(ctx context.Context, endpoint, mailbox string) error {
	if g.interval <= 0 {
		return ctx.Err()
	}
	b := g.gate(mailboxKey(endpoint, mailbox))
	g.mu.Lock()
	now := g.now()
	start := b.next
	if start.Before(now) {
		start = now
	}
	b.next = start.Add(g.interval)
	g.mu.Unlock()
	wait := start.Sub(now)
	if wait <= 0 {
		return ctx.Err()
	}
	if err := g.sleep(ctx, wait); err != nil {
		g.mu.Lock()
		if b.next.Equal(start.Add(g.interval)) {
			b.next = start // nobody queued behind us: give the slot back
		}
		g.mu.Unlock()
		return err
	}
	return nil
}
