package setup

import (
	"crypto/x509"
	"errors"
	"log/slog"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
)

// openTokenCache returns the persistent, encrypted token cache for opts'
// credential, or nil when token_cache.path is "none" or the cache cannot be
// used. Only secrets and certificates get one: the cache key is derived
// from the credential, and a federated token (workload identity) rotates
// within the hour and a managed identity has no key material at all, so
// those methods keep tokens in memory only (getting a new token is a local
// file read or a call to the host's identity endpoint). A cache problem never fails a send: it is logged with a hint and
// graphmail goes on with MSAL's in-memory cache.
func openTokenCache(cfg *config.Config, opts auth.Options, log *slog.Logger) cache.ExportReplace {
	path := cfg.TokenCache.Path
	if path == "none" {
		return nil
	}
	var key []byte
	switch {
	case opts.ClientSecret != "":
		key = []byte(opts.ClientSecret)
	case opts.Certificate != nil:
		der, err := x509.MarshalPKCS8PrivateKey(opts.Certificate.Key)
		if err != nil {
			log.Warn("token cache disabled: the certificate key cannot be used as key material", "error", err.Error())
			return nil
		}
		key = der
	default:
		return nil
	}
	c, err := tokencache.New(tokencache.Options{Path: path, Credential: key, TenantID: cfg.TenantID, ClientID: cfg.ClientID, Logger: log})
	if err != nil {
		attrs := []any{"path", path, "error", err.Error()}
		var pe *tokencache.PermissionError
		if errors.As(err, &pe) {
			attrs = append(attrs, "hint", pe.Hint())
		} else {
			attrs = append(attrs, "hint", "set token_cache.path to a directory only this user can write, or to none")
		}
		log.Warn("token cache disabled", attrs...)
		return nil
	}
	return c
}
