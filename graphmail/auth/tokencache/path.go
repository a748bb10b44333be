package tokencache

import "path/filepath"

// SystemPath is the cache file DefaultPath chooses for root and for
// accounts without a home directory.
const SystemPath = "/var/cache/graphmail/tokens.bin"

// DefaultPath returns where the token cache lives by default:
//
//   - for root (euid 0) or when $HOME is unset or empty: SystemPath,
//     /var/cache/graphmail/tokens.bin (a service account without a home
//     needs that directory created for it, owned by it, mode 0700);
//   - otherwise $XDG_CACHE_HOME/graphmail/tokens.bin, where an unset, empty
//     or relative $XDG_CACHE_HOME means $HOME/.cache, as the XDG Base
//     Directory specification says.
//
// lookupEnv is os.LookupEnv in production and euid os.Geteuid(); both are
// parameters so that tests need not change the process environment. On
// Windows os.Geteuid returns -1, which counts as not root.
func DefaultPath(lookupEnv func(string) (string, bool), euid int) string {
	home, _ := lookupEnv("HOME")
	if euid == 0 || home == "" {
		return SystemPath
	}
	base := filepath.Join(home, ".cache")
	if x, ok := lookupEnv("XDG_CACHE_HOME"); ok && filepath.IsAbs(x) {
		base = x
	}
	return filepath.Join(base, "graphmail", "tokens.bin")
}
