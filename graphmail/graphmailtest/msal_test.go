package graphmailtest

import (
	"context"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

func newMSAL(t *testing.T, srv *Server, tenant, clientID string, cred confidential.Credential) confidential.Client {
	t.Helper()
	c, err := confidential.New(srv.AuthorityHost()+"/"+tenant, clientID, cred,
		confidential.WithHTTPClient(srv.HTTPClient()),
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return c
}

func TestMSALConfidentialClient(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()

	goodPEM, goodKey, goodCert, err := srv.IssueCertificate("registered")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(app.ClientID, goodCert)
	otherPEM, otherKey, _, err := srv.IssueCertificate("not registered")
	if err != nil {
		t.Fatal(err)
	}
	certCred := func(certPEM, keyPEM []byte) confidential.Credential {
		certs, key, err := confidential.CertFromPEM(append(append([]byte{}, certPEM...), keyPEM...), "")
		if err != nil {
			t.Fatalf("CertFromPEM: %v", err)
		}
		cred, err := confidential.NewCredFromCert(certs, key)
		if err != nil {
			t.Fatalf("NewCredFromCert: %v", err)
		}
		return cred
	}
	secret := func(s string) confidential.Credential {
		cred, err := confidential.NewCredFromSecret(s)
		if err != nil {
			t.Fatal(err)
		}
		return cred
	}

	tests := []struct {
		name     string
		tenant   string
		clientID string
		cred     confidential.Credential
		scope    string
		wantErr  string // substring; "" = success
		wantAud  string
	}{
		{"secret graph", srv.TenantID(), app.ClientID, secret(app.Secret), "https://graph.microsoft.com/.default", "", ResourceGraph},
		{"secret outlook", srv.TenantID(), app.ClientID, secret(app.Secret), "https://outlook.office365.com/.default", "", ResourceOutlook},
		{"tenant domain", DefaultTenantDomain, app.ClientID, secret(app.Secret), "https://graph.microsoft.com/.default", "", ResourceGraph},
		{"wrong secret", srv.TenantID(), app.ClientID, secret("nope"), "https://graph.microsoft.com/.default", "AADSTS7000215", ""},
		{"unknown client", srv.TenantID(), "11111111-1111-4111-8111-111111111111", secret(app.Secret), "https://graph.microsoft.com/.default", "AADSTS700016", ""},
		{"unknown tenant", "contoso.onmicrosoft.com", app.ClientID, secret(app.Secret), "https://graph.microsoft.com/.default", "AADSTS90002", ""},
		{"certificate", srv.TenantID(), app.ClientID, certCred(goodPEM, goodKey), "https://graph.microsoft.com/.default", "", ResourceGraph},
		{"certificate by domain", DefaultTenantDomain, app.ClientID, certCred(goodPEM, goodKey), "https://outlook.office365.com/.default", "", ResourceOutlook},
		{"unregistered certificate", srv.TenantID(), app.ClientID, certCred(otherPEM, otherKey), "https://graph.microsoft.com/.default", "AADSTS700027", ""},
		{"scope without .default", srv.TenantID(), app.ClientID, secret(app.Secret), "https://graph.microsoft.com/Mail.Send", "AADSTS1002012", ""},
		{"unknown resource", srv.TenantID(), app.ClientID, secret(app.Secret), "api://something/.default", "AADSTS500011", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newMSAL(t, srv, tt.tenant, tt.clientID, tt.cred)
			res, err := c.AcquireTokenByCredential(context.Background(), []string{tt.scope})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			claims, err := srv.ParseToken(res.AccessToken)
			if err != nil {
				t.Fatalf("ParseToken: %v", err)
			}
			if claims.Audience != tt.wantAud || claims.AppID != app.ClientID || claims.TenantID != srv.TenantID() {
				t.Errorf("claims = %+v, want aud %q appid %q", claims, tt.wantAud, app.ClientID)
			}
		})
	}
}

func TestMSALCachesAndCountsPerResource(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	cred, err := confidential.NewCredFromSecret(app.Secret)
	if err != nil {
		t.Fatal(err)
	}
	c := newMSAL(t, srv, srv.TenantID(), app.ClientID, cred)
	ctx := context.Background()
	graph := []string{"https://graph.microsoft.com/.default"}
	outlook := []string{"https://outlook.office365.com/.default"}

	first, err := c.AcquireTokenByCredential(ctx, graph)
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.AcquireTokenByCredential(ctx, graph)
	if err != nil {
		t.Fatal(err)
	}
	if second.AccessToken != first.AccessToken {
		t.Error("second AcquireTokenByCredential returned a new token; want the cached one")
	}
	if got := srv.TokenRequests(ResourceGraph); got != 1 {
		t.Errorf("TokenRequests(graph) = %d, want 1 (second call served from MSAL's cache)", got)
	}
	o, err := c.AcquireTokenByCredential(ctx, outlook)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := srv.ParseToken(o.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if !claims.HasRole("SMTP.SendAsApp") || claims.HasRole("Mail.Send") {
		t.Errorf("outlook token roles = %v, want SMTP.SendAsApp only", claims.Roles)
	}
	if got, want := [2]int{srv.TokenRequests(ResourceGraph), srv.TokenRequests(ResourceOutlook)}, [2]int{1, 1}; got != want {
		t.Errorf("TokenRequests(graph, outlook) = %v, want %v", got, want)
	}
	if got := srv.TotalTokenRequests(); got != 2 {
		t.Errorf("TotalTokenRequests = %d, want 2", got)
	}
}

func TestMSALInjectedTokenFailure(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	srv.Fail(Failure{Endpoint: EndpointToken, Code: "AADSTS7000222"})
	cred, _ := confidential.NewCredFromSecret(app.Secret)
	c := newMSAL(t, srv, srv.TenantID(), app.ClientID, cred)
	scope := []string{"https://graph.microsoft.com/.default"}
	_, err := c.AcquireTokenByCredential(context.Background(), scope)
	if err == nil || !strings.Contains(err.Error(), "AADSTS7000222") || !strings.Contains(err.Error(), "401") {
		t.Fatalf("err = %v, want a 401 with AADSTS7000222", err)
	}
	if _, err := c.AcquireTokenByCredential(context.Background(), scope); err != nil {
		t.Fatalf("after the one injected failure: %v", err)
	}
}
