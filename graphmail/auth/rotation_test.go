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

// writeSecret writes value to dir/name (mode 0600) and returns the path.
func writeSecret(t *testing.T, dir, name, value string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func graphToken(p *auth.Provider, force bool) error {
	_, err := p.Token(context.Background(), auth.GraphScope, force)
	return err
}

// TestRotationSecondCredential: with two secret files and the first one
// revoked, tokens come from the second; the second becomes the one tried
// first.
func TestRotationSecondCredential(t *testing.T) {
	srv, _ := newTenant(t)
	dir := t.TempDir()
	oldFile := writeSecret(t, dir, "old.txt", secret)
	newFile := writeSecret(t, dir, "new.txt", "n3w-s3cr3t~value.for.rotation")
	srv.AddSecret(clientID, graphmailtest.SecretCredential{Value: "n3w-s3cr3t~value.for.rotation"})
	p := newProvider(t, srv, func(o *auth.Options) {
		o.ClientSecret = ""
		o.Files = &auth.CredentialFiles{Secrets: []string{oldFile, newFile}}
	})
	if err := graphToken(p, true); err != nil {
		t.Fatalf("both valid: %v", err)
	}
	srv.RemoveSecret(clientID, secret) // the admin deletes the old secret
	if err := graphToken(p, true); err != nil {
		t.Fatalf("first revoked: %v, want a token from the second", err)
	}
	infos := p.Credentials(nil)
	if len(infos) != 2 || infos[0].Active || !infos[1].Active || infos[1].ID != "new.txt" {
		t.Fatalf("Credentials: got %+v, want the second (new.txt) active", infos)
	}
	for _, info := range infos {
		if strings.Contains(info.ID, secret) || strings.Contains(info.Name(), secret) {
			t.Errorf("credential %q shows the secret", info.ID)
		}
	}
}

// TestRotationFileSwap: a secret file rewritten with a new secret is
// picked up by the poll (ReloadCredentials), and, without a poll, when
// the authority refuses the old secret (AADSTS7000215); the change is
// announced on CredentialChanged.
func TestRotationFileSwap(t *testing.T) {
	tests := []struct {
		name string
		poll bool
	}{
		{name: "noticed by the poll", poll: true},
		{name: "noticed on AADSTS7000215"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := newTenant(t)
			file := writeSecret(t, t.TempDir(), "secret.txt", secret)
			p := newProvider(t, srv, func(o *auth.Options) {
				o.ClientSecret = ""
				o.Files = &auth.CredentialFiles{Secrets: []string{file}}
			})
			if err := graphToken(p, true); err != nil {
				t.Fatal(err)
			}
			if changed, err := p.ReloadCredentials(false); changed || err != nil {
				t.Fatalf("unchanged file: changed %v, err %v", changed, err)
			}
			changedCh := p.CredentialChanged()
			const rotated = "r0tated-s3cr3t~value.new"
			srv.SetSecret(clientID, rotated)
			writeSecret(t, filepath.Dir(file), "secret.txt", rotated)
			// The same size and possibly the same modification time: a
			// poll must still see it when forced, and a cheap poll sees a
			// new time; make the time differ for the cheap poll.
			later := time.Now().Add(2 * time.Second)
			if err := os.Chtimes(file, later, later); err != nil {
				t.Fatal(err)
			}
			if tt.poll {
				if changed, err := p.ReloadCredentials(false); !changed || err != nil {
					t.Fatalf("changed file: changed %v, err %v", changed, err)
				}
			}
			if err := graphToken(p, true); err != nil {
				t.Fatalf("after the swap: %v", err)
			}
			select {
			case <-changedCh:
			default:
				t.Fatal("CredentialChanged was not closed")
			}
		})
	}
}

// TestRotationBrokenFileKeepsRunning: a file that is empty or missing for
// a moment keeps the running credential.
func TestRotationBrokenFileKeepsRunning(t *testing.T) {
	srv, _ := newTenant(t)
	file := writeSecret(t, t.TempDir(), "secret.txt", secret)
	p := newProvider(t, srv, func(o *auth.Options) {
		o.ClientSecret = ""
		o.Files = &auth.CredentialFiles{Secrets: []string{file}}
	})
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	changed, err := p.ReloadCredentials(true)
	var fe *auth.CredentialFileError
	if changed || !errors.As(err, &fe) || fe.Path != file {
		t.Fatalf("empty file: changed %v, err %v, want a CredentialFileError", changed, err)
	}
	if err := graphToken(p, true); err != nil {
		t.Fatalf("the running credential stopped working: %v", err)
	}
}

// TestCredentialsExpiry: a certificate reports its NotAfter and
// thumbprint; a secret its configured date, or the app registration's
// endDateTime when the registration can be read (403 otherwise).
func TestCredentialsExpiry(t *testing.T) {
	srv, _ := newTenant(t)
	dir := t.TempDir()
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	certPEM, keyPEM, cert, err := srv.IssueCertificateUntil("soon", notAfter)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(clientID, cert)
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := newProvider(t, srv, func(o *auth.Options) {
		o.ClientSecret = ""
		o.Files = &auth.CredentialFiles{Certificates: []string{certFile}}
	})
	infos := cp.Credentials(nil)
	if len(infos) != 1 || infos[0].Kind != auth.KindCertificate || !infos[0].Expires.Equal(cert.NotAfter) ||
		infos[0].ID != auth.Thumbprint(cert) || infos[0].Source != auth.ExpiryFromCertificate {
		t.Fatalf("certificate: got %+v", infos)
	}
	now := time.Now()
	if got := infos[0].State(now, 30); got != auth.StateExpiring {
		t.Errorf("State(30 days): got %v, want expiring", got)
	}
	if got := infos[0].State(now, 5); got != auth.StateValid {
		t.Errorf("State(5 days): got %v, want valid", got)
	}
	if got := infos[0].State(notAfter.Add(time.Second), 30); got != auth.StateExpired {
		t.Errorf("State(after NotAfter): got %v, want expired", got)
	}

	configured := time.Date(2031, 1, 2, 23, 59, 59, 0, time.UTC)
	secretFile := writeSecret(t, dir, "secret.txt", secret)
	sp := newProvider(t, srv, func(o *auth.Options) {
		o.ClientSecret = ""
		o.Files, o.SecretExpires = &auth.CredentialFiles{Secrets: []string{secretFile}}, configured
	})
	infos = sp.Credentials(nil)
	if len(infos) != 1 || !infos[0].Expires.Equal(configured) || infos[0].Source != auth.ExpiryFromConfig || infos[0].ID != "secret.txt" {
		t.Fatalf("secret: got %+v", infos)
	}

	ctx := context.Background()
	_, err = auth.FetchRegistration(ctx, srv.HTTPClient(), srv.GraphEndpoint(), auth.GraphScope, clientID, sp)
	var re *auth.RegistrationError
	if !errors.As(err, &re) || !re.NotPermitted() {
		t.Fatalf("without Application.Read.All: %v, want NotPermitted", err)
	}
	registered := time.Now().Add(5 * 24 * time.Hour).UTC().Truncate(time.Second)
	srv.RemoveSecret(clientID, secret)
	srv.AddSecret(clientID, graphmailtest.SecretCredential{Value: secret, End: registered})
	srv.SetRoles(clientID, []string{"Mail.Send", "Application.Read.All"})
	if err := graphToken(sp, true); err != nil { // a token with the new role
		t.Fatal(err)
	}
	reg, err := auth.FetchRegistration(ctx, srv.HTTPClient(), srv.GraphEndpoint(), auth.GraphScope, clientID, sp)
	if err != nil {
		t.Fatal(err)
	}
	infos = sp.Credentials(reg)
	if len(infos) != 1 || !infos[0].Expires.Equal(registered) || infos[0].Source != auth.ExpiryFromRegistration {
		t.Fatalf("secret with the registration: got %+v, want %s from the app registration", infos, registered)
	}
}
