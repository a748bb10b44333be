package daemon_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/relay"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// loadConfig builds a configuration pointing at the fake tenant srv, with
// nothing read from the environment or a file.
func loadConfig(t *testing.T, srv *graphmailtest.Server, extra map[string]any) *config.Config {
	t.Helper()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	app := srv.App()
	o := map[string]any{
		"tenant_id": srv.TenantID(), "client_id": app.ClientID, "client_secret": app.Secret,
		"authority_host": srv.AuthorityHost(), "graph_endpoint": srv.GraphEndpoint(), "instance_discovery": false,
		"ca_file": ca, "sender": srv.Mailboxes()[0], "smtp.host": srv.SMTPHost(), "smtp.port": srv.SMTPPort(),
		"token_cache.path": "none", "spool.dir": filepath.Join(dir, "spool"), "serve.listen": "127.0.0.1:0",
		"serve.metrics_listen": "127.0.0.1:0", "serve.allow_nets": []string{"127.0.0.1/32"}, "limits.messages_per_minute": 0,
	}
	for k, v := range extra {
		o[k] = v
	}
	cfg, err := config.Load(config.Options{
		Overrides:          o,
		LookupEnv:          func(string) (string, bool) { return "", false },
		SearchPaths:        []string{},
		RequireCredentials: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestDaemonRelaysAndDelivers runs the daemon without the command line: a
// message relayed over SMTP is spooled, delivered through Graph to the
// envelope recipient, counted in /metrics, and the daemon stops cleanly.
func TestDaemonRelaysAndDelivers(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := loadConfig(t, srv, nil)
	st, err := setup.New(cfg, slog.New(slog.DiscardHandler), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	events := make(chan spool.Event, 4)
	d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test", OnEvent: func(e spool.Event) { events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()

	from := cfg.Sender
	msg := "From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: daemon\r\n\r\nbody\r\n"
	if err := smtp.SendMail(d.Addr().String(), nil, from, []string{"ops@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	e := <-events
	if e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := srv.Messages()
	if len(got) != 1 || !strings.Contains(strings.Join(got[0].Recipients, ","), "ops@example.com") {
		t.Fatalf("delivered %+v, want one message to ops@example.com", got)
	}
	resp, err := http.Get("http://" + d.MetricsAddr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"graphmail_messages_received_total 1", `graphmail_messages_delivered_total{path="graph"} 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestSubmitReply: a failed submission is answered by the class of the
// failure; an SMTP reply passes through.
func TestSubmitReply(t *testing.T) {
	own := &gosmtp.SMTPError{Code: 552, EnhancedCode: gosmtp.EnhancedCode{5, 3, 4}, Message: "too big"}
	tests := []struct {
		name string
		err  error
		code int
	}{
		{"disk full", errors.New("spool: enqueue: no space left on device"), 451},
		{"temporary", &graphmail.GraphError{StatusCode: 503}, 451},
		{"bad message", &graphmail.MessageError{Field: "From", Problem: "missing"}, 554},
		{"configuration", &config.Error{Key: "spool.dir", Problem: "x"}, 451},
		{"own reply", own, 552},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := daemon.SubmitReply(tt.err); got.Code != tt.code {
				t.Errorf("SubmitReply(%v) = %d, want %d", tt.err, got.Code, tt.code)
			}
		})
	}
	if daemon.SubmitReply(errors.New("x")) != relay.ErrNotQueued {
		t.Error("an unknown failure must ask the client to retry")
	}
}

// TestProbesNeverDriveTokenTraffic: /readyz and /metrics answer from the
// daemon's own token check; a flood of probes costs no token request.
func TestProbesNeverDriveTokenTraffic(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cfg := loadConfig(t, srv, nil)
	st, err := setup.New(cfg, slog.New(slog.DiscardHandler), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	get := func(path string) string {
		resp, err := http.Get("http://" + d.MetricsAddr().String() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := get("/readyz"); got != "ready\n" {
		t.Fatalf("/readyz = %q, want ready", got)
	}
	before := srv.TotalTokenRequests()
	for range 50 {
		get("/readyz")
		if m := get("/metrics"); !strings.Contains(m, "graphmail_token_expiry_seconds ") {
			t.Fatalf("/metrics lacks the token expiry:\n%s", m)
		}
	}
	if after := srv.TotalTokenRequests(); after != before {
		t.Errorf("50 probes cost %d token request(s), want 0", after-before)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestServeLimitsReachTheRelay: serve.max_connections and
// serve.command_timeout are passed to the relay.
func TestServeLimitsReachTheRelay(t *testing.T) {
	serve := func(t *testing.T, extra map[string]any) string {
		srv, err := graphmailtest.NewServer(graphmailtest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Close)
		st, err := setup.New(loadConfig(t, srv, extra), slog.New(slog.DiscardHandler), setup.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test"})
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx, nil) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		return d.Addr().String()
	}
	greet := func(t *testing.T, addr string) (net.Conn, *bufio.Reader, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		r := bufio.NewReader(c)
		line, _ := r.ReadString('\n')
		return c, r, line
	}

	t.Run("max_connections", func(t *testing.T) {
		addr := serve(t, map[string]any{"serve.max_connections": 1})
		if _, _, line := greet(t, addr); !strings.HasPrefix(line, "220 ") {
			t.Fatalf("first connection: %q", line)
		}
		if _, _, line := greet(t, addr); !strings.HasPrefix(line, "421 4.7.0 relay.test Too many connections") {
			t.Errorf("second connection got %q, want 421 4.7.0 Too many connections", line)
		}
	})
	t.Run("command_timeout", func(t *testing.T) {
		addr := serve(t, map[string]any{"serve.command_timeout": "1s"})
		_, r, _ := greet(t, addr)
		// Only that the silent connection is closed is checked.
		if rest, _ := io.ReadAll(r); !strings.HasPrefix(string(rest), "421 4.4.2") {
			t.Errorf("idle connection got %q, want 421 4.4.2 and close", rest)
		}
	})
}
