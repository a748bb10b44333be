package setup

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestSystemRoots(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "graphmail test root"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.pem")
	if err := os.WriteFile(bundle, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)

	t.Setenv("SSL_CERT_DIR", "")
	t.Setenv("SSL_CERT_FILE", bundle)
	pool := systemRoots()
	if pool == nil {
		t.Fatal("SSL_CERT_FILE: no pool")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("the bundle's root is not trusted: %v", err)
	}

	t.Setenv("SSL_CERT_DIR", t.TempDir())
	if systemRoots() != nil {
		t.Error("with SSL_CERT_DIR set, crypto/x509's own rules must apply (nil)")
	}

	t.Setenv("SSL_CERT_DIR", "")
	t.Setenv("SSL_CERT_FILE", filepath.Join(t.TempDir(), "missing.pem"))
	if systemRoots() != nil {
		t.Error("a missing SSL_CERT_FILE must leave the roots to crypto/x509")
	}
}
