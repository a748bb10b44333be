package relay

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real SMTP clients we did not write submit through the listener. They are
// installed by .ci/clients/install.sh; a test whose client is missing, or
// lacks a capability the test needs (swaks without Net::SSLeay has no
// STARTTLS), is skipped with a message saying so. With
// GRAPHMAIL_REQUIRE_REAL_CLIENTS set (CI sets it after running the install
// script, which installs the capabilities too) either fails the test
// instead, so CI cannot pass by skipping.

// requireRealClients reports whether a missing client or capability fails
// the test instead of skipping it.
func requireRealClients() bool { return os.Getenv("GRAPHMAIL_REQUIRE_REAL_CLIENTS") != "" }

// needTool returns the path of a client program or skips the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if requireRealClients() {
			t.Fatalf("%s is not installed, but GRAPHMAIL_REQUIRE_REAL_CLIENTS is set: %v", name, err)
		}
		t.Skipf("%s is not installed (run .ci/clients/install.sh): %v", name, err)
	}
	return p
}

// capability is something a client can do, and how to tell whether the
// installed one can.
type capability struct {
	client, name string
	// missing returns why the client lacks the capability, or "".
	missing func(t *testing.T, path string) string
	// fix says what provides it.
	fix string
}

// needCapability skips the test when the client at path lacks c (or fails
// it under GRAPHMAIL_REQUIRE_REAL_CLIENTS).
func needCapability(t *testing.T, path string, c capability) {
	t.Helper()
	why := c.missing(t, path)
	if why == "" {
		return
	}
	if requireRealClients() {
		t.Fatalf("%s cannot do %s (%s), but GRAPHMAIL_REQUIRE_REAL_CLIENTS is set: %s", c.client, c.name, why, c.fix)
	}
	t.Skipf("%s cannot do %s (%s): %s", c.client, c.name, why, c.fix)
}

// probe runs a client once to ask what it supports; the answer is kept
// for the rest of the test binary's run.
var probe = struct {
	sync.Mutex
	out map[string]probeResult
}{out: map[string]probeResult{}}

type probeResult struct {
	out string
	err error
}

func probeTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	key := name + "\x00" + strings.Join(args, "\x00")
	probe.Lock()
	defer probe.Unlock()
	if r, ok := probe.out[key]; ok {
		return r.out, r.err
	}
	out, err := runTool(t, nil, name, args...)
	probe.out[key] = probeResult{out, err}
	return out, err
}

// swaksFeature is a feature "swaks --support" reports, as
// "=== NAME supported" or "*** NAME not available: requires MODULE".
func swaksFeature(name, fix string) capability {
	return capability{client: "swaks", name: name, fix: fix, missing: func(t *testing.T, path string) string {
		out, err := probeTool(t, path, "--support")
		if err != nil {
			return fmt.Sprintf("swaks --support: %v: %s", err, strings.TrimSpace(out))
		}
		for line := range strings.Lines(out) {
			line = strings.TrimSpace(line)
			if rest, ok := strings.CutPrefix(line, "*** "+name+" not available"); ok {
				return "swaks says: " + name + " not available" + strings.TrimSuffix(rest, ".")
			}
			if line == "=== "+name+" supported" {
				return ""
			}
		}
		return "swaks --support does not list " + name
	}}
}

var (
	swaksTLS  = swaksFeature("TLS", "install Net::SSLeay and IO::Socket::SSL (Debian: libnet-ssleay-perl libio-socket-ssl-perl; .ci/clients/install.sh does)")
	swaksAuth = swaksFeature("Basic AUTH", "install MIME::Base64 (part of perl)")

	pythonSSL = capability{client: "python3", name: "STARTTLS", fix: "use a python3 built with the ssl module (Debian: python3)",
		missing: func(t *testing.T, path string) string {
			if out, err := probeTool(t, path, "-c", "import ssl"); err != nil {
				return fmt.Sprintf("import ssl: %v: %s", err, strings.TrimSpace(out))
			}
			return ""
		}}

	curlSMTP = curlVersion("SMTP", func(protocols, _ []string) bool { return slices.Contains(protocols, "smtp") })
	curlTLS  = curlVersion("STARTTLS", func(_, features []string) bool { return slices.Contains(features, "SSL") })
)

// curlVersion is a capability read from "curl --version": its Protocols
// and Features lines.
func curlVersion(name string, has func(protocols, features []string) bool) capability {
	return capability{client: "curl", name: name, fix: "install a curl built with SMTP and TLS (Debian: curl)",
		missing: func(t *testing.T, path string) string {
			out, err := probeTool(t, path, "--version")
			if err != nil {
				return fmt.Sprintf("curl --version: %v: %s", err, strings.TrimSpace(out))
			}
			var protocols, features []string
			for line := range strings.Lines(out) {
				if rest, ok := strings.CutPrefix(line, "Protocols:"); ok {
					protocols = strings.Fields(rest)
				}
				if rest, ok := strings.CutPrefix(line, "Features:"); ok {
					features = strings.Fields(rest)
				}
			}
			if !has(protocols, features) {
				return "curl --version does not list it"
			}
			return ""
		}}
}

// runTool runs a client and returns its combined output. The timeout only
// bounds a hang: a client that starts slowly on a loaded machine still
// finishes.
func runTool(t *testing.T, stdin []byte, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Messages the clients send, CRLF already (so no client rewrites them).
var (
	asciiMessage = "From: app@example.com\r\nTo: a@example.net\r\nSubject: plain\r\nMessage-ID: <plain-1@example.com>\r\n\r\nhello from a real client\r\n.leading dot\r\n"
	utf8Message  = "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.com>\r\n" +
		"Reply-To: Kundendienst <service@example.com>\r\n" +
		"To: a@example.net\r\n" +
		"Subject: Grüße aus Köln ✓\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"Content-Transfer-Encoding: 8bit\r\n\r\n" +
		"Grüße aus Köln — 東京 ✓\r\n" +
		"Soft=\r\nbreak stays as it is =C3=BC\r\n"
)

// realClientServer starts a relay for the real clients: loopback may
// submit without AUTH, and account "app" may send as @example.com.
func realClientServer(t *testing.T, extra Options) *testServer {
	t.Helper()
	opts := extra
	opts.Accounts = map[string]Account{"app": {PasswordHash: bcryptOf(t, "s3cret pass"), AllowedFrom: []string{"@example.com"}}}
	return start(t, opts)
}

// expectOne checks the single submission byte for byte.
func expectOne(t *testing.T, ts *testServer, out string, from string, to []string, raw string, user string, tls bool) {
	t.Helper()
	subs := ts.in.all()
	if len(subs) != 1 {
		t.Fatalf("%d submissions, want 1; client output:\n%s", len(subs), out)
	}
	got := subs[0]
	if !bytes.Equal(got.raw, []byte(raw)) {
		t.Errorf("bytes at Submit differ:\ngot  %q\nwant %q", got.raw, raw)
	}
	if got.env.From != from || !slices.Equal(got.env.To, to) {
		t.Errorf("envelope = %q → %q, want %q → %q", got.env.From, got.env.To, from, to)
	}
	if got.env.User != user || got.env.TLS != tls {
		t.Errorf("user %q tls %v, want %q %v", got.env.User, got.env.TLS, user, tls)
	}
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }

func loopbackNets() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

func TestSwaks(t *testing.T) {
	swaks := needTool(t, "swaks")
	tests := []struct {
		name      string
		opts      Options
		args      []string
		raw       string
		to        []string
		user      string
		tls, fail bool
		wantOut   string
	}{
		{name: "plain from allowed network", opts: Options{AllowNets: loopbackNets()}, raw: asciiMessage, to: []string{"a@example.net"}},
		{name: "STARTTLS", opts: Options{AllowNets: loopbackNets()}, args: []string{"--tls"}, raw: asciiMessage, to: []string{"a@example.net"}, tls: true},
		{name: "AUTH PLAIN over STARTTLS", args: []string{"--tls", "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret pass"}, raw: asciiMessage, to: []string{"a@example.net"}, user: "app", tls: true},
		{name: "AUTH LOGIN on loopback", args: []string{"--auth", "LOGIN", "--auth-user", "app", "--auth-password", "s3cret pass"}, raw: asciiMessage, to: []string{"a@example.net"}, user: "app"},
		{name: "8-bit UTF-8", opts: Options{AllowNets: loopbackNets()}, args: []string{"--tls"}, raw: utf8Message, to: []string{"a@example.net"}, tls: true},
		{name: "Bcc-only recipients", args: []string{"--tls", "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret pass"}, raw: asciiMessage, to: []string{"a@example.net", "hidden1@example.org", "hidden2@example.org"}, user: "app", tls: true},
		{name: "open relay refused", opts: Options{AllowNets: loopbackNets(), clientAddr: remote("203.0.113.9")}, raw: asciiMessage, to: []string{"victim@example.org"}, fail: true, wantOut: "530 5.7.0"},
		{name: "wrong password", args: []string{"--tls", "--auth", "PLAIN", "--auth-user", "app", "--auth-password", "wrong"}, raw: asciiMessage, to: []string{"a@example.net"}, fail: true, wantOut: "535 5.7.8"},
		{name: "sender not allowed", args: []string{"--auth", "PLAIN", "--auth-user", "app", "--auth-password", "s3cret pass", "--from", "boss@example.org"}, raw: asciiMessage, to: []string{"a@example.net"}, fail: true, wantOut: "550 5.7.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if slices.Contains(tt.args, "--tls") {
				needCapability(t, swaks, swaksTLS)
			}
			if slices.Contains(tt.args, "--auth") {
				needCapability(t, swaks, swaksAuth)
			}
			ts := realClientServer(t, tt.opts)
			from := "app@example.com"
			args := []string{"--server", "127.0.0.1", "--port", port(ts.addr), "--helo", "swaks.test",
				"--to", strings.Join(tt.to, ","), "--data", "-"}
			if !slices.Contains(tt.args, "--from") {
				args = append(args, "--from", from)
			}
			args = append(args, tt.args...)
			// swaks always sends CRLF before the terminating dot, so the
			// final CRLF of the message is left for it to add.
			out, err := runTool(t, []byte(strings.TrimSuffix(tt.raw, "\r\n")), swaks, args...)
			if tt.fail {
				if err == nil || !strings.Contains(out, tt.wantOut) {
					t.Fatalf("swaks: err %v, want a failure with %q:\n%s", err, tt.wantOut, out)
				}
				if n := len(ts.in.all()); n != 0 {
					t.Fatalf("%d messages reached Submit", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("swaks: %v\n%s", err, out)
			}
			expectOne(t, ts, out, from, tt.to, tt.raw, tt.user, tt.tls)
		})
	}
}

// pythonClient is a python3 smtplib client: argv is port, tls (0/1), user,
// password, from, message file, recipients…
const pythonClient = `
import smtplib, ssl, sys
port, use_tls, user, password, sender, path = sys.argv[1:7]
rcpts = sys.argv[7:]
raw = open(path, "rb").read()
s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="python.test", timeout=300)
s.ehlo()
if use_tls == "1":
    s.starttls(context=ssl._create_unverified_context())
    s.ehlo()
if user:
    s.login(user, password)
refused = s.sendmail(sender, rcpts, raw)
s.quit()
print("refused:", refused)
`

func TestPythonSmtplib(t *testing.T) {
	python := needTool(t, "python3")
	tests := []struct {
		name, tls, user string
		raw             string
		to              []string
	}{
		{"STARTTLS AUTH, Bcc-only recipient", "1", "app", asciiMessage, []string{"a@example.net", "hidden@example.org"}},
		{"8-bit UTF-8 on loopback AUTH", "0", "app", utf8Message, []string{"a@example.net"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tls == "1" {
				needCapability(t, python, pythonSSL)
			}
			ts := realClientServer(t, Options{})
			msg := filepath.Join(t.TempDir(), "msg.eml")
			os.WriteFile(msg, []byte(tt.raw), 0o600)
			args := append([]string{"-c", pythonClient, port(ts.addr), tt.tls, tt.user, "s3cret pass", "app@example.com", msg}, tt.to...)
			out, err := runTool(t, nil, python, args...)
			if err != nil {
				t.Fatalf("python3: %v\n%s", err, out)
			}
			expectOne(t, ts, out, "app@example.com", tt.to, tt.raw, tt.user, tt.tls == "1")
		})
	}
}

func TestCurl(t *testing.T) {
	curl := needTool(t, "curl")
	needCapability(t, curl, curlSMTP)
	tests := []struct {
		name string
		args []string
		raw  string
		to   []string
		user string
		tls  bool
	}{
		{"STARTTLS AUTH, two --mail-rcpt", []string{"--ssl-reqd", "--insecure", "--user", "app:s3cret pass"}, utf8Message, []string{"a@example.net", "hidden@example.org"}, "app", true},
		{"plain on loopback AUTH", []string{"--user", "app:s3cret pass"}, asciiMessage, []string{"a@example.net"}, "app", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.tls {
				needCapability(t, curl, curlTLS)
			}
			ts := realClientServer(t, Options{})
			msg := filepath.Join(t.TempDir(), "msg.eml")
			os.WriteFile(msg, []byte(tt.raw), 0o600)
			args := []string{"--silent", "--show-error", "--url", "smtp://127.0.0.1:" + port(ts.addr), "--mail-from", "app@example.com", "--upload-file", msg}
			for _, r := range tt.to {
				args = append(args, "--mail-rcpt", r)
			}
			out, err := runTool(t, nil, curl, append(args, tt.args...)...)
			if err != nil {
				t.Fatalf("curl: %v\n%s", err, out)
			}
			expectOne(t, ts, out, "app@example.com", tt.to, tt.raw, tt.user, tt.tls)
		})
	}
}
