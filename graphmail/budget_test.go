package graphmail_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/budget"
)

// TestBudgetAcrossGovernors: two Clients with governors of their own (as
// two processes have) that share one budget of 2 in flight never have
// more than 2 requests in flight at the fake together.
func TestBudgetAcrossGovernors(t *testing.T) {
	shared := budget.New(new(budget.Memory), budget.Limits{InFlight: 2}, budget.Options{})
	f := newFixture(t, func(c *graphmail.Config) {
		graphmail.SetMaxInFlight(c, 4)
		c.Policy = graphmail.PolicyNever
		c.Budget = shared
	})
	second, err := graphmail.New(graphmail.Config{
		Sender: f.srv.Mailboxes()[0], Credential: f.tokens.TokenCredential(),
		GraphEndpoint: f.srv.GraphEndpoint(), HTTPClient: f.srv.HTTPClient(),
		Policy: graphmail.PolicyNever, Budget: shared,
	})
	if err != nil {
		t.Fatal(err)
	}
	release := f.srv.HoldGraph()
	defer release()
	var wg sync.WaitGroup
	for _, c := range []*graphmail.Client{f.client, second} {
		wg.Go(func() { sendConcurrently(t, 6, c, false) })
	}
	waitUntil(t, "the budget to be fully used", func() bool { return f.srv.MaxInFlight(f.srv.Mailboxes()[0]) >= 2 })
	release()
	wg.Wait()
	if got := f.srv.MaxInFlight(f.srv.Mailboxes()[0]); got != 2 {
		t.Errorf("max in flight at the fake = %d, want 2", got)
	}
	if n := len(f.srv.Messages()); n != 12 {
		t.Errorf("delivered %d, want 12", n)
	}
}

// recordingBudget records the keys it is asked for and the releases.
type recordingBudget struct {
	mu       sync.Mutex
	keys     []string
	released int
	err      error
}

func (b *recordingBudget) Acquire(ctx context.Context, mailbox string) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.keys = append(b.keys, mailbox)
	if b.err != nil {
		return nil, b.err
	}
	return func() { b.mu.Lock(); b.released++; b.mu.Unlock() }, nil
}

func TestBudgetKeyAndRelease(t *testing.T) {
	rb := &recordingBudget{}
	f := newFixture(t, func(c *graphmail.Config) { c.Budget = rb })
	if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
		t.Fatal(err)
	}
	other, err := f.client.ForMailbox("Second@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	other.Send(context.Background(), textMessage()) // the fake may refuse the mailbox: the budget is asked first
	want := []string{
		strings.ToLower(f.srv.GraphEndpoint() + " " + f.srv.Mailboxes()[0]),
		strings.ToLower(f.srv.GraphEndpoint() + " second@example.com"),
	}
	if len(rb.keys) != 2 || rb.keys[0] != want[0] || rb.keys[1] != want[1] {
		t.Errorf("keys = %q, want %q", rb.keys, want)
	}
	if rb.released != 2 {
		t.Errorf("released %d times, want 2", rb.released)
	}

	errWait := errors.New("store down")
	rb = &recordingBudget{err: errWait}
	f = newFixture(t, func(c *graphmail.Config) { c.Budget = rb })
	if _, err := f.client.Send(context.Background(), textMessage()); !errors.Is(err, errWait) {
		t.Errorf("Send = %v, want the budget's error", err)
	}
	if n := len(f.srv.Messages()); n != 0 {
		t.Errorf("%d messages sent without the budget", n)
	}
}
