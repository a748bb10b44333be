package tokencache

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const (
	graphScope   = "https://graph.microsoft.com/.default"
	outlookScope = "https://outlook.office365.com/.default"
)

// logBuffer collects log output from any goroutine.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}

func newServer(t *testing.T, opts graphmailtest.Options) *graphmailtest.Server {
	t.Helper()
	srv, err := graphmailtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// newCache returns a Cache for srv's app with key material credential.
func newCache(t *testing.T, srv *graphmailtest.Server, path, credential string, log *slog.Logger) *Cache {
	t.Helper()
	c, err := New(Options{
		Path:       path,
		Credential: []byte(credential),
		TenantID:   srv.TenantID(),
		ClientID:   srv.App().ClientID,
		Logger:     log,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// newClient returns a fresh MSAL client (an empty in-memory cache) that
// persists through c, as a new process would.
func newClient(t *testing.T, srv *graphmailtest.Server, c *Cache) confidential.Client {
	t.Helper()
	app := srv.App()
	cred, err := confidential.NewCredFromSecret(app.Secret)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(srv.Authority(), app.ClientID, cred,
		confidential.WithHTTPClient(srv.HTTPClient()),
		confidential.WithInstanceDiscovery(false),
		confidential.WithCache(c))
	if err != nil {
		t.Fatal(err)
	}
	return client
}

func acquire(t *testing.T, client confidential.Client, scope string) confidential.AuthResult {
	t.Helper()
	res, err := client.AcquireTokenByCredential(context.Background(), []string{scope})
	if err != nil {
		t.Fatalf("AcquireTokenByCredential(%s): %v", scope, err)
	}
	return res
}

// newProcess simulates a new process: a new Cache on path and a new MSAL
// client.
func newProcess(t *testing.T, srv *graphmailtest.Server, path string, log *slog.Logger) confidential.Client {
	t.Helper()
	return newClient(t, srv, newCache(t, srv, path, srv.App().Secret, log))
}

func cachePath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "cache", "tokens.bin")
}

// fakeMSAL is an in-memory cache in MSAL's serialized shape, for driving
// Replace and Export without MSAL.
type fakeMSAL struct {
	mu   sync.Mutex
	data map[string]map[string]json.RawMessage
}

func (f *fakeMSAL) Unmarshal(b []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var d map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &d); err != nil {
		return err
	}
	f.data = d
	return nil
}

func (f *fakeMSAL) Marshal() ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return json.Marshal(f.data)
}

func (f *fakeMSAL) set(section, key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data == nil {
		f.data = map[string]map[string]json.RawMessage{}
	}
	if f.data[section] == nil {
		f.data[section] = map[string]json.RawMessage{}
	}
	f.data[section][key] = json.RawMessage(value)
}

// decryptFile opens the cache file with the credential, tenant and client.
func decryptFile(t *testing.T, path, credential, tenant, client string) map[string]map[string]json.RawMessage {
	t.Helper()
	file, err := readFile(path)
	if err != nil || file == nil {
		t.Fatalf("reading %s: %v (exists: %t)", path, err, file != nil)
	}
	plain, err := newSealer([]byte(credential), tenant, client).open(file)
	if err != nil {
		t.Fatalf("decrypting %s: %v", path, err)
	}
	var d map[string]map[string]json.RawMessage
	if err := json.Unmarshal(plain, &d); err != nil {
		t.Fatalf("cache content is not JSON: %v", err)
	}
	return d
}

func assertNoSecrets(t *testing.T, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret or token (%d bytes)", what, len(s))
		}
	}
}
