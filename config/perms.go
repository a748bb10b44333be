package config

import (
	"fmt"
	"os"
)

// ExposedSecret is a file holding a secret that every local user may
// read, as ssh refuses for private keys.
type ExposedSecret struct {
	// Key is the configuration key that names the file ("config" for the
	// configuration file itself, when it holds a secret).
	Key string
	// Path is the file.
	Path string
	// Mode is its permission bits.
	Mode os.FileMode
}

// String says what is exposed and how to fix it.
func (e ExposedSecret) String() string {
	return fmt.Sprintf("%s %s holds a secret and every local user can read it (mode %04o): chmod 600 %s (or 640 with a group only the service is in)", e.Key, e.Path, e.Mode.Perm(), e.Path)
}

// ExposedSecrets lists the files of c that hold a secret and that any
// local user may read (mode o+r): the configuration file when
// client_secret or client_certificate_password is written in it,
// client_secret_file, and the client certificate (which holds the private
// key). A file its group may read (0640) is not listed: that is how a
// service group is given access. Files that cannot be read are left to
// the code that reads them.
func (c *Config) ExposedSecrets() []ExposedSecret {
	var out []ExposedSecret
	seen := map[string]bool{}
	check := func(key, path string) {
		if path == "" || seen[path] {
			return
		}
		seen[path] = true
		fi, err := os.Stat(path)
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		if fi.Mode().Perm()&0o004 != 0 {
			out = append(out, ExposedSecret{Key: key, Path: path, Mode: fi.Mode()})
		}
	}
	if c.File != "" && (c.Sources["client_secret"] == SourceFile || c.Sources["client_certificate_password"] == SourceFile) {
		check("config", c.File)
	}
	for _, f := range append([]string{c.ClientSecretFile}, c.ClientSecretFiles...) {
		check("client_secret_file", f)
	}
	for _, f := range append([]string{c.ClientCertificate}, c.ClientCertificates...) {
		check("client_certificate", f)
	}
	// The NATS credentials hold an NKey seed, the client key a private key.
	check("nats.creds_file", c.NATS.CredsFile)
	check("nats.tls_key", c.NATS.TLSKey)
	return out
}
