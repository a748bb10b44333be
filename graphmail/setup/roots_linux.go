package setup

import (
	"crypto/x509"
	"os"
)

// bundleFiles are the system CA bundles crypto/x509 looks for on Linux,
// in its order.
var bundleFiles = [...]string{
	"/etc/ssl/certs/ca-certificates.crt",                // Debian, Ubuntu, Gentoo, Arch
	"/etc/pki/tls/certs/ca-bundle.crt",                  // Fedora, RHEL 6
	"/etc/ssl/ca-bundle.pem",                            // openSUSE
	"/etc/pki/tls/cacert.pem",                           // OpenELEC
	"/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
	"/etc/ssl/cert.pem",                                 // Alpine
}

// systemRoots returns the system's CA bundle, parsed once per process, or
// nil to let crypto/x509 find the roots itself. crypto/x509 reads the
// bundle file and then every certificate file of /etc/ssl/certs as well,
// which on Debian holds the same certificates again: parsing both costs a
// one-shot command (a cron job's send) about 15 ms of CPU, most of its
// run. The bundle alone is what curl and OpenSSL trust. SSL_CERT_FILE
// names the bundle, as for crypto/x509; with SSL_CERT_DIR set,
// crypto/x509's own rules apply (the file and every file of the
// directories).
func systemRoots() *x509.CertPool {
	if os.Getenv("SSL_CERT_DIR") != "" {
		return nil
	}
	files := bundleFiles[:]
	if f := os.Getenv("SSL_CERT_FILE"); f != "" {
		files = []string{f}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pool := x509.NewCertPool()
		if pool.AppendCertsFromPEM(data) {
			return pool
		}
	}
	return nil
}
