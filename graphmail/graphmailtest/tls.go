package graphmailtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"
)

// pki is the server's throwaway certificate authority and the leaf
// certificate both listeners present.
type pki struct {
	caCert  *x509.Certificate
	caPEM   []byte
	pool    *x509.CertPool
	leaf    tls.Certificate
	tlsConf *tls.Config
}

func newPKI(now time.Time) (*pki, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: "graphmailtest sandbox CA", Organization: []string{"graphmail sandbox"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: parse CA certificate: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: generate server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, leafKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: create server certificate: %w", err)
	}
	leafCert, err := x509.ParseCertificate(leafDER)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: parse server certificate: %w", err)
	}

	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	leaf := tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey, Leaf: leafCert}
	return &pki{
		caCert: caCert,
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:   pool,
		leaf:   leaf,
		tlsConf: &tls.Config{
			Certificates: []tls.Certificate{leaf},
			MinVersion:   tls.VersionTLS12,
		},
	}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n.Add(n, big.NewInt(1))
}

// CACertPEM returns the PEM encoding of the freshly generated certificate
// authority that signed the server certificate. Clients must trust it.
func (s *Server) CACertPEM() []byte {
	return append([]byte(nil), s.pki.caPEM...)
}

// CertPool returns a new pool holding only the server's CA certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.pki.caCert)
	return p
}

// HTTPClient returns an HTTP client that trusts the server's CA and nothing
// else. The same client is returned on every call; it is safe for concurrent
// use and can be handed to MSAL (confidential.WithHTTPClient) and to kiota.
func (s *Server) HTTPClient() *http.Client {
	return s.client
}

func newHTTPClient(pool *x509.CertPool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	tr.Proxy = nil // the sandbox is always local
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}
}

// TLSConfig returns a copy of the server-side TLS configuration: the
// certificate (valid for 127.0.0.1, ::1 and localhost) signed by the
// server's CA. Another listener, such as a fake SMTP server offering
// STARTTLS, can use it so that clients need to trust one CA only.
func (s *Server) TLSConfig() *tls.Config {
	return s.pki.tlsConf.Clone()
}

// IssueCertificate generates a self-signed RSA 2048 certificate and key,
// as a test would upload to an app registration under "Certificates &
// secrets". Register the returned certificate in App.Certificates (or
// with AddCertificate) and give the PEM to confidential.CertFromPEM. The
// key is an unencrypted PKCS#8 "PRIVATE KEY" block.
func (s *Server) IssueCertificate(commonName string) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	now := s.now()
	return issueSelfSigned(commonName, now, now.Add(365*24*time.Hour))
}

// IssueCertificateUntil is IssueCertificate for a certificate that expires
// at notAfter: soon, to test expiry warnings, or in the past, to test
// what Entra ID does with an expired certificate (AADSTS700027, "The key
// used is expired").
func (s *Server) IssueCertificateUntil(commonName string, notAfter time.Time) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	return issueSelfSigned(commonName, s.now(), notAfter)
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func issueSelfSigned(commonName string, now, notAfter time.Time) (certPEM, keyPEM []byte, cert *x509.Certificate, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("graphmailtest: generate RSA key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             earlier(now, notAfter).Add(-time.Hour),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), crypto.Signer(key))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("graphmailtest: create certificate: %w", err)
	}
	cert, err = x509.ParseCertificate(der)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("graphmailtest: parse certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("graphmailtest: marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, cert, nil
}
