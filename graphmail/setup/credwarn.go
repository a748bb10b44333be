package setup

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth"
)

// CredentialWarnMarker is the name of the file, next to the token cache,
// that records the day send and sendmail last warned about an expiring
// credential.
const CredentialWarnMarker = "credential-warned"

// ExpiringCredentials returns the client secrets and certificates of
// tokens that have expired at now or expire within cfg.CredentialWarnDays.
func ExpiringCredentials(cfg *config.Config, tokens *auth.Provider, reg *auth.Registration, now time.Time) []auth.CredentialInfo {
	if tokens == nil {
		return nil
	}
	var out []auth.CredentialInfo
	for _, c := range tokens.Credentials(reg) {
		if s := c.State(now, cfg.CredentialWarnDays); s == auth.StateExpiring || s == auth.StateExpired {
			out = append(out, c)
		}
	}
	return out
}

// LogExpiring logs one warning per credential in creds: expired, or how
// many days it has left.
func LogExpiring(log *slog.Logger, creds []auth.CredentialInfo, now time.Time) {
	for _, c := range creds {
		days := c.DaysLeft(now)
		if !now.Before(c.Expires) {
			log.Warn("client credential has expired: create a new one under Certificates & secrets and replace the file (see Rotating credentials in the README)",
				"credential", c, "name", c.Name(), "expired", c.Expires.UTC().Format(time.DateOnly))
			continue
		}
		log.Warn("client credential expires soon: add a new one under Certificates & secrets and drop it next to the old one (see Rotating credentials in the README)",
			"credential", c, "name", c.Name(), "expires", c.Expires.UTC().Format(time.DateOnly), "days_left", days)
	}
}

// WarnCredentialExpiry is the send and sendmail path's expiry warning: when
// a client secret or certificate of st has expired or expires within
// credential_warn_days, it logs the warning at most once a day. A marker
// file next to the token cache (mode 0600) records the day of the last
// warning, so a cron job that sends every minute warns once a day, not on
// every run. With token_cache.path none there is no place for the marker
// and nothing is logged (doctor and serve still warn). It reports whether
// it warned. Only what is known locally is used (a certificate's
// NotAfter, client_secret_expires): no request is made.
func WarnCredentialExpiry(st *Stack, now time.Time) bool {
	cfg := st.Config
	if cfg.TokenCache.Path == "none" || cfg.TokenCache.Path == "" {
		return false
	}
	creds := ExpiringCredentials(cfg, st.Tokens, nil, now)
	if len(creds) == 0 {
		return false
	}
	marker := filepath.Join(filepath.Dir(cfg.TokenCache.Path), CredentialWarnMarker)
	today := now.Format(time.DateOnly)
	if b, err := os.ReadFile(marker); err == nil && strings.TrimSpace(string(b)) == today {
		return false
	}
	if err := writeMarker(marker, today); err != nil {
		// Better silent than a warning on every run.
		st.Log.Debug("cannot record the credential warning; not warning", "marker", marker, "error", err.Error())
		return false
	}
	LogExpiring(st.Log, creds, now)
	return true
}

// writeMarker replaces the marker file with day, atomically, mode 0600.
func writeMarker(path, day string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return errors.New("the marker is not a regular file")
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f, err := os.CreateTemp(dir, "."+CredentialWarnMarker+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(day + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ReadRegistration reads the app registration's credentials through Graph
// (auth.FetchRegistration) with the stack's HTTP client, Graph endpoint
// and token provider. It needs the optional Application.Read.All or
// Application.ReadWrite.OwnedBy permission; without it the error is an
// *auth.RegistrationError whose NotPermitted is true.
func ReadRegistration(ctx context.Context, st *Stack) (*auth.Registration, error) {
	cfg := st.Config
	return auth.FetchRegistration(ctx, st.HTTP, cfg.GraphEndpoint, cfg.GraphScope, cfg.ClientID, st.Tokens)
}
