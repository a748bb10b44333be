//go:build unix

package tokencache

import "testing"

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		euid int
		want string
	}{
		{"root", map[string]string{"HOME": "/root"}, 0, "/var/cache/graphmail/tokens.bin"},
		{"root with XDG_CACHE_HOME", map[string]string{"HOME": "/root", "XDG_CACHE_HOME": "/root/.xdg"}, 0, "/root/.xdg/graphmail/tokens.bin"},
		{"no HOME with XDG_CACHE_HOME", map[string]string{"XDG_CACHE_HOME": "/srv/cache"}, 1000, "/srv/cache/graphmail/tokens.bin"},
		{"no HOME", map[string]string{}, 1000, "/var/cache/graphmail/tokens.bin"},
		{"empty HOME", map[string]string{"HOME": ""}, 1000, "/var/cache/graphmail/tokens.bin"},
		{"user", map[string]string{"HOME": "/home/u"}, 1000, "/home/u/.cache/graphmail/tokens.bin"},
		{"XDG_CACHE_HOME", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "/srv/cache"}, 1000, "/srv/cache/graphmail/tokens.bin"},
		{"empty XDG_CACHE_HOME", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": ""}, 1000, "/home/u/.cache/graphmail/tokens.bin"},
		{"relative XDG_CACHE_HOME", map[string]string{"HOME": "/home/u", "XDG_CACHE_HOME": "cache"}, 1000, "/home/u/.cache/graphmail/tokens.bin"},
		{"windows euid", map[string]string{"HOME": "/home/u"}, -1, "/home/u/.cache/graphmail/tokens.bin"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if got := DefaultPath(lookup, tc.euid); got != tc.want {
				t.Errorf("DefaultPath = %s, want %s", got, tc.want)
			}
		})
	}
}
