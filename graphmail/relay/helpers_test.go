package relay

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"
)

// testTLS returns a server config with a fresh self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testTLS(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}},
		&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// bcryptHash hashes at the minimum cost, to keep tests fast.
func bcryptOf(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// submission is what Submit received.
type submission struct {
	env Envelope
	raw []byte
}

// inbox collects submissions; fail, when set, is Submit's answer.
type inbox struct {
	mu   sync.Mutex
	got  []submission
	fail error
}

func (b *inbox) submit(ctx context.Context, env Envelope, r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fail != nil {
		return b.fail
	}
	b.got = append(b.got, submission{env, append([]byte(nil), raw...)})
	return nil
}

func (b *inbox) all() []submission {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]submission(nil), b.got...)
}

// testServer is a running relay on 127.0.0.1.
type testServer struct {
	*Server
	addr, tlsAddr string
	in            *inbox
	clientTLS     *tls.Config
}

// remote makes every client look like it comes from ip.
func remote(ip string) func(netip.Addr) netip.Addr {
	a := netip.MustParseAddr(ip)
	return func(netip.Addr) netip.Addr { return a }
}

// start runs a relay with opts (Submit filled in), plain and implicit TLS.
func start(t *testing.T, opts Options) *testServer {
	t.Helper()
	in := &inbox{}
	srvTLS, cliTLS := testTLS(t)
	if opts.TLSConfig == nil {
		opts.TLSConfig = srvTLS
	}
	opts.Submit = in.submit
	if opts.AuthFailureDelay == 0 {
		opts.AuthFailureDelay = time.Millisecond
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	go s.ServeTLS(tln)
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, addr: ln.Addr().String(), tlsAddr: tln.Addr().String(), in: in, clientTLS: cliTLS}
}

func (ts *testServer) dial(t *testing.T) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

// send runs MAIL, RCPT… and DATA, returning the first error.
func send(c *smtp.Client, from string, to []string, raw string) error {
	if err := c.Mail(from, nil); err != nil {
		return err
	}
	for _, r := range to {
		if err := c.Rcpt(r, nil); err != nil {
			return err
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(raw)); err != nil {
		return err
	}
	return w.Close()
}

// code returns the SMTP reply code of err, 0 for nil, -1 for another error.
func code(err error) int {
	if err == nil {
		return 0
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Code
	}
	return -1
}

const simple = "From: app@example.com\r\nTo: rcpt@example.net\r\nSubject: test\r\n\r\nhello\r\n"
