package graphmail_test

import (
	"context"
	"errors"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestRefusedCachedTokenIsReplaced: a cached token Graph refuses (a
// revoked session: 401 without a claims challenge; a token from before
// Mail.Send was granted: 403) is replaced once by a fresh one, so the send
// succeeds now instead of failing until the token expires.
func TestRefusedCachedTokenIsReplaced(t *testing.T) {
	msg := func() *graphmail.Message {
		return &graphmail.Message{To: []graphmail.Address{{Address: "a@example.com"}}, Subject: "s", Text: "b"}
	}
	t.Run("revoked", func(t *testing.T) {
		f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
		if _, err := f.client.Send(context.Background(), msg()); err != nil {
			t.Fatal(err)
		}
		f.srv.RevokeIssuedTokens()
		res, err := f.client.Send(context.Background(), msg())
		if err != nil {
			t.Fatalf("after revocation: %v (attempts %d, token requests %d)", err, res.Attempts, f.srv.TokenRequests(graphmailtest.ResourceGraph))
		}
		if res.Attempts != 2 {
			t.Errorf("attempts %d, want 2 (refused, then a fresh token)", res.Attempts)
		}
		if n := f.srv.TokenRequests(graphmailtest.ResourceGraph); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
	})
	t.Run("permission granted after the token", func(t *testing.T) {
		f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
		app := f.srv.App()
		f.srv.SetRoles(app.ClientID, nil)
		var ge *graphmail.GraphError
		if _, err := f.client.Send(context.Background(), msg()); !errors.As(err, &ge) || ge.StatusCode != 403 {
			t.Fatalf("without Mail.Send: %v, want 403", err)
		}
		f.srv.SetRoles(app.ClientID, []string{"Mail.Send"})
		if _, err := f.client.Send(context.Background(), msg()); err != nil {
			t.Fatalf("after the grant: %v (the cached token predates it)", err)
		}
	})
	t.Run("once only", func(t *testing.T) {
		f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
		f.srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointGraph, Status: 401, Code: "InvalidAuthenticationToken", Times: 5})
		res, err := f.client.Send(context.Background(), msg())
		var ge *graphmail.GraphError
		if !errors.As(err, &ge) || ge.StatusCode != 401 || res.Attempts > 2 {
			t.Fatalf("err %v after %d attempts, want 401 after at most 2", err, res.Attempts)
		}
	})
}
