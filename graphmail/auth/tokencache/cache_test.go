package tokencache

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

func TestRoundTripAcrossProcesses(t *testing.T) {
	srv := newServer(t, graphmailtest.Options{})
	path := cachePath(t)
	log, logs := newLogger()

	first := newProcess(t, srv, path, log)
	g1 := acquire(t, first, graphScope)
	o1 := acquire(t, first, outlookScope)
	if g1.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
		t.Errorf("first graph token source = %v, want identity provider", g1.Metadata.TokenSource)
	}

	// A new process: a fresh MSAL instance reading the same file.
	second := newProcess(t, srv, path, log)
	for _, tc := range []struct {
		scope, resource, want string
	}{
		{graphScope, graphmailtest.ResourceGraph, g1.AccessToken},
		{outlookScope, graphmailtest.ResourceOutlook, o1.AccessToken},
	} {
		res := acquire(t, second, tc.scope)
		if res.Metadata.TokenSource != confidential.TokenSourceCache {
			t.Errorf("%s: token source = %v, want cache", tc.scope, res.Metadata.TokenSource)
		}
		if res.AccessToken != tc.want {
			t.Errorf("%s: got another token than the first process's", tc.scope)
		}
		if got := srv.TokenRequests(tc.resource); got != 1 {
			t.Errorf("%s: TokenRequests = %d, want 1", tc.resource, got)
		}
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), magic) {
		t.Errorf("file starts with %q, want %q", raw[:min(4, len(raw))], magic)
	}
	secrets := []string{g1.AccessToken, o1.AccessToken, srv.App().Secret, srv.App().ClientID, srv.TenantID(), "AccessToken", "graph.microsoft.com"}
	assertNoSecrets(t, "cache file", string(raw), secrets...)
	assertNoSecrets(t, "log", logs.String(), secrets[:3]...)
	if s := logs.String(); s != "" {
		t.Errorf("unexpected log output:\n%s", s)
	}
	d := decryptFile(t, path, srv.App().Secret, srv.TenantID(), srv.App().ClientID)
	if n := len(d["AccessToken"]); n != 2 {
		t.Errorf("file holds %d access tokens, want 2 (graph and outlook)", n)
	}
}

// TestDamagedFiles damages a valid cache file in various ways: each time the
// next process ignores the file with a warning, fetches a token from the
// network, and rewrites the file so that the process after it is served
// from the cache again.
func TestDamagedFiles(t *testing.T) {
	srv := newServer(t, graphmailtest.Options{})
	app := srv.App()
	flip := func(off func(n int) int) func(t *testing.T, path string) {
		return func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[off(len(b))] ^= 0x01
			writeFileMode(t, path, b)
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		reason string // in the warning
	}{
		{"ciphertext bit", flip(func(n int) int { return n - 20 }), "cannot be decrypted"},
		{"tag bit", flip(func(n int) int { return n - 1 }), "cannot be decrypted"},
		{"salt bit", flip(func(int) int { return len(magic) + 1 + checkSize + 3 }), "cannot be decrypted"},
		// A flipped key check reads as another credential: the file is
		// replaced either way.
		{"key check bit", flip(func(int) int { return len(magic) + 3 }), "another credential"},
		{"nonce bit", flip(func(int) int { return headerSize - 1 }), "cannot be decrypted"},
		{"magic bit", flip(func(int) int { return 0 }), "unknown magic"},
		{"version", flip(func(int) int { return len(magic) }), "unsupported token cache version"},
		{"truncated to half", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			writeFileMode(t, path, b[:len(b)/2])
		}, "cannot be decrypted"},
		{"truncated in header", func(t *testing.T, path string) {
			b, _ := os.ReadFile(path)
			writeFileMode(t, path, b[:20])
		}, "truncated"},
		{"empty", func(t *testing.T, path string) { writeFileMode(t, path, nil) }, "truncated"},
		{"foreign JSON", func(t *testing.T, path string) {
			writeFileMode(t, path, []byte(`{"AccessToken":{}}`))
		}, "unknown magic"},
		{"other credential", func(t *testing.T, path string) {
			writeWith(t, path, "rotated-away-old-secret", srv.TenantID(), app.ClientID)
		}, "another credential"},
		{"other client", func(t *testing.T, path string) {
			writeWith(t, path, app.Secret, srv.TenantID(), "00000000-0000-4000-8000-0000000000ff")
		}, "another credential"},
		{"other tenant", func(t *testing.T, path string) {
			writeWith(t, path, app.Secret, "00000000-0000-4000-8000-00000000ffff", app.ClientID)
		}, "another credential"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			path := cachePath(t)
			tok := acquire(t, newProcess(t, srv, path, nil), graphScope).AccessToken
			tc.damage(t, path)

			log, logs := newLogger()
			c := newCache(t, srv, path, app.Secret, log)
			res := acquire(t, newClient(t, srv, c), graphScope)
			if res.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
				t.Errorf("after damage: token source = %v, want identity provider", res.Metadata.TokenSource)
			}
			out := logs.String()
			// A rotation or another identity is normal: one info line,
			// no warning. Damage is a warning, once per reason.
			level, warnings := "level=WARN", 1
			if tc.reason == "another credential" {
				level, warnings = "level=INFO", 0
			}
			if !strings.Contains(out, level) || !strings.Contains(out, tc.reason) {
				t.Errorf("log = %q, want %s with %q", out, level, tc.reason)
			}
			if n := strings.Count(out, "level=WARN"); n != warnings {
				t.Errorf("%d warnings, want %d", n, warnings)
			}
			assertNoSecrets(t, "log", out, app.Secret, tok, res.AccessToken)

			// Rewritten: decrypts, and the next process is served from it.
			decryptFile(t, path, app.Secret, srv.TenantID(), app.ClientID)
			again := acquire(t, newProcess(t, srv, path, nil), graphScope)
			if again.Metadata.TokenSource != confidential.TokenSourceCache {
				t.Errorf("after rewrite: token source = %v, want cache", again.Metadata.TokenSource)
			}
			if got := srv.TokenRequests(graphmailtest.ResourceGraph); got != 2 {
				t.Errorf("TokenRequests = %d, want 2", got)
			}
		})
	}
}

func writeFileMode(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// writeWith overwrites path with a valid cache file under other key material.
func writeWith(t *testing.T, path, credential, tenant, client string) {
	t.Helper()
	c, err := New(Options{Path: path, Credential: []byte(credential), TenantID: tenant, ClientID: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	f := &fakeMSAL{}
	f.set("AccessToken", "k", `{"secret":"x"}`)
	if err := c.Export(context.Background(), f, cache.ExportHints{}); err != nil {
		t.Fatal(err)
	}
}

// TestExpiredNotServed puts access tokens that are expired, or inside
// MSAL's 5-minute margin, into the file: a new process must go to the
// network although the file holds a token for its scope. (MSAL does not
// even store a token issued with 5 minutes or less to live, so the test
// edits the file rather than asking the fake tenant for short tokens.)
func TestExpiredNotServed(t *testing.T) {
	srv := newServer(t, graphmailtest.Options{})
	app := srv.App()
	tests := []struct {
		name    string
		expires time.Duration // from now
	}{
		{"inside the margin", 4 * time.Minute},
		{"expired", -time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv.Reset()
			path := cachePath(t)
			old := acquire(t, newProcess(t, srv, path, nil), graphScope).AccessToken
			setExpiry(t, path, app.Secret, srv.TenantID(), app.ClientID, time.Now().Add(tc.expires))

			res := acquire(t, newProcess(t, srv, path, nil), graphScope)
			if res.Metadata.TokenSource != confidential.TokenSourceIdentityProvider {
				t.Errorf("token source = %v, want identity provider", res.Metadata.TokenSource)
			}
			if res.AccessToken == old {
				t.Error("the expired token was served")
			}
			if got := srv.TokenRequests(graphmailtest.ResourceGraph); got != 2 {
				t.Errorf("TokenRequests = %d, want 2", got)
			}
		})
	}
}

// setExpiry rewrites every access token in the file to expire at exp.
func setExpiry(t *testing.T, path, credential, tenant, client string, exp time.Time) {
	t.Helper()
	d := decryptFile(t, path, credential, tenant, client)
	if len(d["AccessToken"]) == 0 {
		t.Fatal("no access token in the file")
	}
	for k, v := range d["AccessToken"] {
		var e map[string]any
		must(t, json.Unmarshal(v, &e))
		e["expires_on"] = strconv.FormatInt(exp.Unix(), 10)
		b, err := json.Marshal(e)
		must(t, err)
		d["AccessToken"][k] = b
	}
	plain, err := json.Marshal(d)
	must(t, err)
	sealed, err := newSealer([]byte(credential), tenant, client).seal(plain)
	must(t, err)
	must(t, writeAtomic(path, sealed))
}

// TestExportKeepsOtherProcessTokens replays the race MSAL's whole-cache
// Export allows: A loads the file, B stores a token, A stores another.
// Both must survive; a plain overwrite would drop B's.
func TestExportKeepsOtherProcessTokens(t *testing.T) {
	ctx := context.Background()
	path := cachePath(t)
	opts := Options{Path: path, Credential: []byte("secret"), TenantID: "t", ClientID: "c"}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ma, mb := &fakeMSAL{}, &fakeMSAL{}

	// Both start from a file holding an old graph token.
	ma.set("AccessToken", "graph", `{"secret":"g0"}`)
	must(t, a.Export(ctx, ma, cache.ExportHints{}))
	must(t, a.Replace(ctx, ma, cache.ReplaceHints{}))
	must(t, b.Replace(ctx, mb, cache.ReplaceHints{}))

	mb.set("AccessToken", "outlook", `{"secret":"o1"}`) // B: new outlook token
	must(t, b.Export(ctx, mb, cache.ExportHints{}))
	ma.set("AccessToken", "graph", `{"secret":"g1"}`) // A: refreshed graph token
	must(t, a.Export(ctx, ma, cache.ExportHints{}))

	d := decryptFile(t, path, "secret", "t", "c")
	want := map[string]string{"graph": `{"secret":"g1"}`, "outlook": `{"secret":"o1"}`}
	if len(d["AccessToken"]) != len(want) {
		t.Errorf("file holds %d access tokens, want %d", len(d["AccessToken"]), len(want))
	}
	for k, v := range want {
		if got := string(d["AccessToken"][k]); got != v {
			t.Errorf("AccessToken[%s] = %s, want %s", k, got, v)
		}
	}

	// B exports again without having reloaded: its stale graph token must
	// not overwrite A's newer one.
	mb.set("Account", "x", `{}`)
	must(t, b.Export(ctx, mb, cache.ExportHints{}))
	d = decryptFile(t, path, "secret", "t", "c")
	if got := string(d["AccessToken"]["graph"]); got != want["graph"] {
		t.Errorf("after B's second export AccessToken[graph] = %s, want %s", got, want["graph"])
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// holdLock takes the exclusive lock as another process would, until the
// test ends.
func holdLock(t *testing.T, path string) {
	t.Helper()
	lk, err := acquireLock(context.Background(), path+LockSuffix, true, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lk.unlock)
}

func TestLockBusy(t *testing.T) {
	path := cachePath(t)
	log, logs := newLogger()
	c, err := New(Options{Path: path, Credential: []byte("secret"), TenantID: "t", ClientID: "c", Logger: log, LockTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMSAL{}
	m.set("AccessToken", "k", `{"secret":"v"}`)
	holdLock(t, path)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancel2 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel2()
	tests := []struct {
		name    string
		ctx     context.Context
		op      func(ctx context.Context) error
		wantErr error // nil: goes on without the cache
	}{
		{"replace times out", context.Background(), func(ctx context.Context) error { return c.Replace(ctx, m, cache.ReplaceHints{}) }, nil},
		{"export times out", context.Background(), func(ctx context.Context) error { return c.Export(ctx, m, cache.ExportHints{}) }, nil},
		{"replace canceled", canceled, func(ctx context.Context) error { return c.Replace(ctx, m, cache.ReplaceHints{}) }, context.Canceled},
		{"export deadline", short, func(ctx context.Context) error { return c.Export(ctx, m, cache.ExportHints{}) }, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.op(tc.ctx)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
	if !strings.Contains(logs.String(), "lock busy") {
		t.Errorf("log = %q, want a lock warning", logs.String())
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cache file written without the lock (stat: %v)", err)
	}
}

// TestPruneExpired checks that Export drops access tokens that expired.
func TestPruneExpired(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	path := cachePath(t)
	c, err := New(Options{Path: path, Credential: []byte("s"), TenantID: "t", ClientID: "c", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeMSAL{}
	m.set("AccessToken", "old", `{"expires_on":"1799999999"}`)
	m.set("AccessToken", "new", `{"expires_on":"1800000600"}`)
	m.set("Account", "acct", `{"expires_on":"1"}`)
	must(t, c.Export(context.Background(), m, cache.ExportHints{}))
	d := decryptFile(t, path, "s", "t", "c")
	if _, ok := d["AccessToken"]["old"]; ok {
		t.Error("expired access token kept")
	}
	if _, ok := d["AccessToken"]["new"]; !ok {
		t.Error("valid access token dropped")
	}
	if _, ok := d["Account"]["acct"]; !ok {
		t.Error("non-token entry dropped")
	}
}
