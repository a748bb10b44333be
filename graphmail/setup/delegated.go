package setup

import (
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
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
	key, err := tokencache.LoadKey(cfg.TokenCache.KeyFile, create)
	if err != nil {
		hint := "the key file is created by 'graphmail login'; it must be a regular file only this user can read (mode 0600)"
		var pe *tokencache.PermissionError
		if errors.As(err, &pe) {
			hint = pe.Hint()
		}
		return nil, &config.Error{Key: "token_cache.key_file", Problem: err.Error(), Hint: hint}
	}
	return key, nil
}

// RecordRefresh returns auth.Delegated.OnRefresh for the state file at
// path (tokencache.StatePath of the cache); a failure is only logged.
func RecordRefresh(path string, log *slog.Logger) func(user string, at time.Time) {
	return func(user string, at time.Time) {
		if err := tokencache.WriteRefreshState(path, tokencache.RefreshState{User: user, LastRefresh: at}); err != nil {
			log.Warn("cannot record the refresh time", "path", path, "error", err.Error())
		}
	}
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
			OnRefresh: RecordRefresh(tokencache.StatePath(path), log),
		},
	})
}
