package setup

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
)

// tokenCacheFor returns the factory of persistent, encrypted token caches
// for the client secrets and certificates of cfg (auth.Options.CacheFor),
// or nil when token_cache.path is "none". Each credential's cache is keyed
// by that credential: the first one uses token_cache.path, a second one
// (during a rotation) the same name with ".2" before the extension, so
// that the two never overwrite each other's file. A federated token
// (workload identity) rotates within the hour and a managed identity has
// no key material at all, so those methods keep tokens in memory only
// (getting a new token is a local file read or a call to the host's
// identity endpoint). A cache problem never fails a send: it is logged
// with a hint and graphmail goes on with MSAL's in-memory cache.
func tokenCacheFor(cfg *config.Config, log *slog.Logger) func(key []byte, index int) cache.ExportReplace {
	if cfg.TokenCache.Path == "none" {
		return nil
	}
	base := cfg.TokenCache.Path
	if cfg.Sources["token_cache.path"] == config.SourceDefault {
		base = IdentityCachePath(base, cfg.AuthorityHost, cfg.TenantID, cfg.ClientID)
	}
	return func(key []byte, index int) cache.ExportReplace {
		return openTokenCache(cfg, CachePathFor(base, index), key, log)
	}
}

// IdentityCachePath is the default token cache file of one identity (an
// app registration in a tenant at an authority): path with a short hash
// of the identity before its extension, such as tokens-3f9a0c1b2d4e.bin.
// Two configurations for different apps on one host then keep their
// tokens apart instead of replacing each other's file on every run. A
// token_cache.path set explicitly is used as it is.
func IdentityCachePath(path, authority, tenant, client string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(authority) + "\x00" + strings.ToLower(tenant) + "\x00" + strings.ToLower(client)))
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-" + hex.EncodeToString(sum[:6]) + ext
}

// CachePathFor is the token cache file of the credential at index (0 for
// the only or first one) of token_cache.path.
func CachePathFor(path string, index int) string {
	if index == 0 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + strconv.Itoa(index+1) + ext
}

// openTokenCache opens the cache at path keyed by key, or returns nil
// after logging why it cannot be used.
func openTokenCache(cfg *config.Config, path string, key []byte, log *slog.Logger) cache.ExportReplace {
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
