package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const alice = "alice@sandbox.onmicrosoft.com"

// delegatedSandbox starts a tenant whose app allows public client flows,
// with the user alice, and writes a delegated config without a sender.
// Access tokens live 2 minutes, which MSAL never serves from its cache
// (it counts them as expired 5 minutes early): every command is a new
// process that must refresh with the cached refresh token.
func delegatedSandbox(t *testing.T) (*graphmailtest.Server, string, string) {
	t.Helper()
	srv, err := graphmailtest.NewServer(graphmailtest.Options{TokenLifetime: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	srv.AddUser(alice)
	srv.EnablePublicClient(srv.App().ClientID, "http://localhost")
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache", "tokens.bin")
	cfg := fmt.Sprintf("tenant_id: %s\nclient_id: %s\nauth:\n  method: delegated\nauthority_host: %s\ngraph_endpoint: %s\ninstance_discovery: false\nca_file: %s\nretry:\n  max_attempts: 1\nsmtp:\n  host: %s\n  port: %d\ntoken_cache:\n  path: %s\n  key_file: %s\n",
		srv.TenantID(), srv.App().ClientID, srv.AuthorityHost(), srv.GraphEndpoint(), ca, srv.SMTPHost(), srv.SMTPPort(), cache, filepath.Join(dir, "config", "token-cache.key"))
	p := filepath.Join(dir, "graphmail.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv, p, cache
}

// loginDeviceCode runs "graphmail login" and completes the user's part at
// the fake tenant once the code is printed.
func loginDeviceCode(t *testing.T, srv *graphmailtest.Server, cfgFile, user string) string {
	t.Helper()
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runEnv(context.Background(), []string{"login", "--config", cfgFile, "--timeout", "5m"}, testEnv(&stdout, &stderr))
	}()
	var code string
	poll(t, func() string { return "no device code requested; stderr:\n" + stderr.String() }, func(time.Time) bool {
		codes := srv.PendingUserCodes()
		if len(codes) == 0 {
			return false
		}
		code = codes[len(codes)-1]
		return true
	})
	poll(t, func() string { return "login did not print the code " + code + ":\n" + stderr.String() },
		func(time.Time) bool { return strings.Contains(stderr.String(), code) })
	if !strings.Contains(stderr.String(), "enter the code "+code) || !strings.Contains(stderr.String(), srv.AuthorityHost()+"/devicelogin") {
		t.Fatalf("login did not print the URL and code %s:\n%s", code, stderr.String())
	}
	if err := srv.ApproveDeviceCode(code, user); err != nil {
		t.Fatal(err)
	}
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("login: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
		}
	case <-time.After(hangBound):
		t.Fatal("login did not finish")
	}
	return stdout.String()
}

// TestDelegatedFlow signs in with a device code, sends through /me and the
// SMTP fallback with refreshed delegated tokens, checks that the cache
// hides the refresh token, maps dead refresh tokens to exit 77 with the
// hint to sign in again, and logs out.
func TestDelegatedFlow(t *testing.T) {
	srv, cfgFile, cache := delegatedSandbox(t)

	code, _, stderr := sendWith(t, cfgFile)
	if code != exitNoPerm || !strings.Contains(stderr, "hint: run 'graphmail login' first") {
		t.Fatalf("before login: exit %d, want %d with a login hint:\n%s", code, exitNoPerm, stderr)
	}

	out := loginDeviceCode(t, srv, cfgFile, alice)
	if !strings.Contains(out, "signed in as "+alice) || !strings.Contains(out, "SMTP fallback ready") {
		t.Fatalf("login output:\n%s", out)
	}

	steps := []struct {
		name      string
		prepare   func()
		args      []string
		exit      int
		stderr    []string
		transport string
		mailbox   string
	}{
		{name: "graph via /me", transport: "graph", mailbox: alice},
		{name: "smtp fallback", args: []string{"--via", "smtp"}, transport: graphmailtest.TransportSMTP, mailbox: alice},
		{name: "another mailbox without delegation", args: []string{"--set", "sender=" + graphmailtest.DefaultMailbox}, exit: exitNoPerm},
		{name: "another mailbox with delegation", prepare: func() { srv.GrantDelegate(graphmailtest.DefaultMailbox, alice) },
			args: []string{"--set", "sender=" + graphmailtest.DefaultMailbox}, transport: "graph", mailbox: graphmailtest.DefaultMailbox},
		{name: "conditional access", prepare: func() {
			srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointToken, Code: "AADSTS53003", Times: 1})
		}, exit: exitNoPerm, stderr: []string{"AADSTS53003", "hint: the sign-in has expired or was revoked; run 'graphmail login' again from a device"}},
		{name: "refresh token expired", prepare: func() { srv.RevokeRefreshTokens(alice) },
			exit: exitNoPerm, stderr: []string{"AADSTS700082", "hint: the sign-in has expired or was revoked; run 'graphmail login' again"}},
		{name: "signed in again", prepare: func() { loginDeviceCode(t, srv, cfgFile, alice) }, transport: "graph", mailbox: alice},
		{name: "consent revoked", prepare: func() { srv.RevokeConsent(alice) },
			exit: exitNoPerm, stderr: []string{"AADSTS65001", "run 'graphmail login' again and consent"}},
		{name: "signed in once more", prepare: func() { loginDeviceCode(t, srv, cfgFile, alice) }, args: []string{"--via", "smtp"}, transport: graphmailtest.TransportSMTP, mailbox: alice},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.prepare != nil {
				st.prepare()
			}
			before, refreshes := len(srv.Messages()), srv.RefreshTokenRequests()
			code, stdout, stderr := sendWith(t, cfgFile, st.args...)
			if code != st.exit {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, st.exit, stdout, stderr)
			}
			for _, want := range st.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
			if jwtRE.MatchString(stderr+stdout) || strings.Contains(stderr+stdout, "0.RT") {
				t.Errorf("output shows a token:\n%s%s", stdout, stderr)
			}
			msgs := srv.Messages()
			switch {
			case st.transport == "" && len(msgs) != before:
				t.Errorf("delivered %d messages, want none", len(msgs)-before)
			case st.transport != "" && (len(msgs) != before+1 || !strings.HasPrefix(msgs[before].Transport, st.transport) || !strings.EqualFold(msgs[before].Mailbox, st.mailbox)):
				t.Errorf("delivered %+v, want one via %s from %s", msgs[before:], st.transport, st.mailbox)
			case st.transport == "graph" && msgs[before].User != alice:
				t.Errorf("Graph recorded user %q, want %s", msgs[before].User, alice)
			}
			if st.exit == 0 && srv.RefreshTokenRequests() == refreshes {
				t.Errorf("no refresh token was redeemed: the access token should have come from a silent refresh")
			}
		})
	}

	t.Run("cache hides the refresh token", func(t *testing.T) {
		data, err := os.ReadFile(cache)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range srv.IssuedRefreshTokens() {
			if strings.Contains(string(data), rt) {
				t.Fatal("the cache file holds a refresh token in plain text")
			}
		}
		for _, s := range []string{"RefreshToken", "refresh_token", alice, "eyJ"} {
			if strings.Contains(string(data), s) {
				t.Errorf("the cache file shows %q", s)
			}
		}
		key := filepath.Join(filepath.Dir(filepath.Dir(cache)), "config", "token-cache.key")
		fi, err := os.Stat(key)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file: %v, mode %v; want 0600", err, fi)
		}
	})

	t.Run("logout", func(t *testing.T) {
		var stdout, stderr syncBuffer
		if code := runEnv(context.Background(), []string{"logout", "--config", cfgFile}, testEnv(&stdout, &stderr)); code != 0 {
			t.Fatalf("logout: exit %d: %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), "signed out "+alice) {
			t.Errorf("logout output: %q", stdout.String())
		}
		code, _, stderr2 := sendWith(t, cfgFile)
		if code != exitNoPerm || !strings.Contains(stderr2, "hint: run 'graphmail login' first") {
			t.Errorf("after logout: exit %d, want %d with a login hint:\n%s", code, exitNoPerm, stderr2)
		}
	})
}

// TestDelegatedBrowserLogin signs in with the authorization code flow and
// PKCE: the "browser" follows the fake's redirect to graphmail's loopback
// listener.
func TestDelegatedBrowserLogin(t *testing.T) {
	srv, cfgFile, _ := delegatedSandbox(t)
	var stdout, stderr syncBuffer
	env := testEnv(&stdout, &stderr)
	env.openURL = func(u string) error {
		go func() {
			if err := srv.BrowserSignIn(u); err != nil {
				t.Errorf("browser: %v", err)
			}
		}()
		return nil
	}
	if code := runEnv(context.Background(), []string{"login", "--browser", "--config", cfgFile, "--timeout", "5m"}, env); code != 0 {
		t.Fatalf("login --browser: exit %d\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "signed in as "+alice) {
		t.Fatalf("login output: %q", stdout.String())
	}
	if code, stdout, stderr := sendWith(t, cfgFile); code != 0 {
		t.Fatalf("send: exit %d\n%s%s", code, stdout, stderr)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || msgs[0].User != alice {
		t.Fatalf("delivered %+v", msgs)
	}
}

// TestDoctorDelegated warns when the refresh token has not been used for
// 60 days.
func TestDoctorDelegated(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "tokens.bin")
	cfg := &config.Config{Auth: config.Auth{Method: config.MethodDelegated}, TokenCache: config.TokenCache{Path: cache}}
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		last   time.Time // zero: no state file
		status string
		detail string
	}{
		{"never signed in", time.Time{}, statusWarn, "no sign-in recorded"},
		{"fresh", now.Add(-3 * 24 * time.Hour), statusOK, "3 days ago"},
		{"59 days", now.Add(-59 * 24 * time.Hour), statusOK, "59 days ago"},
		{"stale", now.Add(-61 * 24 * time.Hour), statusWarn, "61 days ago"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(tokencache.StatePath(cache))
			if !tt.last.IsZero() {
				setup.RecordRefresh(tokencache.StatePath(cache), slog.New(slog.DiscardHandler))(alice, tt.last)
			}
			r := checkDelegated(cfg, now)
			if r.Status != tt.status || !strings.Contains(r.Detail, tt.detail) {
				t.Errorf("got %s %q, want %s containing %q", r.Status, r.Detail, tt.status, tt.detail)
			}
			if tt.name == "stale" && !strings.Contains(r.Hint, "in about 29 days") {
				t.Errorf("hint %q does not say when the token expires", r.Hint)
			}
		})
	}
}
