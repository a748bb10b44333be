package tokencache

import "path/filepath"

// SystemPath is the cache file DefaultPath chooses for system services:
// root and accounts without a home directory.
const SystemPath = "/var/cache/graphmail/tokens.bin"

// DefaultPath returns where the token cache lives by default:
//
//   - $XDG_CACHE_HOME/graphmail/tokens.bin when $XDG_CACHE_HOME is set to
//     an absolute path (for any user, root included: an explicit choice);
//   - otherwise, for root (euid 0) or when $HOME is unset or empty:
//     SystemPath, /var/cache/graphmail/tokens.bin (a service account
//     without a home needs that directory created for it, owned by it,
//     mode 0700 — systemd's CacheDirectory=graphmail does that);
//   - otherwise $HOME/.cache/graphmail/tokens.bin, as the XDG Base
//     Directory specification says.
//
// lookupEnv is os.LookupEnv in production and euid os.Geteuid(); both are
// parameters so that tests need not change the process environment. On
// Windows os.Geteuid returns -1, which counts as not root.
func DefaultPath(lookupEnv func(string) (string, bool), euid int) string {
	if x, ok := lookupEnv("XDG_CACHE_HOME"); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "graphmail", "tokens.bin")
	}
	home, _ := lookupEnv("HOME")
	if euid == 0 || home == "" {
		return SystemPath
	}
	return filepath.Join(home, ".cache", "graphmail", "tokens.bin")
}
