package tokencache

import (
	"encoding/json"
	"fmt"
	"time"
)

// StateSuffix is appended to a cache's path to name its refresh state file.
const StateSuffix = ".delegated.json"

// RefreshState is the small file beside a delegated sign-in's cache: who
// signed in and when the refresh token was last used. It holds no token.
type RefreshState struct {
	// User is the signed-in account's user name.
	User string `json:"user"`
	// LastRefresh is when a token was last obtained with the refresh
	// token.
	LastRefresh time.Time `json:"last_refresh"`
}

// StatePath returns the refresh state file of the cache at cachePath:
// cachePath + StateSuffix.
func StatePath(cachePath string) string { return cachePath + StateSuffix }

// WriteRefreshState replaces the state file at path with st, LastRefresh
// in UTC. Like the cache it is written atomically with mode 0600 and
// synced; its directory must exist.
func WriteRefreshState(path string, st RefreshState) error {
	st.LastRefresh = st.LastRefresh.UTC()
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("tokencache: encoding the refresh state: %w", err)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("tokencache: writing the refresh state: %w", err)
	}
	return nil
}

// ReadRefreshState reads the state file at path. ok is false when there is
// none or it cannot be read or parsed.
func ReadRefreshState(path string) (st RefreshState, ok bool) {
	b, err := readFile(path)
	if err != nil || b == nil || json.Unmarshal(b, &st) != nil {
		return RefreshState{}, false
	}
	return st, true
}
