package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// extraSecretEnv names the variables that hold the secrets a script made
// with "sandbox secret", for the leak check (SANDBOX_SECRET2, …).
const extraSecretEnv = "SANDBOX_SECRET"

// cmdSandboxCredential handles the credential subcommands of "sandbox"
// and reports whether args named one:
//
//	sandbox secret FILE [DAYS]   register a new client secret (expiring in DAYS days, negative: already expired)
//	                             and write it to FILE (a temporary file renamed over it)
//	sandbox revoke FILE          delete the secret in FILE from the app (AADSTS7000215 from then on)
//	sandbox cert FILE DAYS       register a new certificate that expires in DAYS days (negative: expired)
//	                             and write it with its key to FILE (PEM)
//	sandbox config FILE KEY=VALUE...  write a configuration for the sandbox with these settings
//	                             (a value with commas is a list); a client_secret_file or
//	                             client_certificate replaces client_secret
func cmdSandboxCredential(ts *testscript.TestScript, srv *graphmailtest.Server, args []string) bool {
	clientID := srv.App().ClientID
	switch args[0] {
	case "secret":
		if len(args) < 2 || len(args) > 3 {
			ts.Fatalf("usage: sandbox secret FILE [DAYS]")
		}
		secret, err := graphmailtest.NewSecret()
		ts.Check(err)
		c := graphmailtest.SecretCredential{Value: secret, DisplayName: filepath.Base(args[1])}
		if len(args) == 3 {
			days, err := strconv.Atoi(args[2])
			ts.Check(err)
			c.End = time.Now().Add(time.Duration(days) * 24 * time.Hour)
		}
		srv.AddSecret(clientID, c)
		for i := 2; ; i++ {
			name := extraSecretEnv + strconv.Itoa(i)
			if ts.Getenv(name) == "" {
				ts.Setenv(name, secret)
				break
			}
		}
		replaceScriptFile(ts, args[1], secret+"\n")
	case "revoke":
		if len(args) != 2 {
			ts.Fatalf("usage: sandbox revoke FILE")
		}
		b, err := os.ReadFile(ts.MkAbs(args[1]))
		ts.Check(err)
		srv.RemoveSecret(clientID, strings.TrimSpace(string(b)))
	case "cert":
		if len(args) != 3 {
			ts.Fatalf("usage: sandbox cert FILE DAYS")
		}
		days, err := strconv.Atoi(args[2])
		ts.Check(err)
		certPEM, keyPEM, cert, err := srv.IssueCertificateUntil("graphmail script", time.Now().Add(time.Duration(days)*24*time.Hour))
		ts.Check(err)
		srv.AddCertificate(clientID, cert)
		replaceScriptFile(ts, args[1], string(certPEM)+string(keyPEM))
	case "config":
		if len(args) < 2 {
			ts.Fatalf("usage: sandbox config FILE KEY=VALUE...")
		}
		extra := map[string]any{}
		for _, kv := range args[2:] {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				ts.Fatalf("sandbox config: %q is not KEY=VALUE", kv)
			}
			if strings.Contains(v, ",") {
				extra[k] = strings.Split(v, ",")
			} else {
				extra[k] = v
			}
		}
		path := ts.MkAbs(args[1])
		ca := filepath.Join(filepath.Dir(path), filepath.Base(path)+".ca.pem")
		ts.Check(os.WriteFile(ca, srv.CACertPEM(), 0o600))
		values := sandboxSettings(srv, ca)
		if extra["client_secret_file"] != nil || extra["client_certificate"] != nil {
			delete(values, "client_secret")
		}
		for k, v := range extra {
			values[k] = v
		}
		ts.Check(os.WriteFile(path, []byte(configYAML(values)), 0o600))
	default:
		return false
	}
	return true
}

// replaceScriptFile writes content to FILE (relative to $WORK) as a
// rotation should: a temporary file renamed over the old one.
func replaceScriptFile(ts *testscript.TestScript, name, content string) {
	path := ts.MkAbs(name)
	tmp := path + ".tmp"
	ts.Check(os.WriteFile(tmp, []byte(content), 0o600))
	ts.Check(os.Rename(tmp, path))
}
