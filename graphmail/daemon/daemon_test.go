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
	"slices"
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
// nothing read from the environment or a file; extra adds settings, and a
// nil value in it removes one.
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
		if v == nil { // nil removes a setting (client_secret, for a file)
			delete(o, k)
		}
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

// running is a daemon started by startDaemon against a fake tenant.
type running struct {
	srv    *graphmailtest.Server
	cfg    *config.Config
	d      *daemon.Daemon
	events chan spool.Event
}

// startDaemon runs a daemon against a new fake tenant with the settings
// of loadConfig plus extra, until the test ends (then Run must return nil).
func startDaemon(t *testing.T, extra map[string]any) *running {
	t.Helper()
	return startDaemonWith(t, graphmailtest.Options{}, extra)
}

// startDaemonWith is startDaemon on a fake tenant made with opts.
func startDaemonWith(t *testing.T, opts graphmailtest.Options, extra map[string]any) *running {
	t.Helper()
	srv, err := graphmailtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	cfg := loadConfig(t, srv, extra)
	st, err := setup.New(cfg, slog.New(slog.DiscardHandler), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	r := &running{srv: srv, cfg: cfg, events: make(chan spool.Event, 16)}
	r.d, err = daemon.New(daemon.Options{Stack: st, Hostname: "relay.test", OnEvent: func(e spool.Event) { r.events <- e }})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx, nil) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

// get fetches a path of the metrics listener.
func (r *running) get(t *testing.T, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + r.d.MetricsAddr().String() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestDaemonRelaysAndDelivers runs the daemon without the command line: a
// message relayed over SMTP is spooled, delivered through Graph to the
// envelope recipient, counted in /metrics, and the daemon stops cleanly.
func TestDaemonRelaysAndDelivers(t *testing.T) {
	r := startDaemon(t, nil)
	from := r.cfg.Sender
	msg := "From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: daemon\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, from, []string{"ops@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	e := <-r.events
	if e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := r.srv.Messages()
	if len(got) != 1 || !strings.Contains(strings.Join(got[0].Recipients, ","), "ops@example.com") {
		t.Fatalf("delivered %+v, want one message to ops@example.com", got)
	}
	body := r.get(t, "/metrics")
	for _, want := range []string{"graphmail_messages_received_total 1", `graphmail_messages_delivered_total{path="graph"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
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
	r := startDaemon(t, nil)
	if got := r.get(t, "/readyz"); got != "ready\n" {
		t.Fatalf("/readyz = %q, want ready", got)
	}
	before := r.srv.TotalTokenRequests()
	for range 50 {
		r.get(t, "/readyz")
		if m := r.get(t, "/metrics"); !strings.Contains(m, "graphmail_token_expiry_seconds ") {
			t.Fatalf("/metrics lacks the token expiry:\n%s", m)
		}
	}
	if after := r.srv.TotalTokenRequests(); after != before {
		t.Errorf("50 probes cost %d token request(s), want 0", after-before)
	}
}

// TestDeadLetterBounces: a message given up becomes a delivery status
// notification (multipart/report with the original header) to the
// envelope sender and serve.postmaster, sent through the same paths; a
// bounce that is given up itself is never bounced; the dead-letter gauge
// reads the spool.
func TestDeadLetterBounces(t *testing.T) {
	r := startDaemon(t, map[string]any{"serve.postmaster": "pm@example.com", "smtp.fallback": "never"})
	srv, d, events := r.srv, r.d, r.events
	srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 400, Code: "ErrorInvalidRecipients", Times: 1})
	msg := "From: <printer@example.com>\r\nTo: <bad@example.com>\r\nSubject: scan 42\r\n\r\nbody\r\n"
	if err := smtp.SendMail(d.Addr().String(), nil, "printer@example.com", []string{"bad@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Outcome != spool.OutcomeDead {
		t.Fatalf("first outcome %q, want dead", e.Outcome)
	}
	if e := <-events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("bounce outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := srv.Messages()
	if len(got) != 1 {
		t.Fatalf("delivered %d, want the bounce", len(got))
	}
	rcpts := slices.Sorted(slices.Values(got[0].Recipients))
	if want := []string{"pm@example.com", "printer@example.com"}; !slices.Equal(rcpts, want) {
		t.Errorf("bounce went to %v, want %v", rcpts, want)
	}
	b := string(got[0].MIME)
	for _, want := range []string{
		"Content-Type: multipart/report; report-type=delivery-status",
		"Auto-Submitted: auto-replied",
		"Final-Recipient: rfc822; bad@example.com",
		"Action: failed",
		"Status: 5.6.0",
		"Content-Type: text/rfc822-headers",
		"Subject: scan 42",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("bounce lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "\r\nbody\r\n") {
		t.Error("bounce carries the original body; only the header belongs in it")
	}
	checkDSNWithPython(t, got[0].MIME, []string{"bad@example.com"})

	// a bounce that dies is not bounced again: the message fails, then the
	// bounce to both addresses, then each copy Graph is sent one by one
	srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 400, Code: "ErrorInvalidRecipients", Times: 4})
	if err := smtp.SendMail(d.Addr().String(), nil, "printer@example.com", []string{"bad@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if e := <-events; e.Outcome != spool.OutcomeDead {
			t.Fatalf("outcome %q, want the message and then its bounce dead", e.Outcome)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("delivered %d, want still 1 (no bounce of a bounce)", n)
	}
	m := r.get(t, "/metrics")
	for _, want := range []string{"graphmail_dead_letters 3", `graphmail_dead_letters_total{class="bad-message"} 3`, "graphmail_bounces_total 2"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestServeLimitsReachTheRelay: serve.max_connections and
// serve.command_timeout are passed to the relay.
func TestServeLimitsReachTheRelay(t *testing.T) {
	serve := func(t *testing.T, extra map[string]any) string {
		return startDaemon(t, extra).d.Addr().String()
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
