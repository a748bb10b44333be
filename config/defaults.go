package config

import (
	"path/filepath"

	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
)

// defaultEnv is what computed defaults (keyDef.defFunc) depend on.
type defaultEnv struct {
	cloud     cloudDef                    // the endpoints of the configured cloud
	lookupEnv func(string) (string, bool) // Options.LookupEnv
	euid      int                         // Options.Geteuid()
}

// userPath follows the XDG Base Directory rule graphmail uses for every
// per-user file: $xdgVar/graphmail/name when the variable holds an
// absolute path (for any user, root included: an explicit choice); else
// system for root (euid 0) or when HOME is unset or empty (a service
// account); else $HOME/homeDir/graphmail/name.
func (d defaultEnv) userPath(xdgVar, homeDir, name, system string) string {
	if x, ok := d.lookupEnv(xdgVar); ok && filepath.IsAbs(x) {
		return filepath.Join(x, "graphmail", name)
	}
	home, _ := d.lookupEnv("HOME")
	if d.euid == 0 || home == "" {
		return system
	}
	return filepath.Join(home, homeDir, "graphmail", name)
}

// defaultTokenCache is the default of token_cache.path: the rule of the
// token cache itself (tokencache.DefaultPath, which imports nothing heavy),
// so the two cannot disagree.
func defaultTokenCache(d defaultEnv) any {
	return tokencache.DefaultPath(d.lookupEnv, d.euid)
}

// defaultBudgetFile is the default of limits.budget_file: budget.json in
// the default token cache's directory (setup.BudgetPath moves it beside
// a token_cache.path set explicitly, and drops it when that is "none").
func defaultBudgetFile(d defaultEnv) any {
	return filepath.Join(filepath.Dir(tokencache.DefaultPath(d.lookupEnv, d.euid)), "budget.json")
}

// defaultKeyFile is the default of token_cache.key_file. The key sits in
// the configuration directory, not next to the cache, so that a copy of
// the cache alone cannot be decrypted; for root and accounts without a
// home it is /var/lib/graphmail/token-cache.key (systemd's
// StateDirectory=graphmail).
func defaultKeyFile(d defaultEnv) any {
	return d.userPath("XDG_CONFIG_HOME", ".config", "token-cache.key", "/var/lib/graphmail/token-cache.key")
}

// defaultSpoolDir is the default of spool.dir.
func defaultSpoolDir(d defaultEnv) any {
	return d.userPath("XDG_STATE_HOME", filepath.Join(".local", "state"), "spool", "/var/spool/graphmail")
}
