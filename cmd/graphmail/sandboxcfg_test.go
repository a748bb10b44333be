package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// writeSandboxFiles writes a config file at path that points graphmail at
// srv (the same keys "graphmail sandbox" prints), with extra keys added or
// replaced, and srv's CA certificate beside it.
func writeSandboxFiles(srv *graphmailtest.Server, path string, extra map[string]any) error {
	ca := filepath.Join(filepath.Dir(path), filepath.Base(path)+".ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		return err
	}
	values := sandboxSettings(srv, ca)
	for k, v := range extra {
		values[k] = v
	}
	return os.WriteFile(path, []byte(configYAML(values)), 0o600)
}

// sandboxConfig writes graphmail.yaml for srv in a new temporary directory
// and returns its path.
func sandboxConfig(tb testing.TB, srv *graphmailtest.Server, extra map[string]any) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "graphmail.yaml")
	if err := writeSandboxFiles(srv, path, extra); err != nil {
		tb.Fatal(err)
	}
	return path
}
