package graphmail_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestGovernorAtTheFake: 20 concurrent sends to one mailbox never have
// more than 4 requests in flight at the fake, and none is throttled.
func TestGovernorAtTheFake(t *testing.T) {
	tests := []struct {
		name         string
		gov          *graphmail.Governor
		wantMax      int
		wantThrottle bool
	}{
		{name: "default governor", gov: nil, wantMax: 4},
		{name: "shared governor of 2", gov: graphmail.NewGovernor(graphmail.GovernorOptions{MaxInFlight: 2}), wantMax: 2},
		// Without a real limit the fake's MailboxConcurrency answers 429:
		// proof that the test would catch a governor that lets more through.
		{name: "no real limit", gov: graphmail.NewGovernor(graphmail.GovernorOptions{MaxInFlight: 20}), wantMax: 4, wantThrottle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphmail.Config) {
				c.Governor = tt.gov
				c.Policy = graphmail.PolicyNever
				c.Retry.MaxAttempts = 20
				c.Retry.MaxElapsed = time.Hour
			})
			// The fake holds the requests it admits until the governor's
			// limit is reached (and, without a real limit, until the fake
			// turned one away): they overlap however slowly they start.
			release := f.srv.HoldGraph()
			defer release()
			done := make(chan int)
			go func() { done <- sendConcurrently(t, 20, f.client, tt.wantThrottle) }()
			waitUntil(t, "the requests to overlap", func() bool {
				return f.srv.MaxInFlight(f.srv.Mailboxes()[0]) >= tt.wantMax && (!tt.wantThrottle || f.srv.Throttled() > 0)
			})
			release()
			failed := <-done
			if got := f.srv.MaxInFlight(f.srv.Mailboxes()[0]); got != tt.wantMax {
				t.Errorf("max in flight at the fake = %d, want %d", got, tt.wantMax)
			}
			if got := f.srv.Throttled() > 0; got != tt.wantThrottle {
				t.Errorf("throttled = %d, want some: %v", f.srv.Throttled(), tt.wantThrottle)
			}
			if n := len(f.srv.Messages()); n+failed != 20 || !tt.wantThrottle && n != 20 {
				t.Errorf("delivered %d, failed %d, want 20 delivered", n, failed)
			}
		})
	}
}

// sendConcurrently sends n messages at once and returns how many failed;
// failures are test errors unless allowed (a test that expects throttling
// may see a send run out of retries).
func sendConcurrently(t *testing.T, n int, c *graphmail.Client, allowFailures bool) int {
	t.Helper()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
	)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Send(context.Background(), textMessage()); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
				if !allowFailures {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return failed
}

// TestGovernorSharedByClients: two Clients of one mailbox in one process
// share the default governor; a second mailbox has slots of its own.
func TestGovernorSharedByClients(t *testing.T) {
	f := newFixture(t, nil)
	other := "second@sandbox.onmicrosoft.com"
	f.srv.AddMailbox(other)
	mk := func(sender string) *graphmail.Client {
		c, err := graphmail.New(graphmail.Config{Sender: sender, Credential: f.tokens.TokenCredential(),
			GraphEndpoint: f.srv.GraphEndpoint(), HTTPClient: f.srv.HTTPClient(), Policy: graphmail.PolicyNever})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	// f.client and a are two Clients of the default mailbox; b sends from
	// the other one. None has a Governor of its own.
	a, b := mk(graphmailtest.DefaultMailbox), mk(other)
	// The fake holds what it admits until both mailboxes are fully used.
	release := f.srv.HoldGraph()
	defer release()
	var wg sync.WaitGroup
	for _, c := range []*graphmail.Client{f.client, a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); sendConcurrently(t, 8, c, false) }()
	}
	waitUntil(t, "both mailboxes to be fully used", func() bool {
		for _, box := range f.srv.Mailboxes() {
			if f.srv.MaxInFlight(box) < 4 {
				return false
			}
		}
		return true
	})
	release()
	wg.Wait()
	for _, box := range f.srv.Mailboxes() {
		if got := f.srv.MaxInFlight(box); got != 4 {
			t.Errorf("%s: max in flight %d, want 4 (each mailbox fully used, never more)", box, got)
		}
	}
	if f.srv.Throttled() != 0 {
		t.Errorf("throttled %d", f.srv.Throttled())
	}
}

func TestGovernorMailboxesIndependent(t *testing.T) {
	g := graphmail.NewGovernor(graphmail.GovernorOptions{})
	ctx := context.Background()
	for range graphmail.MailboxConcurrency {
		if _, err := g.Acquire(ctx, "https://graph", "a@x"); err != nil {
			t.Fatal(err)
		}
	}
	release, err := g.Acquire(ctx, "https://graph", "B@X")
	if err != nil {
		t.Fatalf("another mailbox waited: %v", err)
	}
	release()
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := g.Acquire(short, "https://graph", "A@x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("fifth request for a full mailbox: err = %v, want the deadline", err)
	}
	if _, err := g.Acquire(ctx, "https://other-cloud", "a@x"); err != nil {
		t.Errorf("the same address at another endpoint waited: %v", err)
	}
}

// fakeClock is a clock that only moves when Sleep is called.
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
			g := graphmail.NewGovernor(graphmail.GovernorOptions{MessagesPerMinute: tt.perMinute, Now: clk.Now, Sleep: clk.Sleep})
			for range 4 {
				if err := g.Pace(context.Background(), "https://graph", "a@x"); err != nil {
					t.Fatal(err)
				}
				clk.mu.Lock()
				clk.now = clk.now.Add(tt.advance)
				clk.mu.Unlock()
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

func TestGovernorPacingCancelled(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1e9, 0)}
	g := graphmail.NewGovernor(graphmail.GovernorOptions{MessagesPerMinute: 30, Now: clk.Now, Sleep: clk.Sleep})
	ctx, cancel := context.WithCancel(context.Background())
	_ = g.Pace(ctx, "e", "a@x") // first slot now
	cancel()
	if err := g.Pace(ctx, "e", "a@x"); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	// The cancelled caller gave its slot back: the next waits 2s, not 4s.
	_ = g.Pace(context.Background(), "e", "a@x")
	if last := clk.slept[len(clk.slept)-1]; last != 2*time.Second {
		t.Errorf("slept %v, want the last 2s", clk.slept)
	}
}

// TestOneRetryLayer counts requests at the fake: each failed attempt is one
// request, so no retry layer below graphmail's multiplies them.
func TestOneRetryLayer(t *testing.T) {
	tests := []struct {
		status   int
		attempts int
	}{{429, 3}, {503, 3}, {504, 3}}
	for _, tt := range tests {
		f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever; c.Retry.MaxAttempts = 3 })
		f.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: tt.status, Times: -1})
		res, err := f.client.Send(context.Background(), textMessage())
		if err == nil {
			t.Fatal("sent despite failures")
		}
		if got := f.srv.GraphRequests("POST sendMail"); got != tt.attempts || res.Attempts != tt.attempts {
			t.Errorf("%d: requests at the fake %d, attempts %d, want %d each", tt.status, got, res.Attempts, tt.attempts)
		}
	}
}

// waitUntil polls cond until it holds; the deadline only bounds a hang.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
