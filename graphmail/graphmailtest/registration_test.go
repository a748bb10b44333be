package graphmailtest

import (
	"context"
	"crypto/sha1" // #nosec G505 -- thumbprint
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// TestSecretLifetimes: a second secret is accepted during a rotation, an
// expired one is refused with AADSTS7000222, a removed one with
// AADSTS7000215.
func TestSecretLifetimes(t *testing.T) {
	clock := &testClock{t: time.Now()}
	srv := newTestServer(t, Options{Now: clock.Now})
	app := srv.App()
	srv.AddSecret(app.ClientID, SecretCredential{Value: "new-secret-value", End: clock.Now().Add(48 * time.Hour), DisplayName: "rotation"})
	srv.AddSecret(app.ClientID, SecretCredential{Value: "old-secret-value", End: clock.Now().Add(-time.Minute)})
	tests := []struct {
		name, secret, wantErr string
		remove                bool
	}{
		{name: "the first secret", secret: app.Secret},
		{name: "a second, valid secret", secret: "new-secret-value"},
		{name: "an expired secret", secret: "old-secret-value", wantErr: "AADSTS7000222"},
		{name: "a removed secret", secret: app.Secret, remove: true, wantErr: "AADSTS7000215"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.remove {
				srv.RemoveSecret(app.ClientID, tt.secret)
			}
			cred, err := confidential.NewCredFromSecret(tt.secret)
			if err != nil {
				t.Fatal(err)
			}
			_, err = newMSAL(t, srv, srv.TenantID(), app.ClientID, cred).AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want a token", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got %v, want %s", err, tt.wantErr)
			}
		})
	}
}

// TestExpiredCertificateRefused: an assertion signed with a certificate
// past its end date gets AADSTS700027 ("The key used is expired").
func TestExpiredCertificateRefused(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	certPEM, keyPEM, cert, err := srv.IssueCertificateUntil("expired", time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(app.ClientID, cert)
	certs, key, err := confidential.CertFromPEM(append(certPEM, keyPEM...), "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = newMSAL(t, srv, srv.TenantID(), app.ClientID, cred).AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
	if err == nil || !strings.Contains(err.Error(), "AADSTS700027") || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("got %v, want AADSTS700027 for an expired key", err)
	}
}

// TestApplicationResource: GET /applications(appId='…') lists the app's
// secrets (hint, endDateTime) and certificates (thumbprint, endDateTime)
// for a token with Application.Read.All, and answers 403 without it.
func TestApplicationResource(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	end := time.Now().Add(10 * 24 * time.Hour).UTC().Truncate(time.Second)
	srv.AddSecret(app.ClientID, SecretCredential{Value: "xyzsecret", End: end, DisplayName: "rotation"})
	_, _, cert, err := srv.IssueCertificate("app cert")
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(app.ClientID, cert)
	get := func() (int, []byte) {
		t.Helper()
		tok, err := srv.IssueToken(app.ClientID, ResourceGraph)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, srv.GraphEndpoint()+"/v1.0/applications(appId='"+app.ClientID+"')?$select=passwordCredentials,keyCredentials", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	if code, body := get(); code != http.StatusForbidden || !strings.Contains(string(body), "Authorization_RequestDenied") {
		t.Fatalf("without the permission: %d %s, want 403 Authorization_RequestDenied", code, body)
	}
	srv.SetRoles(app.ClientID, []string{"Mail.Send", "Application.Read.All"})
	code, body := get()
	if code != http.StatusOK {
		t.Fatalf("with Application.Read.All: %d %s", code, body)
	}
	var v struct {
		PasswordCredentials []struct {
			Hint        string     `json:"hint"`
			EndDateTime *time.Time `json:"endDateTime"`
		} `json:"passwordCredentials"`
		KeyCredentials []struct {
			CustomKeyIdentifier string    `json:"customKeyIdentifier"`
			EndDateTime         time.Time `json:"endDateTime"`
		} `json:"keyCredentials"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.PasswordCredentials) != 2 || v.PasswordCredentials[1].Hint != "xyz" || !v.PasswordCredentials[1].EndDateTime.Equal(end) {
		t.Errorf("passwordCredentials: got %+v, want two, the second with hint xyz ending %s", v.PasswordCredentials, end)
	}
	sum := sha1.Sum(cert.Raw) // #nosec G401
	if len(v.KeyCredentials) != 1 || v.KeyCredentials[0].CustomKeyIdentifier != base64.StdEncoding.EncodeToString(sum[:]) || !v.KeyCredentials[0].EndDateTime.Equal(cert.NotAfter) {
		t.Errorf("keyCredentials: got %+v, want the certificate's thumbprint and NotAfter", v.KeyCredentials)
	}
	if strings.Contains(string(body), "xyzsecret") || strings.Contains(string(body), app.Secret) {
		t.Error("the application resource contains a secret's value")
	}
}
