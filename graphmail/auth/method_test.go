package auth_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const (
	fedIssuer  = "https://oidc.example.test/cluster-1/"
	fedSubject = "system:serviceaccount:mail:graphmail"
)

// newFederatedTenant starts a tenant whose app trusts fedIssuer for
// fedSubject, and writes a fresh federated token to a file.
func newFederatedTenant(t *testing.T) (*graphmailtest.Server, string) {
	t.Helper()
	srv, _ := newTenant(t)
	if err := srv.AddFederation(graphmailtest.Federation{ClientID: clientID, Issuer: fedIssuer, Subject: fedSubject}); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "azure-identity-token")
	writeFederatedToken(t, srv, path, fedSubject, time.Hour)
	return srv, path
}

func writeFederatedToken(t *testing.T, srv *graphmailtest.Server, path, subject string, lifetime time.Duration) {
	t.Helper()
	tok, err := srv.MintFederatedToken(fedIssuer, subject, "", lifetime)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func federated(path string) func(*auth.Options) {
	return func(o *auth.Options) { o.ClientSecret, o.FederatedTokenFile = "", path }
}

func TestWorkloadIdentityBothScopes(t *testing.T) {
	srv, path := newFederatedTenant(t)
	p := newProvider(t, srv, federated(path))
	if p.Method() != auth.MethodWorkloadIdentity {
		t.Fatalf("method %q", p.Method())
	}
	for _, scope := range []string{auth.GraphScope, auth.OutlookScope} {
		tok, err := p.Token(context.Background(), scope, false)
		if err != nil {
			t.Fatalf("%s: %v", scope, err)
		}
		c, err := srv.ParseToken(tok.Value)
		if err != nil {
			t.Fatal(err)
		}
		if c.AppID != clientID || c.Audience != strings.TrimSuffix(scope, "/.default") {
			t.Errorf("%s: token for %s/%s", scope, c.AppID, c.Audience)
		}
	}
	if got := srv.FederatedRequests(); got != 2 {
		t.Errorf("federated token requests %d, want 2", got)
	}
}

// The file is read on every request to the authority: a rotated file is
// used at once, without a new Provider.
func TestWorkloadIdentityRotation(t *testing.T) {
	srv, path := newFederatedTenant(t)
	p := newProvider(t, srv, federated(path))
	ctx := context.Background()
	if _, err := p.Token(ctx, auth.GraphScope, false); err != nil {
		t.Fatal(err)
	}
	// The platform rotates the file to a token the tenant does not trust:
	// the next request to the authority must present it.
	writeFederatedToken(t, srv, path, "system:serviceaccount:other:sa", time.Hour)
	_, err := p.Token(ctx, auth.GraphScope, true)
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != "AADSTS70021" {
		t.Fatalf("after rotation to an untrusted subject: %v, want AADSTS70021", err)
	}
	// Rotated again to a good token: works without a restart.
	writeFederatedToken(t, srv, path, fedSubject, time.Hour)
	if _, err := p.Token(ctx, auth.GraphScope, true); err != nil {
		t.Fatalf("after rotation to a good token: %v", err)
	}
	if got := srv.FederatedRequests(); got != 2 {
		t.Errorf("federated token requests %d, want 2", got)
	}
}

func TestWorkloadIdentityErrors(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, srv *graphmailtest.Server, path string)
		code    string
		fileErr string
	}{
		{name: "expired token", prepare: func(t *testing.T, srv *graphmailtest.Server, path string) {
			writeFederatedToken(t, srv, path, fedSubject, -time.Minute)
		}, fileErr: "expired"},
		{name: "missing file", prepare: func(t *testing.T, srv *graphmailtest.Server, path string) {
			_ = os.Remove(path)
		}, fileErr: "does not exist"},
		{name: "empty file", prepare: func(t *testing.T, srv *graphmailtest.Server, path string) {
			_ = os.WriteFile(path, []byte("\n"), 0o600)
		}, fileErr: "is empty"},
		{name: "untrusted subject", prepare: func(t *testing.T, srv *graphmailtest.Server, path string) {
			writeFederatedToken(t, srv, path, "repo:someone/else:ref:refs/heads/main", time.Hour)
		}, code: "AADSTS70021"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, path := newFederatedTenant(t)
			tt.prepare(t, srv, path)
			p := newProvider(t, srv, federated(path))
			_, err := p.Token(context.Background(), auth.GraphScope, false)
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("got %v (%T), want *auth.Error", err, err)
			}
			if ae.Code != tt.code || ae.Method != auth.MethodWorkloadIdentity || ae.Temporary() {
				t.Errorf("code %q method %q temporary %t, want code %q", ae.Code, ae.Method, ae.Temporary(), tt.code)
			}
			var fe *auth.FederatedTokenError
			if tt.fileErr != "" && (!errors.As(err, &fe) || !strings.Contains(fe.Problem, tt.fileErr)) {
				t.Errorf("got %v, want a FederatedTokenError %q", err, tt.fileErr)
			}
		})
	}
}

func TestOptionsOneCredential(t *testing.T) {
	_, err := auth.New(auth.Options{AuthorityHost: "https://login.example", TenantID: tenant, ClientID: clientID,
		ClientSecret: secret, FederatedTokenFile: "/tmp/x"})
	if err == nil || !strings.Contains(err.Error(), "not secret and workload_identity") {
		t.Errorf("got %v", err)
	}
	_, err = auth.New(auth.Options{AuthorityHost: "https://login.example", TenantID: tenant, ClientID: clientID})
	if err == nil {
		t.Error("no credential accepted")
	}
}
