package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

// Values that pass validation.
const (
	testTenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
	testClient = "0b3c1a2e-5d4f-4a6b-8c7d-9e0f1a2b3c4d"
	testSecret = "Qx8~s3cr3t.VALUE_never-shown"
	testSender = "reports@contoso.com"
)

// fakeEnv is an injected environment.
type fakeEnv map[string]string

func (e fakeEnv) lookup(k string) (string, bool) { v, ok := e[k]; return v, ok }

func (e fakeEnv) environ() []string {
	out := make([]string, 0, len(e))
	for k, v := range e {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// testEuid is the effective user ID tests inject: not root.
const testEuid = 1000

// load runs Load with env injected, as an ordinary user unless the options
// say otherwise and, unless they say otherwise, with an empty search list
// so no real file is ever read.
func load(opts Options, env fakeEnv) (*Config, error) {
	if env == nil {
		env = fakeEnv{}
	}
	if opts.Geteuid == nil {
		opts.Geteuid = func() int { return testEuid }
	}
	opts.LookupEnv, opts.Environ = env.lookup, env.environ
	if opts.SearchPaths == nil {
		opts.SearchPaths = []string{}
	}
	return Load(opts)
}

// writeFile writes content to dir/name and returns the path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// testCAPEM returns a freshly made self-signed certificate in PEM form.
func testCAPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "graphmail test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}
