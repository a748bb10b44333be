package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// sandbox is the built-in fake Microsoft 365 tenant: identity platform,
// Graph and an XOAUTH2 SMTP server on loopback, with a CA of its own.
type sandbox struct {
	srv    *graphmailtest.Server
	dir    string
	caFile string
}

// startSandbox starts the fake tenant, writing delivered messages to dir (a
// new temporary directory when dir is "").
func startSandbox(dir string, env *environment) (*sandbox, error) {
	var err error
	if dir == "" {
		if dir, err = os.MkdirTemp("", "graphmail-sandbox-"); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	srv, err := graphmailtest.NewServer(graphmailtest.Options{
		Dir:    dir,
		Logger: slog.New(slog.NewTextHandler(env.stderr, nil)).With("component", "sandbox"),
	})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	// The sandbox app holds every permission graphmail can use, so each
	// path works: Mail.ReadWrite is needed for large attachments
	// (large_messages: upload_session).
	srv.SetRoles(srv.App().ClientID, []string{"Mail.Send", "Mail.ReadWrite", "SMTP.SendAsApp"})
	b := &sandbox{srv: srv, dir: dir, caFile: filepath.Join(dir, "sandbox-ca.pem")}
	if err := os.WriteFile(b.caFile, srv.CACertPEM(), 0o600); err != nil {
		srv.Close()
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return b, nil
}

// Close stops the servers; delivered messages stay in the directory.
func (b *sandbox) Close() { b.srv.Close() }

// settings is the configuration that points graphmail at the sandbox.
func (b *sandbox) settings() [][2]any {
	app := b.srv.App()
	return [][2]any{
		{"tenant_id", b.srv.TenantID()},
		{"client_id", app.ClientID},
		{"client_secret", app.Secret},
		{"authority_host", b.srv.AuthorityHost()},
		{"graph_endpoint", b.srv.GraphEndpoint()},
		{"instance_discovery", false},
		{"ca_file", b.caFile},
		{"sender", b.srv.Mailboxes()[0]},
		{"smtp.host", b.srv.SMTPHost()},
		{"smtp.port", b.srv.SMTPPort()},
	}
}

// overrides returns the sandbox settings as flag-level overrides, so that no
// config file or environment variable can point a sandbox run elsewhere.
func (b *sandbox) overrides() map[string]any {
	// Each sandbox has a new secret, so a persistent token cache could
	// never be reused: keep tokens in memory.
	m := map[string]any{"client_certificate": "", "client_secret_file": "", "cloud": "global", "token_cache.path": "none"}
	for _, kv := range b.settings() {
		m[kv[0].(string)] = kv[1]
	}
	return m
}

// report tells where the message landed.
func (b *sandbox) report(env *environment, res graphmail.Result) {
	msgs := b.srv.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Path != "" {
			env.printf("sandbox: delivered to %s\n", msgs[i].Path)
			return
		}
	}
	env.printf("sandbox: messages are in %s\n", b.dir)
}
