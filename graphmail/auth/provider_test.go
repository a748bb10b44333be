package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const (
	tenant   = "7f4d8c2a-1111-4222-8333-944455556666"
	clientID = "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff"
	secret   = "s3cr3t-Value~known.to.the.test"
)

// newTenant starts a fake tenant with one app that accepts secret and the
// returned certificate.
func newTenant(t *testing.T) (*graphmailtest.Server, []byte) {
	t.Helper()
	probe, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, cert, err := probe.IssueCertificate("graphmail test")
	probe.Close()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := graphmailtest.NewServer(graphmailtest.Options{
		TenantID: tenant,
		Apps:     []graphmailtest.App{{ClientID: clientID, Secret: secret, Certificates: []*x509.Certificate{cert}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, append(certPEM, keyPEM...)
}

func newProvider(t *testing.T, srv *graphmailtest.Server, mutate func(*auth.Options)) *auth.Provider {
	t.Helper()
	opts := auth.Options{
		AuthorityHost: srv.AuthorityHost(),
		TenantID:      tenant,
		ClientID:      clientID,
		ClientSecret:  secret,
		HTTPClient:    srv.HTTPClient(),
	}
	if mutate != nil {
		mutate(&opts)
	}
	p, err := auth.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTokenSecretAndCache(t *testing.T) {
	srv, _ := newTenant(t)
	p := newProvider(t, srv, nil)
	ctx := context.Background()
	first, err := p.Token(ctx, auth.GraphScope, false)
	if err != nil {
		t.Fatal(err)
	}
	if first.FromCache {
		t.Error("first token claims to come from the cache")
	}
	claims, err := srv.ParseToken(first.Value)
	if err != nil {
		t.Fatalf("token does not verify at the tenant: %v", err)
	}
	if claims.Audience != "https://graph.microsoft.com" || claims.TenantID != tenant || claims.AppID != clientID {
		t.Errorf("claims = %+v", claims)
	}
	if until := time.Until(first.ExpiresOn); until < 30*time.Minute {
		t.Errorf("token expires in %v, want about an hour", until)
	}
	second, err := p.Token(ctx, auth.GraphScope, false)
	if err != nil {
		t.Fatal(err)
	}
	if !second.FromCache || second.Value != first.Value {
		t.Errorf("second call was not served from MSAL's cache")
	}
	if n := srv.TokenRequests("https://graph.microsoft.com"); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	forced, err := p.Token(ctx, auth.GraphScope, true)
	if err != nil {
		t.Fatal(err)
	}
	if forced.FromCache || srv.TokenRequests("https://graph.microsoft.com") != 2 {
		t.Errorf("forceRefresh did not reach the authority")
	}
}

func TestTokenBothScopesOneClient(t *testing.T) {
	srv, _ := newTenant(t)
	p := newProvider(t, srv, nil)
	ctx := context.Background()
	for range 3 {
		for _, scope := range []string{auth.GraphScope, auth.OutlookScope} {
			tok, err := p.Token(ctx, scope, false)
			if err != nil {
				t.Fatal(err)
			}
			c, err := srv.ParseToken(tok.Value)
			if err != nil {
				t.Fatal(err)
			}
			if want := strings.TrimSuffix(scope, "/.default"); c.Audience != want {
				t.Errorf("aud = %q, want %q", c.Audience, want)
			}
		}
	}
	for _, res := range []string{"https://graph.microsoft.com", "https://outlook.office365.com"} {
		if n := srv.TokenRequests(res); n != 1 {
			t.Errorf("token requests for %s = %d, want 1", res, n)
		}
	}
}

func TestTokenConcurrentCallersShareOneRequest(t *testing.T) {
	srv, _ := newTenant(t)
	p := newProvider(t, srv, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Token(context.Background(), auth.GraphScope, false); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.TokenRequests("https://graph.microsoft.com"); n != 1 {
		t.Errorf("50 concurrent callers caused %d token requests, want 1", n)
	}
}

func TestTokenCertificatePEMAndPFX(t *testing.T) {
	srv, pemBundle := newTenant(t)
	pemCert, err := auth.ParseCertificate(pemBundle, "", ".pem")
	if err != nil {
		t.Fatal(err)
	}
	pfx, err := pkcs12.Modern.Encode(pemCert.Key, pemCert.Chain[0], nil, "pfx-pass")
	if err != nil {
		t.Fatal(err)
	}
	pfxCert, err := auth.ParseCertificate(pfx, "pfx-pass", ".pfx")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.ParseCertificate(pfx, "wrong", ".pfx"); err == nil || !strings.Contains(err.Error(), "password") {
		t.Errorf("wrong pfx password: err = %v", err)
	}
	for name, cert := range map[string]*auth.Certificate{"pem": pemCert, "pfx": pfxCert} {
		t.Run(name, func(t *testing.T) {
			p := newProvider(t, srv, func(o *auth.Options) { o.ClientSecret = ""; o.Certificate = cert })
			tok, err := p.Token(context.Background(), auth.GraphScope, false)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := srv.ParseToken(tok.Value); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTokenErrors(t *testing.T) {
	srv, _ := newTenant(t)
	other, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	foreignPEM, foreignKey, _, err := other.IssueCertificate("not registered")
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := auth.ParseCertificate(append(foreignPEM, foreignKey...), "", ".pem")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		mutate    func(*auth.Options)
		code      string
		temporary bool
	}{
		{"wrong secret", func(o *auth.Options) { o.ClientSecret = "wrong-secret-value" }, "AADSTS7000215", false},
		{"unknown app", func(o *auth.Options) { o.ClientID = "99999999-9999-4999-8999-999999999999" }, "AADSTS700016", false},
		{"unknown tenant", func(o *auth.Options) { o.TenantID = "88888888-8888-4888-8888-888888888888" }, "AADSTS90002", false},
		{"unregistered certificate", func(o *auth.Options) { o.ClientSecret = ""; o.Certificate = foreign }, "AADSTS700027", false},
		{"authority unreachable", func(o *auth.Options) { o.AuthorityHost = "https://127.0.0.1:1" }, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, srv, tt.mutate)
			_, err := p.Token(context.Background(), auth.GraphScope, false)
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *auth.Error", err, err)
			}
			if ae.Code != tt.code || ae.Temporary() != tt.temporary {
				t.Errorf("code = %q temporary = %v, want %q %v (err %v)", ae.Code, ae.Temporary(), tt.code, tt.temporary, err)
			}
			if msg := ae.Error(); strings.ContainsAny(msg, "\r\n") || strings.Contains(msg, "http call") {
				t.Errorf("error text is not one clean line: %q", msg)
			}
			for _, s := range []string{secret, "wrong-secret-value"} {
				if strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), s) {
					t.Errorf("error text reveals the secret: %v", err)
				}
			}
		})
	}
}

func TestTokenExpiredSecretInjected(t *testing.T) {
	srv, _ := newTenant(t)
	srv.Fail(graphmailtest.Failure{Endpoint: "token", Status: http.StatusUnauthorized, Code: "AADSTS7000222"})
	p := newProvider(t, srv, nil)
	_, err := p.Token(context.Background(), auth.GraphScope, false)
	var ae *auth.Error
	if !errors.As(err, &ae) || ae.Code != "AADSTS7000222" || !ae.AuthFailure() || !strings.Contains(ae.Error(), "expired") {
		t.Fatalf("err = %v, want AADSTS7000222, an auth failure that says the secret expired", err)
	}
}

func TestTokenCredentialAdapter(t *testing.T) {
	srv, _ := newTenant(t)
	p := newProvider(t, srv, nil)
	cred := p.TokenCredential()
	tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{auth.GraphScope}})
	if err != nil {
		t.Fatal(err)
	}
	direct, err := p.Token(context.Background(), auth.GraphScope, false)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Token != direct.Value || srv.TokenRequests("https://graph.microsoft.com") != 1 {
		t.Error("the azcore adapter did not share the provider's cache")
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{auth.GraphScope, auth.OutlookScope}}); err == nil {
		t.Error("two scopes in one request: want an error")
	}
}

func TestTokenNeverPrinted(t *testing.T) {
	srv, _ := newTenant(t)
	p := newProvider(t, srv, nil)
	tok, err := p.Token(context.Background(), auth.GraphScope, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(tok), fmt.Sprintf("%+v", tok), fmt.Sprintf("%#v", tok)} {
		if strings.Contains(s, tok.Value) {
			t.Errorf("formatted token reveals its value: %s", s)
		}
	}
}

func TestParseCertificateRejects(t *testing.T) {
	tests := []struct{ name, data, want string }{
		{"encrypted key", "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----\n", "encrypted"},
		{"key only", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})), "no CERTIFICATE"},
		{"garbage", "hello", "not a PEM or PKCS#12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.ParseCertificate([]byte(tt.data), "", ".pem")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}
