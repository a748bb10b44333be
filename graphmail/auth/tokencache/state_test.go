package tokencache

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

func TestStatePath(t *testing.T) {
	if got, want := StatePath("/var/cache/graphmail/tokens.bin"), "/var/cache/graphmail/tokens.bin.delegated.json"; got != want {
		t.Errorf("StatePath = %q, want %q", got, want)
	}
}

func TestRefreshStateRoundTrip(t *testing.T) {
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		st   RefreshState
		json string // the file's content
	}{
		{"utc", RefreshState{User: "alice@example.com", LastRefresh: at.UTC()}, `{"user":"alice@example.com","last_refresh":"2025-03-04T04:06:07.000000008Z"}`},
		{"local time stored as utc", RefreshState{User: "alice@example.com", LastRefresh: at}, `{"user":"alice@example.com","last_refresh":"2025-03-04T04:06:07.000000008Z"}`},
		{"no user", RefreshState{LastRefresh: at.UTC()}, `{"user":"","last_refresh":"2025-03-04T04:06:07.000000008Z"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := StatePath(filepath.Join(t.TempDir(), "tokens.bin"))
			must(t, WriteRefreshState(path, tc.st))
			b, err := os.ReadFile(path)
			must(t, err)
			if string(b) != tc.json {
				t.Errorf("file = %s, want %s", b, tc.json)
			}
			if fi, err := os.Stat(path); err != nil || runtime.GOOS != "windows" && fi.Mode().Perm() != 0o600 {
				t.Errorf("stat: %v, %v; want mode 0600", fi, err)
			}
			got, ok := ReadRefreshState(path)
			if !ok || got.User != tc.st.User || !got.LastRefresh.Equal(tc.st.LastRefresh) || got.LastRefresh.Location() != time.UTC {
				t.Errorf("ReadRefreshState = %+v, %t; want %+v in UTC", got, ok, tc.st)
			}
			entries, err := os.ReadDir(filepath.Dir(path))
			must(t, err)
			if len(entries) != 1 {
				t.Errorf("directory holds %d entries, want only the state file", len(entries))
			}
		})
	}
}

func TestReadRefreshState(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" means no file
		want    RefreshState
		ok      bool
	}{
		{"no file", "", RefreshState{}, false},
		{"written by graphmail before the move", `{"user":"bob@example.com","last_refresh":"2024-11-30T23:59:58.123Z"}`,
			RefreshState{User: "bob@example.com", LastRefresh: time.Date(2024, 11, 30, 23, 59, 58, 123e6, time.UTC)}, true},
		{"unknown field", `{"user":"bob@example.com","last_refresh":"2024-11-30T23:59:58Z","more":1}`,
			RefreshState{User: "bob@example.com", LastRefresh: time.Date(2024, 11, 30, 23, 59, 58, 0, time.UTC)}, true},
		{"not JSON", "user=bob", RefreshState{}, false},
		{"bad time", `{"user":"bob@example.com","last_refresh":"yesterday"}`, RefreshState{}, false},
		{"truncated", `{"user":"bob@exa`, RefreshState{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.bin.delegated.json")
			if tc.content != "" {
				must(t, os.WriteFile(path, []byte(tc.content), 0o600))
			}
			got, ok := ReadRefreshState(path)
			if ok != tc.ok || got.User != tc.want.User || !got.LastRefresh.Equal(tc.want.LastRefresh) {
				t.Errorf("ReadRefreshState = %+v, %t; want %+v, %t", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestWriteRefreshStateNoDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "tokens.bin.delegated.json")
	if err := WriteRefreshState(path, RefreshState{User: "a", LastRefresh: time.Now()}); err == nil {
		t.Fatal("WriteRefreshState into a missing directory succeeded")
	}
}
