package setup_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/setup"
)

func load(t *testing.T, o map[string]any) *config.Config {
	t.Helper()
	cfg, err := config.Load(config.Options{Overrides: o, LookupEnv: func(string) (string, bool) { return "", false }, SearchPaths: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func tenantSettings(t *testing.T, srv *graphmailtest.Server) map[string]any {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	app := srv.App()
	return map[string]any{
		"tenant_id": srv.TenantID(), "client_id": app.ClientID, "client_secret": app.Secret,
		"authority_host": srv.AuthorityHost(), "graph_endpoint": srv.GraphEndpoint(), "instance_discovery": false,
		"ca_file": ca, "sender": srv.Mailboxes()[0], "smtp.host": srv.SMTPHost(), "smtp.port": srv.SMTPPort(),
		"token_cache.path": "none", "limits.messages_per_minute": 0,
	}
}

// TestNewSharesOneProvider: the Graph client and the SMTP fallback built
// by New use one token provider, and a second stack built with
// Options.Tokens reuses its tokens (doctor --send-test).
func TestNewSharesOneProvider(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.SetRoles(srv.App().ClientID, []string{"Mail.Send", "SMTP.SendAsApp"})
	cfg := load(t, tenantSettings(t, srv))
	st, err := setup.New(cfg, nil, setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	msg := &graphmail.Message{To: []graphmail.Address{{Address: "a@example.com"}}, Subject: "s", Text: "t"}
	if _, err := st.Mail.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	viaSMTP, err := setup.New(cfg, nil, setup.Options{Policy: graphmail.PolicyOnly, Tokens: st.Tokens})
	if err != nil {
		t.Fatal(err)
	}
	defer viaSMTP.Close()
	if _, err := viaSMTP.Mail.Send(ctx, &graphmail.Message{To: []graphmail.Address{{Address: "b@example.com"}}, Subject: "s", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Mail.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if got := srv.TotalTokenRequests(); got != 2 {
		t.Errorf("token requests = %d, want 2 (one per scope, shared)", got)
	}
	if got := len(srv.Messages()); got != 3 {
		t.Errorf("delivered %d, want 3", got)
	}
}

// TestNewDryRunNeedsNoCredential: a dry run builds without a tenant.
func TestNewDryRunNeedsNoCredential(t *testing.T) {
	st, err := setup.New(load(t, map[string]any{"token_cache.path": "none"}), nil, setup.Options{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if st.Tokens != nil || st.Mail == nil {
		t.Errorf("dry run: tokens %v, mail %v; want no provider and a client", st.Tokens, st.Mail)
	}
}

// TestTLSConfigErrorsNameTheKey: a bad ca_file is a configuration error
// on ca_file.
func TestTLSConfigErrorsNameTheKey(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{empty, filepath.Join(t.TempDir(), "missing.pem")} {
		_, err := setup.TLSConfig(path)
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Key != "ca_file" || graphmail.ClassOf(err) != graphmail.Misconfigured {
			t.Errorf("TLSConfig(%s) = %v, want a config error on ca_file", path, err)
		}
	}
}

func TestMailDomain(t *testing.T) {
	for in, want := range map[string]string{"a@contoso.com": "contoso.com", "root": "graphmail.local", "": "graphmail.local"} {
		if got := setup.MailDomain(in); got != want {
			t.Errorf("MailDomain(%q) = %q, want %q", in, got, want)
		}
	}
}
