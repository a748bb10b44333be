package daemon_test

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"testing"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// proxyV2Header is a PROXY protocol v2 header for a TCP/IPv4 client src.
func proxyV2Header(src string) []byte {
	s := netip.MustParseAddr(src).As4()
	h := []byte("\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c")
	h = append(h, s[:]...)
	h = append(h, 127, 0, 0, 1)
	h = binary.BigEndian.AppendUint16(h, 40000)
	return binary.BigEndian.AppendUint16(h, 25)
}

// dialBehindProxy connects to addr as a load balancer on loopback would
// for the client src, and starts an SMTP session.
func dialBehindProxy(t *testing.T, addr, src string) *gosmtp.Client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(proxyV2Header(src)); err != nil {
		t.Fatal(err)
	}
	cl := gosmtp.NewClient(c)
	if err := cl.Hello("client.test"); err != nil {
		t.Fatalf("session behind the proxy for %s: %v", src, err)
	}
	return cl
}

// TestServeBehindProxy: with serve.proxy_protocol, a message relayed with a
// PROXY v2 header from a trusted balancer is judged, spooled and logged by
// the header's client address; a reload applies new trusted networks.
func TestServeBehindProxy(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	settings := map[string]any{
		"serve.proxy_protocol": true, "serve.proxy_trusted_nets": []string{"127.0.0.0/8"},
		"serve.allow_nets": []string{"203.0.113.0/24"},
	}
	cfg := loadConfig(t, srv, settings)
	var logs lockedBuffer
	st, err := setup.New(cfg, slog.New(slog.NewTextHandler(&logs, nil)), setup.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	events := make(chan spool.Event, 4)
	reloaded := map[string]any{"serve.proxy_trusted_nets": []string{"10.0.0.0/8"}}
	for k, v := range settings {
		if _, ok := reloaded[k]; !ok {
			reloaded[k] = v
		}
	}
	d, err := daemon.New(daemon.Options{Stack: st, Hostname: "relay.test", OnEvent: func(e spool.Event) { events <- e },
		Reload: func() (*config.Config, error) { return loadConfig(t, srv, reloaded), nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, reload) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr := d.Addr().String()
	from := cfg.Sender
	msg := "From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: behind a balancer\r\n\r\nbody\r\n"

	c := dialBehindProxy(t, addr, "203.0.113.7")
	if err := c.SendMail(from, []string{"ops@example.com"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("client 203.0.113.7 in serve.allow_nets: %v", err)
	}
	if e := <-events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	if got := srv.Messages(); len(got) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(got))
	}
	if !strings.Contains(logs.String(), "client=203.0.113.7") {
		t.Errorf("the log does not name the header's client:\n%s", logs.String())
	}

	c = dialBehindProxy(t, addr, "198.51.100.9")
	err = c.Mail(from, nil)
	var se *gosmtp.SMTPError
	if !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("MAIL from 198.51.100.9 behind the balancer = %v, want 530", err)
	}
	if !strings.Contains(logs.String(), "client=198.51.100.9") {
		t.Errorf("the refusal does not name the header's client:\n%s", logs.String())
	}

	reload <- struct{}{}
	waitFor(t, "the reload", func() bool { return strings.Contains(logs.String(), "configuration reloaded") })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(proxyV2Header("203.0.113.7"))
	if b, _ := readAll(nc); len(b) != 0 {
		t.Errorf("a balancer outside the reloaded serve.proxy_trusted_nets got %q, want the connection closed", b)
	}
}

// readAll reads c to its end (a reset counts as the end).
func readAll(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 512)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out, err
		}
	}
}
