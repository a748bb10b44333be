package graphmail_test

import (
	"context"
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
		maxInFlight  int // 0: the process's governor
		wantMax      int
		wantThrottle bool
	}{
		{name: "process governor", wantMax: 4},
		{name: "governor of 2", maxInFlight: 2, wantMax: 2},
		// Without a real limit the fake's MailboxConcurrency answers 429:
		// proof that the test would catch a governor that lets more through.
		{name: "no real limit", maxInFlight: 20, wantMax: 4, wantThrottle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphmail.Config) {
				if tt.maxInFlight > 0 {
					graphmail.SetMaxInFlight(c, tt.maxInFlight)
				}
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
// share the process's governor; a second mailbox has slots of its own.
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
	// the other one. None has a governor of its own.
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
