package setup_test

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/setup"
)

// TestWarnCredentialExpiryOnceADay: send and sendmail warn about a
// certificate that expires in 10 days once a day, not once a run; the
// marker beside the token cache has mode 0600; the next day warns again.
func TestWarnCredentialExpiryOnceADay(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	notAfter := time.Now().Add(10 * 24 * time.Hour)
	certPEM, keyPEM, _, err := srv.IssueCertificateUntil("expiring", notAfter)
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(certFile, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	settings := tenantSettings(t, srv)
	delete(settings, "client_secret")
	settings["client_certificate"] = certFile
	settings["token_cache.path"] = filepath.Join(dir, "cache", "tokens.bin")
	cfg := load(t, settings)

	var logs bytes.Buffer
	run := func(now time.Time) bool {
		t.Helper()
		st, err := setup.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), setup.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		return setup.WarnCredentialExpiry(st, now)
	}
	day := time.Now()
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{name: "first run", now: day, want: true},
		{name: "second run the same day", now: day, want: false},
		{name: "third run the same day", now: day.Add(time.Minute), want: false},
		{name: "the next day", now: day.Add(24 * time.Hour), want: true},
	}
	for _, tt := range tests {
		if got := run(tt.now); got != tt.want {
			t.Errorf("%s: warned %v, want %v", tt.name, got, tt.want)
		}
	}
	if n := strings.Count(logs.String(), "client credential expires soon"); n != 2 {
		t.Errorf("%d warnings in four runs over two days, want 2:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "days_left=") {
		t.Errorf("the warning does not say how many days are left:\n%s", logs.String())
	}
	fi, err := os.Stat(filepath.Join(dir, "cache", setup.CredentialWarnMarker))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("marker mode %v, want 0600", fi.Mode().Perm())
	}

	// A certificate with a year left: no warning, no marker written.
	certPEM, keyPEM, _, err = srv.IssueCertificateUntil("fine", time.Now().Add(365*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, append(certPEM, keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if run(day.Add(48 * time.Hour)) {
		t.Error("warned about a certificate with a year left")
	}
}
