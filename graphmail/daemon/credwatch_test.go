package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/smtp"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// lockedBuffer is a log sink the test reads while the daemon writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// replaceFile writes content to path the way an administrator (or a Key
// Vault sync) should: a temporary file renamed over the old one.
func replaceFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestSecretSwappedUnderRunningDaemon: the client secret has expired
// (AADSTS7000222), so queued messages wait (needs-operator, never dead
// letters). The administrator adds a new secret and swaps the file; the
// daemon notices (by its poll, or at once on SIGHUP) and delivers the
// queued messages right away, not at their next backoff slot (an hour
// here), without a restart.
func TestSecretSwappedUnderRunningDaemon(t *testing.T) {
	tests := []struct {
		name   string
		poll   time.Duration
		sighup bool
	}{
		{name: "the poll notices the new file", poll: 20 * time.Millisecond},
		{name: "SIGHUP reads the new file", poll: time.Hour, sighup: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			app := srv.App()
			const expired, rotated = "3xpired-s3cret~value.old", "r0tated-s3cret~value.new"
			srv.RemoveSecret(app.ClientID, app.Secret)
			srv.AddSecret(app.ClientID, graphmailtest.SecretCredential{Value: expired, End: time.Now().Add(-time.Hour)})
			secretFile := filepath.Join(t.TempDir(), "secret.txt")
			replaceFile(t, secretFile, expired+"\n")
			expires := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.DateOnly)
			cfg := loadConfig(t, srv, map[string]any{
				"client_secret": nil, "client_secret_file": secretFile, "client_secret_expires": expires,
				"spool.retry_interval": "1h", "smtp.fallback": "never",
			})
			var logs lockedBuffer
			st, err := setup.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), setup.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			events := make(chan spool.Event, 16)
			d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test", TokenWatchInterval: tt.poll, OnEvent: func(e spool.Event) { events <- e }})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Listen(); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			reload := make(chan struct{})
			done := make(chan error, 1)
			go func() { done <- d.Run(ctx, reload) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
			}()

			from := cfg.Sender
			for _, to := range []string{"a@example.com", "b@example.com"} {
				msg := "From: <" + from + ">\r\nTo: <" + to + ">\r\nSubject: held\r\n\r\nbody\r\n"
				if err := smtp.SendMail(d.Addr().String(), nil, from, []string{to}, []byte(msg)); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 {
				e := <-events
				if e.Outcome != spool.OutcomeDeferred || graphmail.ClassOf(errors.Unwrap(e.Err)) != graphmail.NeedsOperator {
					t.Fatalf("with the expired secret: outcome %q, class %v (%v); want deferred, needs-operator", e.Outcome, graphmail.ClassOf(errors.Unwrap(e.Err)), e.Err)
				}
			}
			if !strings.Contains(e2s(t, d), "AADSTS7000222") {
				t.Errorf("the queue does not show AADSTS7000222")
			}

			// The administrator adds a new secret in Entra ID and swaps the file.
			srv.AddSecret(app.ClientID, graphmailtest.SecretCredential{Value: rotated})
			replaceFile(t, secretFile, rotated+"\n")
			if tt.sighup {
				reload <- struct{}{}
			}
			for range 2 {
				if e := <-events; e.Outcome != spool.OutcomeSubmitted {
					t.Fatalf("after the swap: outcome %q (%v), want submitted", e.Outcome, e.Err)
				}
			}
			if n := len(srv.Messages()); n != 2 {
				t.Errorf("delivered %d, want 2", n)
			}
			if dead, _ := d.Spool().DeadLetters(); dead != 0 {
				t.Errorf("%d dead letters, want none", dead)
			}
			for _, want := range []string{"client credential changed", "retrying the messages it held", "messages=2"} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("the log lacks %q:\n%s", want, logs.String())
				}
			}
			if strings.Contains(logs.String(), rotated) || strings.Contains(logs.String(), expired) {
				t.Error("the log contains a secret")
			}
		})
	}
}

// waitFor waits until cond holds; the bound only turns a hang into a
// failure.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 2m for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// e2s returns the last errors of the queued messages.
func e2s(t *testing.T, d *daemon.Daemon) string {
	t.Helper()
	items, err := d.Spool().List()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, it := range items {
		b.WriteString(it.Meta.LastError + "\n")
	}
	return b.String()
}

// TestCredentialExpiryMetricAndWarning: a certificate that expires in 10
// days is exposed as graphmail_credential_expiry_timestamp_seconds with
// its thumbprint, and the daemon logs one warning for it.
func TestCredentialExpiryMetricAndWarning(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	notAfter := time.Now().Add(10 * 24 * time.Hour).Truncate(time.Second)
	certPEM, keyPEM, cert, err := srv.IssueCertificateUntil("expiring soon", notAfter)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddCertificate(srv.App().ClientID, cert)
	certFile := filepath.Join(t.TempDir(), "cert.pem")
	replaceFile(t, certFile, string(certPEM)+string(keyPEM))
	cfg := loadConfig(t, srv, map[string]any{"client_secret": nil, "client_certificate": certFile})
	var logs lockedBuffer
	st, err := setup.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	r := &running{srv: srv, cfg: cfg, d: d}
	r.get(t, "/readyz") // waits for the first token check
	body := r.get(t, "/metrics")
	want := `graphmail_credential_expiry_timestamp_seconds{kind="certificate",id="` + auth.Thumbprint(cert) + `"} ` + strconv.FormatInt(notAfter.Unix(), 10) + "\n"
	if !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %s:\n%s", want, body)
	}
	waitFor(t, "the expiry warning", func() bool { return strings.Contains(logs.String(), "client credential expires soon") })
	if n := strings.Count(logs.String(), "client credential expires soon"); n != 1 {
		t.Errorf("%d expiry warnings, want 1:\n%s", n, logs.String())
	}
}

// TestReloadListsASecondSecretFile: a reloaded configuration that lists a
// second secret file (the start of an overlap window) is applied without a
// restart; one whose file cannot be used keeps the running credentials.
func TestReloadListsASecondSecretFile(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	app := srv.App()
	dir := t.TempDir()
	oldFile, newFile := filepath.Join(dir, "secret"), filepath.Join(dir, "secret.new")
	replaceFile(t, oldFile, app.Secret+"\n")
	const next = "n3xt-s3cret~value.rotation"
	srv.AddSecret(app.ClientID, graphmailtest.SecretCredential{Value: next})
	cfg := loadConfig(t, srv, map[string]any{"client_secret": nil, "client_secret_file": oldFile})
	empty := filepath.Join(dir, "empty")
	replaceFile(t, empty, "")
	reloaded := []map[string]any{
		{"client_secret": nil, "client_secret_file": []string{oldFile, empty}},
		{"client_secret": nil, "client_secret_file": []string{oldFile, newFile}},
	}
	var logs lockedBuffer
	st, err := setup.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	step := 0
	d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test", TokenWatchInterval: time.Hour, Reload: func() (*config.Config, error) {
		c := loadConfig(t, srv, reloaded[step])
		step++
		return c, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, reload) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	reload <- struct{}{} // the second file is empty
	waitFor(t, "the refused reload", func() bool { return strings.Contains(logs.String(), "keeping the running ones") })
	if n := len(st.Tokens.Credentials(nil)); n != 1 {
		t.Fatalf("%d credentials after a reload with an empty file, want the running 1", n)
	}
	replaceFile(t, newFile, next+"\n")
	reload <- struct{}{}
	waitFor(t, "the second reload", func() bool { return strings.Count(logs.String(), "configuration reloaded") == 2 })
	infos := st.Tokens.Credentials(nil)
	if len(infos) != 2 || infos[1].ID != "secret.new" {
		t.Fatalf("after the reload: %+v, want secret and secret.new", infos)
	}
	srv.RemoveSecret(app.ClientID, app.Secret)
	if _, err := st.Tokens.Token(ctx, st.Config.GraphScope, true); err != nil {
		t.Fatalf("the old secret deleted: %v, want a token from secret.new", err)
	}
}
