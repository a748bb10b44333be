package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const (
	wiIssuer  = "https://oidc.prod-aks.example.test/cluster/"
	wiSubject = "system:serviceaccount:mail:graphmail"
)

// writeMethodConfig writes a config for srv with the given credential
// lines instead of a client secret.
func writeMethodConfig(t *testing.T, srv *graphmailtest.Server, credential string) string {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("tenant_id: %s\nclient_id: %s\n%sauthority_host: %s\ngraph_endpoint: %s\ninstance_discovery: false\nca_file: %s\nsender: %s\nretry:\n  max_attempts: 1\nsmtp:\n  host: %s\n  port: %d\n",
		srv.TenantID(), srv.App().ClientID, credential, srv.AuthorityHost(), srv.GraphEndpoint(), ca, srv.Mailboxes()[0], srv.SMTPHost(), srv.SMTPPort())
	p := filepath.Join(dir, "graphmail.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func mintToFile(t *testing.T, srv *graphmailtest.Server, path, subject string, lifetime time.Duration) {
	t.Helper()
	tok, err := srv.MintFederatedToken(wiIssuer, subject, "", lifetime)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
}

// sendWith runs graphmail send with the config and extra arguments.
func sendWith(t *testing.T, cfgFile string, extra ...string) (int, string, string) {
	t.Helper()
	args := append([]string{"send", "-v", "--config", cfgFile, "--to", "a@example.com", "--subject", "s", "--body", "b"}, extra...)
	var stdout, stderr syncBuffer
	code := runEnv(context.Background(), args, testEnv(&stdout, &stderr))
	return code, stdout.String(), stderr.String()
}

// sendAsProcess runs graphmail send with the config and extra arguments as
// a process of its own (this test binary, which testscript put on PATH as
// "graphmail"), with a home of its own and only the given variables.
func sendAsProcess(t *testing.T, env map[string]string, cfgFile string, extra ...string) (int, string, string) {
	t.Helper()
	home := t.TempDir()
	args := append([]string{"send", "-v", "--config", cfgFile, "--to", "a@example.com", "--subject", "s", "--body", "b"}, extra...)
	cmd := exec.Command("graphmail", args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(home, ".cache")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	code := 0
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("graphmail send: %v", err)
		}
		code = ee.ExitCode()
	}
	return code, stdout.String(), stderr.String()
}

// TestWorkloadIdentitySend delivers through Graph and through the SMTP
// fallback with a federated token, picks up a rotated token file, and
// fails with exit 77 and a hint when the token has expired.
func TestWorkloadIdentitySend(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddFederation(graphmailtest.Federation{ClientID: srv.App().ClientID, Issuer: wiIssuer, Subject: wiSubject}); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "azure-identity-token")
	mintToFile(t, srv, tokenFile, wiSubject, time.Hour)
	cfgFile := writeMethodConfig(t, srv, "federated_token_file: "+tokenFile+"\n")

	steps := []struct {
		name      string
		prepare   func()
		args      []string
		exit      int
		stdout    string
		stderr    []string
		transport string
	}{
		{name: "graph", exit: 0, stdout: "via Microsoft Graph", transport: "graph"},
		{name: "smtp", args: []string{"--via", "smtp"}, exit: 0, stdout: "via SMTP", transport: graphmailtest.TransportSMTP},
		{name: "rotated to an untrusted subject", prepare: func() { mintToFile(t, srv, tokenFile, "system:serviceaccount:other:sa", time.Hour) },
			exit: exitNoPerm, stderr: []string{"AADSTS70021", "hint: no federated credential"}},
		{name: "rotated back", prepare: func() { mintToFile(t, srv, tokenFile, wiSubject, time.Hour) },
			exit: 0, stdout: "via Microsoft Graph", transport: "graph"},
		{name: "expired", prepare: func() { mintToFile(t, srv, tokenFile, wiSubject, -time.Minute) },
			exit: exitNoPerm, stderr: []string{"expired", "hint: the file is written by the platform"}},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			before := len(srv.Messages())
			code, stdout, stderr := sendWith(t, cfgFile, st.args...)
			if code != st.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, st.exit, stdout, stderr)
			}
			if !strings.Contains(stdout, st.stdout) {
				t.Errorf("stdout %q lacks %q", stdout, st.stdout)
			}
			for _, want := range st.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if strings.Contains(stderr, "eyJ") {
				t.Errorf("stderr shows a token:\n%s", stderr)
			}
			msgs := srv.Messages()
			switch {
			case st.transport == "" && len(msgs) != before:
				t.Errorf("delivered %d messages, want none", len(msgs)-before)
			case st.transport != "" && (len(msgs) != before+1 || !strings.HasPrefix(msgs[before].Transport, st.transport)):
				t.Errorf("delivered %+v, want one via %s", msgs[before:], st.transport)
			}
		})
	}
	if n := srv.FederatedRequests(); n != 3 {
		t.Errorf("tokens issued for federated assertions: %d, want 3 (graph, outlook, graph after rotation)", n)
	}
}

// TestManagedIdentitySend delivers through Graph and SMTP as a managed
// identity found through App Service's variables, and maps endpoint
// errors to hints. MSAL caches managed identity tokens in a package-level
// cache (keyed without the endpoint, the same for every system-assigned
// identity), so each send runs as a process of its own, as it does for
// real: in this test process, a later case or a later run of go test
// -count would get a token an earlier fake tenant issued.
func TestManagedIdentitySend(t *testing.T) {
	tests := []struct {
		name     string
		assign   *graphmailtest.ManagedIdentity
		clientID string
		exit     int
		stderr   string
	}{
		{name: "system-assigned", assign: &graphmailtest.ManagedIdentity{ClientID: "b0000000-0000-4000-8000-000000000001", SystemAssigned: true}},
		{name: "user-assigned", assign: &graphmailtest.ManagedIdentity{ClientID: "b0000000-0000-4000-8000-000000000002"}, clientID: "b0000000-0000-4000-8000-000000000002"},
		{name: "no identity assigned", clientID: "b0000000-0000-4000-8000-000000000003", exit: exitNoPerm, stderr: "hint: no managed identity with managed_identity_client_id"},
		{name: "wrong client id", assign: &graphmailtest.ManagedIdentity{ClientID: "b0000000-0000-4000-8000-000000000004"},
			clientID: "b0000000-0000-4000-8000-000000000005", exit: exitNoPerm, stderr: "client ID (not the object ID)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if tt.assign != nil {
				srv.AssignManagedIdentity(*tt.assign)
			}
			cred := "auth:\n  method: managed_identity\n"
			if tt.clientID != "" {
				cred += "managed_identity_client_id: " + tt.clientID + "\n"
			}
			cfgFile := writeMethodConfig(t, srv, cred)
			for _, via := range []string{"graph", "smtp"} {
				code, stdout, stderr := sendAsProcess(t, srv.ManagedIdentityEnv(), cfgFile, "--via", via)
				if code != tt.exit {
					t.Fatalf("via %s: exit %d, want %d\nstdout: %s\nstderr: %s", via, code, tt.exit, stdout, stderr)
				}
				if !strings.Contains(stderr, tt.stderr) {
					t.Errorf("via %s: stderr lacks %q:\n%s", via, tt.stderr, stderr)
				}
			}
			if tt.exit != 0 {
				return
			}
			msgs := srv.Messages()
			if len(msgs) != 2 || !strings.HasPrefix(msgs[0].Transport, "graph") || msgs[1].Transport != graphmailtest.TransportSMTP {
				t.Fatalf("delivered %+v, want one via Graph and one via SMTP", msgs)
			}
		})
	}
}

// TestDoctorCredentialLine names the method and, for workload identity,
// the federated token's expiry.
func TestDoctorCredentialLine(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.AddFederation(graphmailtest.Federation{ClientID: srv.App().ClientID, Issuer: wiIssuer, Subject: wiSubject}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fresh, expired := filepath.Join(dir, "fresh"), filepath.Join(dir, "expired")
	mintToFile(t, srv, fresh, wiSubject, time.Hour)
	mintToFile(t, srv, expired, wiSubject, -time.Minute)
	tests := []struct {
		name   string
		cfg    config.Config
		status string
		detail string
	}{
		{"workload identity", config.Config{Auth: config.Auth{Method: config.MethodWorkloadIdentity}, FederatedTokenFile: fresh}, statusOK, "workload identity: federated token from " + wiIssuer},
		{"expired federated token", config.Config{Auth: config.Auth{Method: config.MethodWorkloadIdentity}, FederatedTokenFile: expired}, statusFail, "workload identity"},
		{"missing federated token", config.Config{Auth: config.Auth{Method: config.MethodWorkloadIdentity}, FederatedTokenFile: filepath.Join(dir, "nope")}, statusFail, "cannot read"},
		{"managed identity", config.Config{Auth: config.Auth{Method: config.MethodManagedIdentity}, ManagedIdentityClientID: "b0000000-0000-4000-8000-0000000000ff"}, statusInfo, "managed identity (user-assigned b0000000-0000-4000-8000-0000000000ff)"},
		{"secret", config.Config{Auth: config.Auth{Method: config.MethodSecret}}, statusInfo, "client secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := checkCredential(&tt.cfg)
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Detail, tt.status, tt.detail)
			}
			if strings.Contains(r.Detail, "eyJ") {
				t.Errorf("detail shows the token: %q", r.Detail)
			}
		})
	}
}
