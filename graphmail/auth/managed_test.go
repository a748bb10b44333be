package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// MSAL keeps managed identity tokens in a process-wide cache keyed by the
// identity, so each case here uses its own client ID and the system-assigned
// identity appears in one test only.
func TestManagedIdentity(t *testing.T) {
	tests := []struct {
		name     string
		assign   *graphmailtest.ManagedIdentity
		clientID string
		appID    string
		hint     string
	}{
		{name: "system-assigned", assign: &graphmailtest.ManagedIdentity{ClientID: "a0000000-0000-4000-8000-000000000001", SystemAssigned: true},
			appID: "a0000000-0000-4000-8000-000000000001"},
		{name: "user-assigned", assign: &graphmailtest.ManagedIdentity{ClientID: "a0000000-0000-4000-8000-000000000002"},
			clientID: "a0000000-0000-4000-8000-000000000002", appID: "a0000000-0000-4000-8000-000000000002"},
		{name: "no identity assigned", clientID: "a0000000-0000-4000-8000-000000000003", hint: "managed_identity_client_id"},
		{name: "wrong client id", assign: &graphmailtest.ManagedIdentity{ClientID: "a0000000-0000-4000-8000-000000000004"},
			clientID: "a0000000-0000-4000-8000-000000000005", hint: "client ID (not the object ID)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTenant(t)
			for k, v := range srv.ManagedIdentityEnv() {
				t.Setenv(k, v)
			}
			if got := auth.ManagedIdentitySource(); got != "AppService" {
				t.Fatalf("source %q, want AppService", got)
			}
			if tt.assign != nil {
				srv.AssignManagedIdentity(*tt.assign)
			}
			p, err := auth.New(auth.Options{ManagedIdentity: &auth.ManagedIdentity{ClientID: tt.clientID}, HTTPClient: srv.HTTPClient()})
			if err != nil {
				t.Fatal(err)
			}
			if p.Method() != auth.MethodManagedIdentity {
				t.Errorf("method %q", p.Method())
			}
			for _, scope := range []string{auth.GraphScope, auth.OutlookScope} {
				// forceRefresh: MSAL keeps managed identity tokens in a
				// process-wide cache, which another run of this test (-count)
				// has filled from another fake tenant.
				tok, err := p.Token(context.Background(), scope, true)
				if tt.hint != "" {
					var ae *auth.Error
					if !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Temporary() {
						t.Fatalf("got %v, want a permanent *auth.Error with status 400", err)
					}
					if ae.UserAssigned != (tt.clientID != "") || ae.Method != auth.MethodManagedIdentity {
						t.Errorf("user-assigned %t method %q, want %t %q", ae.UserAssigned, ae.Method, tt.clientID != "", auth.MethodManagedIdentity)
					}
					return
				}
				if err != nil {
					t.Fatalf("%s: %v", scope, err)
				}
				c, err := srv.ParseToken(tok.Value)
				if err != nil {
					t.Fatal(err)
				}
				if c.AppID != tt.appID || c.Audience != strings.TrimSuffix(scope, "/.default") {
					t.Errorf("%s: token for %s/%s", scope, c.AppID, c.Audience)
				}
			}
		})
	}
}
