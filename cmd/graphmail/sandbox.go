package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

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
// new temporary directory when dir is ""), logging on standard error at
// level.
func startSandbox(dir string, env *environment, level slog.Level) (*sandbox, error) {
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
		Logger: slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: level})).With("component", "sandbox"),
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
func (b *sandbox) settings() map[string]any {
	return sandboxSettings(b.srv, b.caFile)
}

// sandboxSettings are the config keys that point graphmail at srv, whose
// CA certificate is in the file caFile.
func sandboxSettings(srv *graphmailtest.Server, caFile string) map[string]any {
	app := srv.App()
	return map[string]any{
		"tenant_id":          srv.TenantID(),
		"client_id":          app.ClientID,
		"client_secret":      app.Secret,
		"authority_host":     srv.AuthorityHost(),
		"graph_endpoint":     srv.GraphEndpoint(),
		"instance_discovery": false,
		"ca_file":            caFile,
		"sender":             srv.Mailboxes()[0],
		"smtp.host":          srv.SMTPHost(),
		"smtp.port":          srv.SMTPPort(),
	}
}

// overrides returns the sandbox settings as flag-level overrides, so that no
// config file or environment variable can point a sandbox run elsewhere.
func (b *sandbox) overrides() map[string]any {
	// Each sandbox has a new secret, so a persistent token cache could
	// never be reused: keep tokens in memory.
	m := map[string]any{"client_certificate": "", "client_secret_file": "", "cloud": "global", "token_cache.path": "none"}
	for k, v := range b.settings() {
		m[k] = v
	}
	return m
}

// delivered is the file the newest delivered message was written to, or
// "" when there is none.
func (b *sandbox) delivered() string {
	msgs := b.srv.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Path != "" {
			return msgs[i].Path
		}
	}
	return ""
}

// report tells where the message landed (file, from delivered).
func (b *sandbox) report(env *environment, file string) {
	if file != "" {
		env.printf("sandbox: delivered to %s\n", file)
		return
	}
	env.printf("sandbox: messages are in %s\n", b.dir)
}
