package relay

import (
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// proxyOptions is a relay behind a load balancer on loopback: clients in
// 203.0.113.0/24 and 2001:db8::/32 (and the balancer itself) may submit.
func proxyOptions(logs *logRecorder) Options {
	return Options{
		ProxyProtocol:    true,
		ProxyTrustedNets: loopbackNets(),
		AllowNets: []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
			netip.MustParsePrefix("127.0.0.0/8")},
		Logger: slog.New(logs),
	}
}

// dialProxied connects to addr and sends header, as a load balancer does.
func dialProxied(t *testing.T, addr string, header []byte) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(header); err != nil {
		t.Fatal(err)
	}
	return c
}

// smtpOver starts an SMTP session on c.
func smtpOver(t *testing.T, c net.Conn) *smtp.Client {
	t.Helper()
	cl := smtp.NewClient(c)
	if err := cl.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return cl
}

// waitClosed waits for the server to close c without a byte sent (a
// reset when the server closed with bytes of c unread).
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	b, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) || len(b) > 0 {
		t.Fatalf("read %q, %v; want the connection closed without a reply", b, err)
	}
}

func TestProxyClientAddress(t *testing.T) {
	logs := &logRecorder{}
	ts := start(t, proxyOptions(logs))
	loop := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name   string
		header []byte
		want   netip.Addr
	}{
		{"v1 TCP4", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 25\r\n"), src4.Addr()},
		{"v1 TCP6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n"), src6.Addr()},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), loop},
		{"v2 PROXY IPv4", proxyV2(1, 0x11, src4, dst4, nil, -1), src4.Addr()},
		{"v2 PROXY IPv6", proxyV2(1, 0x21, src6, dst6, []byte{0x05, 0, 2, 'i', 'd'}, -1), src6.Addr()},
		{"v2 PROXY IPv4-mapped IPv6", proxyV2(1, 0x21, netip.MustParseAddrPort("[::ffff:203.0.113.8]:1"), dst6, nil, -1), netip.MustParseAddr("203.0.113.8")},
		{"v2 LOCAL", proxyV2(0, 0x00, src4, dst4, nil, -1), loop},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := smtpOver(t, dialProxied(t, ts.addr, tt.header))
			if err := send(c, "app@example.com", []string{"rcpt@example.net"}, simple); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := ts.in.all()
			if len(got) != i+1 || got[i].env.ClientAddr != tt.want {
				t.Fatalf("Submit saw client %v, want %v", got[len(got)-1].env.ClientAddr, tt.want)
			}
		})
	}
	if l := logs.matching("relay: accepted", "client=203.0.113.7"); len(l) != 2 {
		t.Errorf("log lines with the header's client: %q", l)
	}
}

// TestProxyAllowNets is the end-to-end case: a PROXY v2 header from a
// trusted balancer decides, by its source, whether the client may relay.
func TestProxyAllowNets(t *testing.T) {
	logs := &logRecorder{}
	opts := proxyOptions(logs)
	opts.AllowNets = opts.AllowNets[:1] // 203.0.113.0/24; the balancer on loopback is not allowed
	ts := start(t, opts)

	c := smtpOver(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, src4, dst4, nil, -1)))
	if err := send(c, "app@example.com", []string{"rcpt@example.net"}, simple); err != nil {
		t.Fatalf("client 203.0.113.7 in allow_nets: %v", err)
	}
	outside := netip.MustParseAddrPort("198.51.100.9:1234")
	c = smtpOver(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, outside, dst4, nil, -1)))
	if err := c.Mail("app@example.com", nil); code(err) != 530 {
		t.Fatalf("MAIL from 198.51.100.9 behind the balancer = %v, want 530", err)
	}
	if got := ts.in.all(); len(got) != 1 || got[0].env.ClientAddr != src4.Addr() {
		t.Errorf("submissions: %+v", got)
	}
	if l := logs.matching("relay: refused", "client=198.51.100.9"); len(l) != 1 {
		t.Errorf("no refusal logged with the header's address: %q", logs.lines())
	}
}

func TestProxyImplicitTLS(t *testing.T) {
	ts := start(t, proxyOptions(&logRecorder{}))
	raw := dialProxied(t, ts.tlsAddr, []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 465\r\n"))
	c := smtpOver(t, tls.Client(raw, ts.clientTLS))
	if err := send(c, "app@example.com", []string{"rcpt@example.net"}, simple); err != nil {
		t.Fatalf("send over TLS: %v", err)
	}
	if got := ts.in.all(); len(got) != 1 || got[0].env.ClientAddr != src4.Addr() || !got[0].env.TLS {
		t.Errorf("submissions: %+v", got)
	}
}

// TestProxyPerClientLimits checks that the limits count the clients behind
// the balancer, not the balancer.
func TestProxyPerClientLimits(t *testing.T) {
	opts := proxyOptions(&logRecorder{})
	opts.MaxConnsPerClient = 1
	ts := start(t, opts)
	smtpOver(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, src4, dst4, nil, -1)))
	c := dialProxied(t, ts.addr, proxyV2(1, 0x11, src4, dst4, nil, -1))
	if b, _ := io.ReadAll(c); len(b) < 3 || string(b[:3]) != "421" {
		t.Errorf("second connection of 203.0.113.7 got %q, want 421", b)
	}
	other := netip.MustParseAddrPort("203.0.113.8:1")
	smtpOver(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, other, dst4, nil, -1)))
}

func TestProxyRefused(t *testing.T) {
	tests := []struct {
		name    string
		trusted string
		header  []byte
		log     string
	}{
		{"untrusted peer", "10.0.0.0/8", proxyV2(1, 0x11, src4, dst4, nil, -1), "peer not in proxy_trusted_nets"},
		{"no header", "127.0.0.0/8", []byte("EHLO client.test\r\n"), "bad PROXY header"},
		{"garbled v1", "127.0.0.0/8", []byte("PROXY TCP4 203.0.113.7 nowhere 40000 25\r\n"), "bad PROXY header"},
		{"oversized v1", "127.0.0.0/8", []byte("PROXY TCP4 203.0.113.7 192.0.2.1 40000 25" + string(make([]byte, 100)) + "\r\n"), "bad PROXY header"},
		{"v2 length shorter than its addresses", "127.0.0.0/8", proxyV2(1, 0x21, src6, dst6, nil, 12), "bad PROXY header"},
		{"v2 UDP", "127.0.0.0/8", proxyV2(1, 0x12, src4, dst4, nil, -1), "bad PROXY header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecorder{}
			opts := proxyOptions(logs)
			opts.ProxyTrustedNets = []netip.Prefix{netip.MustParsePrefix(tt.trusted)}
			ts := start(t, opts)
			waitClosed(t, dialProxied(t, ts.addr, tt.header))
			if l := logs.matching("relay: connection refused: "+tt.log, "peer=127.0.0.1"); len(l) != 1 {
				t.Errorf("log: %q", logs.lines())
			}
			if len(ts.in.all()) != 0 {
				t.Error("a message was submitted")
			}
		})
	}
}

// TestProxyHeaderDeadline: a header that never completes is cut by the
// deadline, including a v2 header whose length promises more than comes.
func TestProxyHeaderDeadline(t *testing.T) {
	for name, partial := range map[string][]byte{
		"v1 without its end":         []byte("PROXY TCP4 203.0.113.7 "),
		"v2 length beyond the bytes": proxyV2(1, 0x11, src4, dst4, nil, 100),
		"nothing":                    nil,
	} {
		t.Run(name, func(t *testing.T) {
			logs := &logRecorder{}
			opts := proxyOptions(logs)
			opts.proxyTimeout = 100 * time.Millisecond
			ts := start(t, opts)
			waitClosed(t, dialProxied(t, ts.addr, partial))
			if l := logs.matching("bad PROXY header", "timeout"); len(l) != 1 {
				t.Errorf("log: %q", logs.lines())
			}
		})
	}
}

// TestProxyHeaderSlowPeer: a header sent in pieces is read, and a peer
// that stalls in the middle of one holds up no other connection.
func TestProxyHeaderSlowPeer(t *testing.T) {
	ts := start(t, proxyOptions(&logRecorder{}))
	header := proxyV2(1, 0x21, src6, dst6, nil, -1)
	stalled := dialProxied(t, ts.addr, header[:20])

	slow := dialProxied(t, ts.addr, nil)
	for _, b := range header {
		if _, err := slow.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	c := smtpOver(t, slow)
	if err := send(c, "app@example.com", []string{"rcpt@example.net"}, simple); err != nil {
		t.Fatalf("send after a header in %d writes: %v", len(header), err)
	}
	if got := ts.in.all(); len(got) != 1 || got[0].env.ClientAddr != src6.Addr() {
		t.Errorf("submissions: %+v", got)
	}
	// The stalled one completes late and is served too.
	if _, err := stalled.Write(header[20:]); err != nil {
		t.Fatal(err)
	}
	smtpOver(t, stalled)
}

func TestProxyReloadTrustedNets(t *testing.T) {
	logs := &logRecorder{}
	opts := proxyOptions(logs)
	ts := start(t, opts)
	smtpOver(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, src4, dst4, nil, -1)))
	opts.Submit = ts.in.submit
	opts.ProxyTrustedNets = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	if err := ts.Reload(opts); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, dialProxied(t, ts.addr, proxyV2(1, 0x11, src4, dst4, nil, -1)))
}

func TestProxyOptionsValidated(t *testing.T) {
	submit := (&inbox{}).submit
	for name, opts := range map[string]Options{
		"no trusted nets": {Submit: submit, ProxyProtocol: true},
		"invalid prefix":  {Submit: submit, ProxyProtocol: true, ProxyTrustedNets: []netip.Prefix{{}}},
	} {
		_, err := New(opts)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != "ProxyTrustedNets" {
			t.Errorf("%s: New = %v, want a ConfigError for ProxyTrustedNets", name, err)
		}
	}
}
