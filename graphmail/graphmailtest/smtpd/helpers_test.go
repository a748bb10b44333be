package smtpd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testCA is a self-signed certificate for 127.0.0.1 and localhost.
type testCA struct {
	server *tls.Config
	pool   *x509.CertPool
}

var (
	caOnce sync.Once
	ca     testCA
	rsaKey *rsa.PrivateKey
)

func setup(t testing.TB) {
	t.Helper()
	caOnce.Do(func() {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber:          big.NewInt(1),
			Subject:               pkix.Name{CommonName: "smtpd test"},
			NotBefore:             time.Now().Add(-time.Hour),
			NotAfter:              time.Now().Add(24 * time.Hour),
			IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
			DNSNames:              []string{"localhost"},
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
		ca.pool = x509.NewCertPool()
		ca.pool.AddCert(cert)
		ca.server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
		rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
	})
}

// tokenClaims builds the claims of a valid app-only Outlook token.
func tokenClaims() jwt.MapClaims {
	return jwt.MapClaims{
		"aud":   "https://outlook.office365.com",
		"iss":   "https://sts.windows.net/tenant-id/",
		"appid": "app-id",
		"tid":   "tenant-id",
		"roles": []string{"SMTP.SendAsApp"},
		"exp":   time.Now().Add(time.Hour).Unix(),
	}
}

// sign signs claims with key (rsaKey if nil).
func sign(t testing.TB, claims jwt.MapClaims, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = rsaKey
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// parseToken verifies tokens signed by rsaKey, as graphmailtest.Server's
// ParseToken does for its own key.
func parseToken(raw string) (*Claims, error) {
	var mc jwt.MapClaims
	_, err := jwt.ParseWithClaims(raw, &mc, func(*jwt.Token) (any, error) { return &rsaKey.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithExpirationRequired())
	if err != nil {
		return nil, err
	}
	c := &Claims{}
	if aud, err := mc.GetAudience(); err == nil && len(aud) > 0 {
		c.Audience = aud[0]
	}
	if exp, err := mc.GetExpirationTime(); err == nil && exp != nil {
		c.Expiry = exp.Time
	}
	roles, _ := mc["roles"].([]any)
	for _, r := range roles {
		if s, ok := r.(string); ok {
			c.Roles = append(c.Roles, s)
		}
	}
	c.AppID, _ = mc["appid"].(string)
	c.TenantID, _ = mc["tid"].(string)
	return c, nil
}

func newServer(t testing.TB, opts Options) *Server {
	t.Helper()
	setup(t)
	if opts.ParseToken == nil {
		opts.ParseToken = parseToken
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient speaks SMTP line by line, to see the exact replies.
type rawClient struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
}

func dialRaw(t testing.TB, s *Server) *rawClient {
	t.Helper()
	conn, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(2 * time.Minute)) // only bounds a hang
	c := &rawClient{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.conn.Close() })
	if got := c.read(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting = %q", got)
	}
	return c
}

// read reads one reply as "code text" (lines joined by "\n").
func (c *rawClient) read() string {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		c.t.Fatalf("reading reply: %v", err)
	}
	return fmt.Sprintf("%d %s", code, msg)
}

// cmd sends line and returns the reply.
func (c *rawClient) cmd(line string) string {
	c.t.Helper()
	if err := c.tp.PrintfLine("%s", line); err != nil {
		c.t.Fatalf("sending %q: %v", line, err)
	}
	return c.read()
}

// startTLS says EHLO, STARTTLS, handshakes and says EHLO again.
func (c *rawClient) startTLS() {
	c.t.Helper()
	c.cmd("EHLO client.test")
	if got := c.cmd("STARTTLS"); !strings.HasPrefix(got, "220 ") {
		c.t.Fatalf("STARTTLS = %q", got)
	}
	tc := tls.Client(c.conn, &tls.Config{RootCAs: ca.pool, ServerName: "127.0.0.1"})
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("handshake: %v", err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
	c.cmd("EHLO client.test")
}

// authLine is the base64 XOAUTH2 response for user and token.
func authLine(user, token string) string {
	return base64.StdEncoding.EncodeToString([]byte("user=" + user + "\x01auth=Bearer " + token + "\x01\x01"))
}
