package auth

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is a client certificate and its private key, as registered on
// the app registration's "Certificates & secrets" page.
type Certificate struct {
	// Chain is the certificate followed by any intermediates.
	Chain []*x509.Certificate
	// Key is the private key (RSA; MSAL signs assertions with PS256).
	Key crypto.PrivateKey
}

// LoadCertificate reads a client certificate with its private key from a PEM
// file (certificate and unencrypted key in one file) or a PKCS#12 file
// (.pfx/.p12, optionally protected by password).
func LoadCertificate(path, password string) (*Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: reading client certificate: %w", err)
	}
	return ParseCertificate(data, password, filepath.Ext(path))
}

// ParseCertificate parses a PEM or PKCS#12 client certificate. ext is the file
// extension (".pfx" or ".p12" force PKCS#12; anything else is sniffed).
func ParseCertificate(data []byte, password, ext string) (*Certificate, error) {
	ext = strings.ToLower(ext)
	if ext == ".pfx" || ext == ".p12" || !bytes.Contains(data, []byte("-----BEGIN")) {
		key, cert, chain, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			if errors.Is(err, pkcs12.ErrIncorrectPassword) {
				return nil, errors.New("auth: client certificate: wrong password for the PKCS#12 file (set client_certificate_password)")
			}
			return nil, fmt.Errorf("auth: client certificate: not a PEM or PKCS#12 file: %v", err)
		}
		return &Certificate{Chain: append([]*x509.Certificate{cert}, chain...), Key: key}, nil
	}
	if bytes.Contains(data, []byte("ENCRYPTED")) {
		return nil, errors.New("auth: client certificate: the PEM private key is encrypted; MSAL needs an unencrypted key in PEM (or use a .pfx with client_certificate_password)")
	}
	if !hasPEMBlock(data, "CERTIFICATE") {
		return nil, errors.New("auth: client certificate: the PEM file has no CERTIFICATE block; put the certificate and its private key in one file")
	}
	certs, key, err := confidential.CertFromPEM(data, password)
	if err != nil {
		return nil, fmt.Errorf("auth: client certificate: %v", err)
	}
	return &Certificate{Chain: certs, Key: key}, nil
}

func hasPEMBlock(data []byte, typ string) bool {
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			return false
		}
		if b.Type == typ {
			return true
		}
	}
}
