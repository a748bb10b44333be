package setup

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
)

// The delegated flow keeps its refresh token only in the encrypted token
// cache. A public client has no credential to derive the cache key from,
// so the key is a client secret when one is configured for graphmail, or
// else 32 random bytes in a key file created on first use in the
// configuration directory, away from the cache directory: a copy of the
// cache directory (a backup, a container volume) alone cannot be
// decrypted. See the README's "Delegated sign-in" for the threat model.

// StaleRefreshAfter is when doctor warns that the refresh token has not
// been used: Entra ID lets it expire after 90 days of inactivity.
const StaleRefreshAfter = 60 * 24 * time.Hour

// The delegated permissions the delegated flow asks for.
const (
	// DelegatedGraphPermission is the Graph permission: Mail.Send.
	DelegatedGraphPermission = "Mail.Send"
	// DelegatedSMTPPermission is the Exchange Online permission for SMTP
	// AUTH: SMTP.Send.
	DelegatedSMTPPermission = "SMTP.Send"
)

// delegatedScopes maps the app-only scopes of cfg to delegated ones on the
// same resources: <graph>/Mail.Send and <outlook>/SMTP.Send. MSAL adds
// offline_access (refresh token), openid and profile itself.
func delegatedScopes(cfg *config.Config) map[string][]string {
	res := func(scope string) string { return strings.TrimSuffix(scope, "/.default") }
	return map[string][]string{
		cfg.GraphScope: {res(cfg.GraphScope) + "/" + DelegatedGraphPermission},
		cfg.SMTP.Scope: {res(cfg.SMTP.Scope) + "/" + DelegatedSMTPPermission},
	}
}

// DelegatedCachePath is the token cache of the delegated flow, or a
// config error when the cache is off: the refresh token must persist.
func DelegatedCachePath(cfg *config.Config) (string, error) {
	switch cfg.TokenCache.Path {
	case "none":
		return "", &config.Error{Key: "token_cache.path", Problem: "is none, but auth.method delegated keeps its refresh token in the token cache",
			Hint: "leave token_cache.path unset (default location) or point it at a file only this user can write"}
	}
	return cfg.TokenCache.Path, nil
}

// cacheKey returns the key material for the delegated token cache: the
// client secret if one is configured for graphmail (not an ambient
// AZURE_CLIENT_SECRET, which may belong to another tool and change), else
// the key file's content, created on first use when create is set.
func cacheKey(cfg *config.Config, create bool) ([]byte, error) {
	if cfg.ClientSecret != "" && cfg.Sources["client_secret"] != config.SourceAzureEnv {
		return []byte(cfg.ClientSecret.Reveal()), nil
	}
	path := cfg.TokenCache.KeyFile
	key, err := readKeyFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key, err = createKeyFile(path)
	}
	if err != nil {
		return nil, &config.Error{Key: "token_cache.key_file", Problem: err.Error(),
			Hint: "the key file is created by 'graphmail login'; it must be a regular file only this user can read (mode 0600)"}
	}
	return key, nil
}

// readKeyFile reads a hex key file and refuses one that others may read.
func readKeyFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible by group or others (mode %04o); run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("%s does not hold a 32-byte hex key", path)
	}
	return key, nil
}

// createKeyFile writes 32 random bytes, hex encoded, to a new file with
// mode 0600 (its directory 0700). It never overwrites a file.
func createKeyFile(path string) ([]byte, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return readKeyFile(path) // another process won the race
	}
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		_ = f.Close()
		return nil, err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return nil, err
	}
	return key, f.Close()
}

// DelegatedState is the small metadata file beside the cache: who signed
// in and when the refresh token was last used. It holds no token.
type DelegatedState struct {
	User        string    `json:"user"`
	LastRefresh time.Time `json:"last_refresh"`
}

// StatePath is the metadata file of a token cache.
func StatePath(cachePath string) string { return cachePath + ".delegated.json" }

// RecordRefresh writes the state file; a failure is only logged.
func RecordRefresh(path string, log *slog.Logger) func(user string, at time.Time) {
	return func(user string, at time.Time) {
		b, _ := json.Marshal(DelegatedState{User: user, LastRefresh: at.UTC()})
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, b, 0o600); err != nil {
			log.Warn("cannot record the refresh time", "path", path, "error", err.Error())
			return
		}
		if err := os.Rename(tmp, path); err != nil {
			log.Warn("cannot record the refresh time", "path", path, "error", err.Error())
		}
	}
}

// ReadState reads the state file; ok is false when there is none.
func ReadState(path string) (DelegatedState, bool) {
	var st DelegatedState
	b, err := os.ReadFile(path)
	if err != nil || json.Unmarshal(b, &st) != nil {
		return DelegatedState{}, false
	}
	return st, true
}

// NewDelegatedProvider builds the public-client provider with the
// encrypted cache. create makes the key file if missing (login does).
func NewDelegatedProvider(cfg *config.Config, hc *http.Client, log *slog.Logger, create bool) (*auth.Provider, error) {
	path, err := DelegatedCachePath(cfg)
	if err != nil {
		return nil, err
	}
	key, err := cacheKey(cfg, create)
	if err != nil {
		if _, statErr := os.Stat(path); !create && errors.Is(statErr, fs.ErrNotExist) {
			// No key and no cache: nobody ever signed in here.
			return nil, &auth.Error{Method: auth.MethodDelegated, Err: &auth.NotSignedInError{User: cfg.Delegated.User}}
		}
		return nil, err
	}
	c, err := tokencache.New(tokencache.Options{Path: path, Credential: key, TenantID: cfg.TenantID, ClientID: cfg.ClientID, Logger: log})
	if err != nil {
		hint := "set token_cache.path to a file in a directory only this user can write"
		var pe *tokencache.PermissionError
		if errors.As(err, &pe) {
			hint = pe.Hint()
		}
		return nil, &config.Error{Key: "token_cache.path", Problem: err.Error(), Hint: hint}
	}
	return auth.New(auth.Options{
		AuthorityHost:     cfg.AuthorityHost,
		TenantID:          cfg.TenantID,
		ClientID:          cfg.ClientID,
		HTTPClient:        hc,
		InstanceDiscovery: cfg.InstanceDiscovery,
		Logger:            log,
		Cache:             c,
		Delegated: &auth.Delegated{
			User:      cfg.Delegated.User,
			Scopes:    delegatedScopes(cfg),
			OnRefresh: RecordRefresh(StatePath(path), log),
		},
	})
}
