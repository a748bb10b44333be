package graphmail

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestGovernorMailboxesIndependent(t *testing.T) {
	g := newGovernor(mailboxConcurrency)
	ctx := context.Background()
	for range mailboxConcurrency {
		if _, err := g.acquire(ctx, mailboxKey("https://graph", "a@x")); err != nil {
			t.Fatal(err)
		}
	}
	release, err := g.acquire(ctx, mailboxKey("https://graph", "B@X"))
	if err != nil {
		t.Fatalf("another mailbox waited: %v", err)
	}
	release()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := g.acquire(short, mailboxKey("https://graph", "A@x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fifth request for a full mailbox: err = %v, want the deadline", err)
	}
	if _, err := g.acquire(ctx, mailboxKey("https://other-cloud", "a@x")); err != nil {
		t.Errorf("the same address at another endpoint waited: %v", err)
	}
}

// fakeClock is a clock that only moves when told to; Sleep records the
// wait and returns at once.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	slept []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	return ctx.Err()
}

func (c *fakeClock) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestGovernorPacing(t *testing.T) {
	tests := []struct {
		name      string
		perMinute int
		advance   time.Duration // clock moves this much between messages
		want      []time.Duration
	}{
		{"unlimited", 0, 0, nil},
		{"30 a minute, burst", 30, 0, []time.Duration{2 * time.Second, 4 * time.Second, 6 * time.Second}},
		{"30 a minute, slow caller", 30, 3 * time.Second, nil},
		{"60 a minute, half-way", 60, 500 * time.Millisecond, []time.Duration{500 * time.Millisecond, time.Second, 1500 * time.Millisecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Unix(1e9, 0)}
			// Pacing through a Client: Config.MessagesPerMinute sets the
			// interval that Send keeps between messages.
			c, err := New(Config{Sender: "a@x", Policy: PolicyOnly, Fallback: okFallback{}, MessagesPerMinute: tt.perMinute,
				now: clk.Now, sleep: clk.Sleep, gov: newGovernor(mailboxConcurrency)})
			if err != nil {
				t.Fatal(err)
			}
			for range 4 {
				m := &Message{To: []Address{{Address: "b@x.example"}}, Text: "hi"}
				if _, err := c.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
				clk.advance(tt.advance)
			}
			if len(clk.slept) != len(tt.want) {
				t.Fatalf("slept %v, want %v", clk.slept, tt.want)
			}
			for i := range tt.want {
				if clk.slept[i] != tt.want[i] {
					t.Errorf("slept %v, want %v", clk.slept, tt.want)
				}
			}
		})
	}
}

// okFallback accepts every message.
type okFallback struct{}

func (okFallback) Send(context.Context, string, []string, []byte) (string, error) {
	return "250 ok", nil
}

func TestGovernorPacingCancelled(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	g := newGovernor(mailboxConcurrency)
	const every = 2 * time.Second
	ctx, cancel := context.WithCancel(context.Background())
	_ = g.pace(ctx, "e a@x", every, clk.Now, clk.Sleep) // first slot now
	cancel()
	if err := g.pace(ctx, "e a@x", every, clk.Now, clk.Sleep); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The cancelled caller gave its slot back: the next waits 2s, not 4s.
	_ = g.pace(context.Background(), "e a@x", every, clk.Now, clk.Sleep)
	if last := clk.slept[len(clk.slept)-1]; last != 2*time.Second {
		t.Errorf("slept %v, want the last 2s", clk.slept)
	}
}
