package smtpfallback

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	mailbox = "reports@contoso.com"
	// Base64 of "user=reports@contoso.com\x01auth=Bearer tok-1\x01\x01",
	// computed independently of the code under test.
	saslTok1 = "dXNlcj1yZXBvcnRzQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIHRvay0xAQE="
	saslTok2 = "dXNlcj1yZXBvcnRzQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIHRvay0yAQE="
	// Gmail-style error challenge: base64 of a JSON object.
	jsonChallenge = "eyJzdGF0dXMiOiI0MDAiLCJzY2hlbWVzIjoiQmVhcmVyIiwic2NvcGUiOiJodHRwczovL21haWwuZ29vZ2xlLmNvbS8ifQ=="
)

// testCert is a self-signed certificate for fake.test, localhost and
// 127.0.0.1, and a pool that trusts it.
var testCert = sync.OnceValue(func() struct {
	server *tls.Config
	pool   *x509.CertPool
} {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtpfallback test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              []string{"fake.test", "localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return struct {
		server *tls.Config
		pool   *x509.CertPool
	}{&tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool}
})

// fakeTokens hands out tokens in order and records the forceRefresh flags.
type fakeTokens struct {
	mu     sync.Mutex
	tokens []string // the last one repeats
	err    error
	forced []bool
}

func (f *fakeTokens) Token(ctx context.Context, force bool) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forced = append(f.forced, force)
	if f.err != nil {
		return "", f.err
	}
	i := min(len(f.forced), len(f.tokens)) - 1
	return f.tokens[i], nil
}

func (f *fakeTokens) calls() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.forced...)
}

// Script lines for a scripted server:
//
//	"S: text"  server sends text
//	"C: text"  client must send exactly text
//	"TLS"      server starts TLS (after its 220 to STARTTLS)
//	"TLS-FAIL" server starts TLS and expects the handshake to fail
//	"CLOSE"    server closes the connection and the script ends
//	"HANG"     server reads and discards until the client closes; the
//	           client's deadlines take effect from here (see hangConn)
//
// After the last line the server answers QUIT with 221 and flags anything
// else the client sends.
type script []string

// Common script fragments.
var (
	greetTLS = script{
		"S: 220 fake.test Microsoft ESMTP MAIL Service ready",
		"C: EHLO client.test",
		"S: 250-fake.test Hello [127.0.0.1]",
		"S: 250-PIPELINING",
		"S: 250-STARTTLS",
		"S: 250 ENHANCEDSTATUSCODES",
		"C: STARTTLS",
		"S: 220 2.0.0 SMTP server ready",
		"TLS",
		"C: EHLO client.test",
		"S: 250-fake.test Hello [127.0.0.1]",
		"S: 250-AUTH LOGIN XOAUTH2",
		"S: 250 ENHANCEDSTATUSCODES",
	}
	auth1 = script{
		"C: AUTH XOAUTH2",
		"S: 334 ",
		"C: " + saslTok1,
		"S: 235 2.7.0 Authentication successful",
	}
	auth2 = script{
		"C: AUTH XOAUTH2",
		"S: 334 ",
		"C: " + saslTok2,
		"S: 235 2.7.0 Authentication successful",
	}
	mail1 = script{
		"C: MAIL FROM:<reports@contoso.com>",
		"S: 250 2.1.0 Sender OK",
		"C: RCPT TO:<a@fabrikam.example>",
		"S: 250 2.1.5 Recipient OK",
		"C: DATA",
		"S: 354 Start mail input; end with <CRLF>.<CRLF>",
		"C: Subject: hi",
		"C: ",
		"C: ..body",
		"C: .",
		"S: 250 2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]",
	}
	reset = script{
		"C: RSET",
		"S: 250 2.0.0 Resetting",
		"C: EHLO client.test",
		"S: 250-fake.test Hello [127.0.0.1]",
		"S: 250-AUTH LOGIN XOAUTH2",
		"S: 250 ENHANCEDSTATUSCODES",
	}
	testEnv  = Envelope{From: mailbox, To: []string{"a@fabrikam.example"}}
	testMIME = []byte("Subject: hi\n\n.body\n") // LF only, and a line starting with a dot
)

func join(parts ...script) script {
	var out script
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// scripted is a set of fake servers, one script per dial. The connections
// are loopback TCP rather than net.Pipe: a pipe has no buffer, so a client
// that aborts a TLS handshake (bad certificate) would block writing its alert
// while the server blocks writing the rest of its flight.
type scripted struct {
	t       *testing.T
	mu      sync.Mutex
	scripts []script
	dials   int
	wg      sync.WaitGroup
	// hung is closed when a server first reaches HANG.
	hung     chan struct{}
	hungOnce sync.Once
}

func newScripted(t *testing.T, scripts ...script) *scripted {
	return &scripted{t: t, scripts: scripts, hung: make(chan struct{})}
}

// hangConn is the client's end of a scripted conversation. The deadlines
// the client sets take effect only once the server has reached HANG: a
// test of a timeout then times out exactly where its script hangs, however
// slowly a loaded machine ran the greeting, the TLS handshake and the
// commands before it (which a short timeout would otherwise cut short).
type hangConn struct {
	net.Conn
	hung   chan struct{} // closed by the server at HANG
	closed chan struct{}
	once   sync.Once

	mu          sync.Mutex
	read, write time.Time // the deadlines the client asked for
}

func newHangConn(c net.Conn) *hangConn {
	h := &hangConn{Conn: c, hung: make(chan struct{}), closed: make(chan struct{})}
	go func() {
		select {
		case <-h.hung:
			h.apply()
		case <-h.closed:
		}
	}()
	return h
}

func (h *hangConn) SetDeadline(t time.Time) error {
	h.mu.Lock()
	h.read, h.write = t, t
	h.mu.Unlock()
	return h.apply()
}

func (h *hangConn) SetReadDeadline(t time.Time) error {
	h.mu.Lock()
	h.read = t
	h.mu.Unlock()
	return h.apply()
}

func (h *hangConn) SetWriteDeadline(t time.Time) error {
	h.mu.Lock()
	h.write = t
	h.mu.Unlock()
	return h.apply()
}

// apply passes the deadlines on once the server hangs.
func (h *hangConn) apply() error {
	select {
	case <-h.hung:
	default:
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.Conn.SetReadDeadline(h.read); err != nil {
		return err
	}
	return h.Conn.SetWriteDeadline(h.write)
}

func (h *hangConn) Close() error {
	h.once.Do(func() { close(h.closed) })
	return h.Conn.Close()
}

func (s *scripted) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dials >= len(s.scripts) {
		s.t.Errorf("unexpected dial #%d", s.dials+1)
		return nil, errors.New("no more scripts")
	}
	sc := s.scripts[s.dials]
	s.dials++
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	var d net.Dialer
	client, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		return nil, err
	}
	server, err := ln.Accept()
	if err != nil {
		client.Close()
		return nil, err
	}
	hc := newHangConn(client)
	s.wg.Go(func() { s.serve(server, sc, hc.hung) })
	return hc, nil
}

// wait waits for all conversations to end.
func (s *scripted) wait() { s.wg.Wait() }

func (s *scripted) serve(conn net.Conn, sc script, hung chan struct{}) {
	t := s.t
	defer conn.Close()
	tp := textproto.NewConn(conn)
	for i, line := range sc {
		verb, text, _ := strings.Cut(line, ": ")
		switch verb {
		case "S":
			if err := tp.PrintfLine("%s", text); err != nil {
				t.Errorf("script line %d %q: write: %v", i, line, err)
				return
			}
		case "C":
			got, err := tp.ReadLine()
			if err != nil {
				t.Errorf("script line %d %q: read: %v", i, line, err)
				return
			}
			if got != text {
				t.Errorf("script line %d: client sent %q, want %q", i, got, text)
				return
			}
		case "TLS", "TLS-FAIL":
			tc := tls.Server(conn, testCert().server)
			err := tc.Handshake()
			if verb == "TLS-FAIL" {
				if err == nil {
					t.Errorf("script line %d: handshake succeeded, want failure", i)
				}
				return
			}
			if err != nil {
				t.Errorf("script line %d: handshake: %v", i, err)
				return
			}
			conn = tc
			tp = textproto.NewConn(tc)
		case "CLOSE":
			return
		case "HANG":
			close(hung)
			s.hungOnce.Do(func() { close(s.hung) })
			for {
				if _, err := tp.ReadLine(); err != nil {
					return
				}
			}
		default:
			panic("bad script line " + line)
		}
	}
	for {
		got, err := tp.ReadLine()
		if err != nil {
			return
		}
		if got != "QUIT" {
			t.Errorf("after the script, client sent %q", got)
			return
		}
		tp.PrintfLine("221 2.0.0 Service closing transmission channel")
		return
	}
}

// scriptedClient returns a Client that dials the scripts in turn.
func scriptedClient(t *testing.T, tokens TokenSource, edit func(*Config), scripts ...script) (*Client, *scripted) {
	t.Helper()
	srv := newScripted(t, scripts...)
	cfg := Config{
		Host:           "fake.test",
		Username:       mailbox,
		Tokens:         tokens,
		TLSConfig:      &tls.Config{RootCAs: testCert().pool},
		Dial:           srv.dial,
		LocalName:      "client.test",
		CommandTimeout: 5 * time.Second,
		DataTimeout:    5 * time.Second,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, srv
}

// errString prints an error with its type chain for failure messages.
func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%T: %v", err, err)
}
