// Package interop_test runs graphmail's SMTP AUTH XOAUTH2 fallback against an
// SMTP server we did not write: Dovecot's submission service (Debian
// bookworm, 2.3.x) validating the bearer tokens itself (passdb oauth2,
// introspection_mode = local: RS256 signature, exp/nbf/iat, iss, aud, and the
// user claim against the SASL user).
//
// The server is started by .ci/interop/start-smtp-xoauth2.sh, which writes the
// GRAPHMAIL_INTEROP_* variables read here into /tmp/graphmail-interop/env.
// Without GRAPHMAIL_INTEROP_SMTP_ADDR every test skips; with it set, any
// misbehaviour is a failure.
//
// dovecot_test.go speaks the protocol with a small hand-written client (raw
// net/textproto), so the server's replies are checked independently of
// graphmail's own SMTP code; smtpfallback_test.go then drives the real
// graphmail transport against the same server.
package interop_test

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// ---------------------------------------------------------------- environment

type interopEnv struct {
	Addr      string // host:port of Dovecot's submission listener
	Host      string
	Port      int
	CAFile    string
	Roots     *x509.CertPool
	Key       *rsa.PrivateKey
	KeyPEM    []byte
	KID       string
	Issuer    string
	Audience  string
	UserClaim string
	Mailbox   string
	SinkDir   string
	ServerLog string // optional: Dovecot's log, for diagnostics and reasons
	Version   string // optional: the Dovecot package version, for messages
}

var (
	envOnce   sync.Once
	envCached *interopEnv
	envErr    error
)

// loadEnv skips the test when the interop server is not configured and fails
// it when the configuration is present but unusable.
func loadEnv(t testing.TB) *interopEnv {
	t.Helper()
	if os.Getenv("GRAPHMAIL_INTEROP_SMTP_ADDR") == "" {
		t.Skip("GRAPHMAIL_INTEROP_SMTP_ADDR is not set: no interop SMTP server. " +
			"Run `bash .ci/interop/start-smtp-xoauth2.sh && . /tmp/graphmail-interop/env` first.")
	}
	envOnce.Do(func() { envCached, envErr = readEnv() })
	if envErr != nil {
		t.Fatalf("interop environment is set but unusable: %v", envErr)
	}
	return envCached
}

func readEnv() (*interopEnv, error) {
	get := func(name string) (string, error) {
		v := os.Getenv(name)
		if v == "" {
			return "", fmt.Errorf("%s is not set", name)
		}
		return v, nil
	}
	e := &interopEnv{}
	var err error
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"GRAPHMAIL_INTEROP_SMTP_ADDR", &e.Addr},
		{"GRAPHMAIL_INTEROP_SMTP_CA", &e.CAFile},
		{"GRAPHMAIL_INTEROP_JWT_KID", &e.KID},
		{"GRAPHMAIL_INTEROP_JWT_ISS", &e.Issuer},
		{"GRAPHMAIL_INTEROP_JWT_AUD", &e.Audience},
		{"GRAPHMAIL_INTEROP_MAILBOX", &e.Mailbox},
		{"GRAPHMAIL_INTEROP_SINK_DIR", &e.SinkDir},
	} {
		if *f.dst, err = get(f.name); err != nil {
			return nil, err
		}
	}
	e.UserClaim = os.Getenv("GRAPHMAIL_INTEROP_JWT_USER_CLAIM")
	if e.UserClaim == "" {
		e.UserClaim = "upn"
	}
	if alg := os.Getenv("GRAPHMAIL_INTEROP_JWT_ALG"); alg != "" && alg != "RS256" {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_JWT_ALG=%s: only RS256 is supported by these tests", alg)
	}
	e.ServerLog = os.Getenv("GRAPHMAIL_INTEROP_SERVER_LOG")
	e.Version = os.Getenv("GRAPHMAIL_INTEROP_SERVER_VERSION")

	host, port, err := net.SplitHostPort(e.Addr)
	if err != nil {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_SMTP_ADDR: %v", err)
	}
	e.Host = host
	if e.Port, err = strconv.Atoi(port); err != nil {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_SMTP_ADDR port: %v", err)
	}

	caPEM, err := os.ReadFile(e.CAFile)
	if err != nil {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_SMTP_CA: %v", err)
	}
	e.Roots = x509.NewCertPool()
	if !e.Roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_SMTP_CA %s: no PEM certificate", e.CAFile)
	}

	keyPath, err := get("GRAPHMAIL_INTEROP_JWT_KEY")
	if err != nil {
		return nil, err
	}
	if e.KeyPEM, err = os.ReadFile(keyPath); err != nil {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_JWT_KEY: %v", err)
	}
	if e.Key, err = jwt.ParseRSAPrivateKeyFromPEM(e.KeyPEM); err != nil {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_JWT_KEY %s: %v", keyPath, err)
	}
	if fi, err := os.Stat(e.SinkDir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("GRAPHMAIL_INTEROP_SINK_DIR %s is not a directory (%v)", e.SinkDir, err)
	}
	// One clear failure instead of one per subtest when nothing listens.
	conn, err := net.DialTimeout("tcp", e.Addr, 10*time.Second)
	if err != nil {
		return nil, fmt.Errorf("interop SMTP server %s is not reachable (is .ci/interop/start-smtp-xoauth2.sh running?): %v", e.Addr, err)
	}
	conn.Close()
	return e, nil
}

func (e *interopEnv) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: e.Roots, ServerName: e.Host, MinVersion: tls.VersionTLS12}
}

// ---------------------------------------------------------------- tokens

// tokenSpec describes one access token. The zero value (after defaults) is a
// valid token for the interop mailbox, shaped like an Exchange Online v1
// access token.
type tokenSpec struct {
	Key       any               // signing key; default env.Key
	Method    jwt.SigningMethod // default RS256
	KID       *string           // default env.KID; pointer to "" omits the header
	Issuer    string            // default env.Issuer
	Audience  string            // default env.Audience
	User      string            // value of the user claim; default env.Mailbox
	IssuedAt  time.Time         // default now-2m
	NotBefore time.Time         // default now-2m
	Expires   time.Time         // default now+1h
	Extra     jwt.MapClaims
}

func mintToken(t testing.TB, env *interopEnv, s tokenSpec) string {
	t.Helper()
	now := time.Now()
	if s.Key == nil {
		s.Key = env.Key
	}
	if s.Method == nil {
		s.Method = jwt.SigningMethodRS256
	}
	if s.Issuer == "" {
		s.Issuer = env.Issuer
	}
	if s.Audience == "" {
		s.Audience = env.Audience
	}
	if s.User == "" {
		s.User = env.Mailbox
	}
	// Dovecot 2.3 allows no clock skew for iat/nbf: keep them in the past.
	if s.IssuedAt.IsZero() {
		s.IssuedAt = now.Add(-2 * time.Minute)
	}
	if s.NotBefore.IsZero() {
		s.NotBefore = now.Add(-2 * time.Minute)
	}
	if s.Expires.IsZero() {
		s.Expires = now.Add(time.Hour)
	}
	claims := jwt.MapClaims{
		"aud":   s.Audience, // a plain string, as Entra ID issues it
		"iss":   s.Issuer,
		"iat":   s.IssuedAt.Unix(),
		"nbf":   s.NotBefore.Unix(),
		"exp":   s.Expires.Unix(),
		"sub":   "graphmail-interop-subject",
		"tid":   "00000000-0000-4000-8000-00000000beef",
		"appid": "00000000-0000-4000-8000-0000000000a1",
		"ver":   "1.0",
		"roles": []string{"SMTP.SendAsApp"},
	}
	claims[env.UserClaim] = s.User
	for k, v := range s.Extra {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	tok := jwt.NewWithClaims(s.Method, claims)
	switch {
	case s.KID == nil:
		tok.Header["kid"] = env.KID
	case *s.KID != "":
		tok.Header["kid"] = *s.KID
	}
	signed, err := tok.SignedString(s.Key)
	if err != nil {
		t.Fatalf("signing token: %v", err)
	}
	return signed
}

// xoauth2 is the SASL XOAUTH2 client response (before base64).
func xoauth2(user, token string) string {
	return "user=" + user + "\x01auth=Bearer " + token + "\x01\x01"
}

var (
	otherKeyOnce sync.Once
	otherKey     *rsa.PrivateKey
)

// untrustedKey is an RSA key Dovecot does not know.
func untrustedKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	otherKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		otherKey = k
	})
	return otherKey
}

// ---------------------------------------------------------------- raw client

// rawSMTP is a deliberately small SMTP client on net/textproto, so that
// what the server says is observed without graphmail's or go-smtp's parsing.
type rawSMTP struct {
	t    testing.TB
	conn net.Conn
	tp   *textproto.Conn
	ext  map[string]string // EHLO keywords (upper case) -> parameters
	tls  bool
}

type reply struct {
	Code int
	Msg  string // lines joined with "\n", without the code
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s", r.Code, strings.ReplaceAll(r.Msg, "\n", " | "))
}

func dialRaw(t testing.TB, env *interopEnv) *rawSMTP {
	t.Helper()
	conn, err := net.DialTimeout("tcp", env.Addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", env.Addr, err)
	}
	// Bound the whole conversation; a hanging server is a failure.
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))
	c := &rawSMTP{t: t, conn: conn, tp: textproto.NewConn(conn)}
	t.Cleanup(func() { c.close() })
	if r := c.read(); r.Code != 220 {
		t.Fatalf("greeting: want 220, got %v", r)
	}
	c.ehlo()
	return c
}

func (c *rawSMTP) close() {
	if c.conn == nil {
		return
	}
	_ = c.tp.PrintfLine("QUIT")
	_ = c.conn.SetDeadline(time.Now().Add(2 * time.Second))
	_, _, _ = c.tp.ReadResponse(0)
	_ = c.conn.Close()
	c.conn = nil
}

func (c *rawSMTP) read() reply {
	c.t.Helper()
	code, msg, err := c.tp.ReadResponse(0)
	if err != nil {
		if _, ok := err.(*textproto.Error); !ok {
			c.t.Fatalf("reading reply: %v", err)
		}
	}
	return reply{code, msg}
}

func (c *rawSMTP) cmd(format string, args ...any) reply {
	c.t.Helper()
	if err := c.tp.PrintfLine(format, args...); err != nil {
		c.t.Fatalf("writing %q: %v", strings.SplitN(format, " ", 2)[0], err)
	}
	return c.read()
}

func (c *rawSMTP) ehlo() {
	c.t.Helper()
	r := c.cmd("EHLO graphmail-interop-test.localhost")
	if r.Code != 250 {
		c.t.Fatalf("EHLO: want 250, got %v", r)
	}
	c.ext = map[string]string{}
	for i, line := range strings.Split(r.Msg, "\n") {
		if i == 0 {
			continue // the server's greeting line
		}
		kw, params, _ := strings.Cut(line, " ")
		c.ext[strings.ToUpper(kw)] = params
	}
}

func (c *rawSMTP) startTLS(env *interopEnv) {
	c.t.Helper()
	if _, ok := c.ext["STARTTLS"]; !ok {
		c.t.Fatalf("server does not offer STARTTLS; EHLO keywords: %v", c.ext)
	}
	if r := c.cmd("STARTTLS"); r.Code != 220 {
		c.t.Fatalf("STARTTLS: want 220, got %v", r)
	}
	tc := tls.Client(c.conn, env.tlsConfig())
	if err := tc.Handshake(); err != nil {
		c.t.Fatalf("TLS handshake (verifying against %s): %v", env.CAFile, err)
	}
	c.conn = tc
	c.tp = textproto.NewConn(tc)
	c.tls = true
	c.ehlo()
}

// authResult records one XOAUTH2 exchange.
type authResult struct {
	First     reply  // reply to "AUTH XOAUTH2"
	Challenge string // decoded 334 error challenge (Dovecot/Gmail style), if any
	Final     reply
}

// authXOAUTH2 runs AUTH XOAUTH2 without an initial response, sends the
// SASL string after the 334 prompt and answers a 334 error challenge with an
// empty line, as graphmail does.
func (c *rawSMTP) authXOAUTH2(user, token string) authResult {
	c.t.Helper()
	var res authResult
	res.First = c.cmd("AUTH XOAUTH2")
	if res.First.Code != 334 {
		res.Final = res.First
		return res
	}
	r := c.cmd("%s", base64.StdEncoding.EncodeToString([]byte(xoauth2(user, token))))
	if r.Code == 334 {
		dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Msg))
		if err != nil {
			c.t.Fatalf("334 challenge after the SASL string is not base64: %v", r)
		}
		res.Challenge = string(dec)
		r = c.cmd("")
	}
	res.Final = r
	return res
}

// sendRaw runs MAIL/RCPT/DATA with dot-stuffing done here.
func (c *rawSMTP) sendRaw(from string, to []string, msg []byte) reply {
	c.t.Helper()
	if r := c.cmd("MAIL FROM:<%s>", from); r.Code != 250 {
		return r
	}
	for _, rcpt := range to {
		if r := c.cmd("RCPT TO:<%s>", rcpt); r.Code != 250 && r.Code != 251 {
			return r
		}
	}
	if r := c.cmd("DATA"); r.Code != 354 {
		return r
	}
	w := c.tp.DotWriter() // dot-stuffs and terminates with CRLF.CRLF
	if _, err := w.Write(msg); err != nil {
		c.t.Fatalf("writing DATA: %v", err)
	}
	if err := w.Close(); err != nil {
		c.t.Fatalf("closing DATA: %v", err)
	}
	return c.read()
}

// ---------------------------------------------------------------- sink

type sinkMessage struct {
	ID       string
	Raw      []byte
	MailFrom string   `json:"mail_from"`
	RcptTos  []string `json:"rcpt_tos"`
}

// waitForSink polls the sink directory for the message carrying marker (a
// unique Message-ID) and returns it. The deadline only bounds a hang.
func waitForSink(t testing.TB, env *interopEnv, marker string) *sinkMessage {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		names, _ := filepath.Glob(filepath.Join(env.SinkDir, "*.eml"))
		for _, name := range names {
			raw, err := os.ReadFile(name)
			if err != nil || !bytes.Contains(raw, []byte(marker)) {
				continue
			}
			m := &sinkMessage{ID: strings.TrimSuffix(filepath.Base(name), ".eml"), Raw: raw}
			meta, err := os.ReadFile(strings.TrimSuffix(name, ".eml") + ".json")
			if err != nil {
				t.Fatalf("sink envelope for %s: %v", name, err)
			}
			if err := json.Unmarshal(meta, m); err != nil {
				t.Fatalf("sink envelope %s: %v", name, err)
			}
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("message %s did not reach the sink in %s (%d files there)", marker, env.SinkDir, len(names))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// testMessage builds a MIME message (CRLF line endings) with a unique
// Message-ID and a body that exercises dot-stuffing, long lines, trailing
// blanks and quoted-printable.
func testMessage(env *interopEnv, subject string, to []string) (msg []byte, marker string) {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	marker = fmt.Sprintf("<interop-%x@graphmail-interop.test>", rnd)
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Graphmail Interop <%s>\r\n", env.Mailbox)
	fmt.Fprintf(&b, "To: %s\r\n", strings.Join(to, ", "))
	fmt.Fprintf(&b, "Subject: %s\r\n", subject)
	fmt.Fprintf(&b, "Date: %s\r\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: %s\r\n", marker)
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	b.WriteString("\r\n")
	b.WriteString("Hello from the graphmail interop test.\r\n")
	b.WriteString(".\r\n")                            // a lone dot: must be stuffed
	b.WriteString("..two dots and a leading one\r\n") // stuffed to three
	b.WriteString(". dot space\r\n")
	b.WriteString("Gr=C3=BC=C3=9Fe, caf=C3=A9 =E2=80=94 quoted-printable UTF-8\r\n")
	b.WriteString("trailing blanks   \r\n")
	b.WriteString("\r\n")
	b.WriteString(strings.Repeat("0123456789", 7) + "=\r\n" + strings.Repeat("abcdefghij", 7) + "\r\n")
	b.WriteString("From the start of a line (mbox-style escaping must not happen)\r\n")
	b.WriteString("\r\n")
	b.WriteString(".\r\n")
	return b.Bytes(), marker
}

// splitMessage splits a CRLF message at its first empty line: the header
// block (ending in CRLF) and the body.
func splitMessage(raw []byte) (header, body []byte) {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+2], raw[i+4:]
	}
	return raw, nil
}

// ---------------------------------------------------------------- server log

// serverLog lets a test assert Dovecot's reason for a rejection.
type serverLog struct {
	path   string
	offset int64
}

func markLog(env *interopEnv) *serverLog {
	l := &serverLog{path: env.ServerLog}
	if fi, err := os.Stat(l.path); err == nil {
		l.offset = fi.Size()
	}
	return l
}

func (l *serverLog) since() string {
	if l.path == "" {
		return ""
	}
	f, err := os.Open(l.path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(l.offset, 0); err != nil {
		return ""
	}
	var b strings.Builder
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		b.WriteString(sc.Text())
		b.WriteByte('\n')
	}
	return b.String()
}

// expectReason waits (Dovecot logs asynchronously) for want in the log
// written since the mark; the deadline only bounds a hang. Skipped
// silently when no log path is known.
func (l *serverLog) expectReason(t testing.TB, want string) {
	t.Helper()
	if l.path == "" {
		return
	}
	deadline := time.Now().Add(time.Minute)
	for {
		got := l.since()
		if strings.Contains(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("Dovecot log does not give the expected reason %q; new log lines:\n%s", want, got)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (l *serverLog) dumpOnFailure(t testing.TB) {
	t.Cleanup(func() {
		if t.Failed() && l.path != "" {
			t.Logf("Dovecot log since the test started:\n%s", l.since())
		}
	})
}

// ---------------------------------------------------------------- tests

func TestDovecotRawXOAUTH2(t *testing.T) {
	env := loadEnv(t)
	t.Logf("server %s (%s)", env.Addr, env.Version)
	log := markLog(env)
	log.dumpOnFailure(t)

	t.Run("NoAuthBeforeSTARTTLS", func(t *testing.T) {
		c := dialRaw(t, env)
		if _, ok := c.ext["AUTH"]; ok {
			t.Errorf("AUTH advertised before STARTTLS: %q", c.ext["AUTH"])
		}
		r := c.cmd("AUTH XOAUTH2")
		if r.Code == 334 || r.Code == 235 || r.Code/100 != 5 {
			t.Fatalf("AUTH before STARTTLS: want a 5xx refusal, got %v", r)
		}
		t.Logf("AUTH before STARTTLS: %v", r)
	})

	t.Run("ValidTokenAndDelivery", func(t *testing.T) {
		c := dialRaw(t, env)
		c.startTLS(env)
		mechs := strings.Fields(strings.ToUpper(c.ext["AUTH"]))
		if !contains(mechs, "XOAUTH2") {
			t.Fatalf("XOAUTH2 not advertised after STARTTLS; AUTH %q", c.ext["AUTH"])
		}
		res := c.authXOAUTH2(env.Mailbox, mintToken(t, env, tokenSpec{}))
		if res.First.Code != 334 || res.First.Msg != "" {
			t.Errorf("AUTH XOAUTH2 without initial response: want an empty 334 prompt, got %v", res.First)
		}
		if res.Final.Code != 235 {
			t.Fatalf("valid token: want 235, got %v (challenge %q)", res.Final, res.Challenge)
		}
		if !strings.HasPrefix(res.Final.Msg, "2.7.0") {
			t.Errorf("valid token: want enhanced code 2.7.0, got %v", res.Final)
		}
		log.expectReason(t, "Login: user=<"+env.Mailbox+">, method=XOAUTH2")

		to := []string{"rcpt-one@graphmail-interop.test", "rcpt-two@graphmail-interop.test"}
		msg, marker := testMessage(env, "raw XOAUTH2 interop", to)
		if r := c.sendRaw(env.Mailbox, to, msg); r.Code != 250 {
			t.Fatalf("sending after AUTH: want 250, got %v", r)
		}
		got := waitForSink(t, env, marker)
		checkDelivered(t, got, env.Mailbox, to, msg)
	})

	// Each case must be refused by Dovecot's own validation: 334 with the
	// JSON error challenge, answered with an empty line, then 535.
	rejects := []struct {
		name   string
		user   string // SASL user; default the mailbox
		spec   func() tokenSpec
		reason string // Dovecot's log text for the rejection
	}{
		{"WrongSignature", "", func() tokenSpec { return tokenSpec{Key: untrustedKey(t)} }, "Bad signature"},
		{"Expired", "", func() tokenSpec {
			now := time.Now()
			return tokenSpec{IssuedAt: now.Add(-2 * time.Hour), NotBefore: now.Add(-2 * time.Hour), Expires: now.Add(-time.Minute)}
		}, "Token has expired"},
		{"NotYetValid", "", func() tokenSpec { return tokenSpec{NotBefore: time.Now().Add(10 * time.Minute)} }, "Token is not valid yet"},
		{"WrongIssuer", "", func() tokenSpec {
			return tokenSpec{Issuer: "https://sts.windows.net/ffffffff-0000-4000-8000-000000000bad/"}
		}, "is not allowed"},
		{"GraphAudience", "", func() tokenSpec { return tokenSpec{Audience: "https://graph.microsoft.com"} }, "client_id not found in aud field"},
		{"NoAudience", "", func() tokenSpec { return tokenSpec{Extra: jwt.MapClaims{"aud": nil}} }, "client_id set but aud is missing"},
		{"NoSubject", "", func() tokenSpec { return tokenSpec{Extra: jwt.MapClaims{"sub": nil}} }, "Missing 'sub' field"},
		{"OtherMailbox", "", func() tokenSpec { return tokenSpec{User: "someone-else@graphmail-interop.test"} }, "did not match"},
		{"SASLUserNotTokenUser", "someone-else@graphmail-interop.test", func() tokenSpec { return tokenSpec{} }, "did not match"},
		{"UnknownKeyID", "", func() tokenSpec { kid := "rotated-away"; return tokenSpec{KID: &kid} }, "not found"},
		{"HS256WithPublicKeyAsSecret", "", func() tokenSpec {
			pub, err := x509.MarshalPKIXPublicKey(&env.Key.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			return tokenSpec{Method: jwt.SigningMethodHS256, Key: pub}
		}, "not found"},
		{"AccountInactive", "", func() tokenSpec { return tokenSpec{Extra: jwt.MapClaims{"active": "false"}} }, "Provided token is not valid"},
	}
	for _, tc := range rejects {
		t.Run("Reject/"+tc.name, func(t *testing.T) {
			l := markLog(env)
			c := dialRaw(t, env)
			c.startTLS(env)
			user := tc.user
			if user == "" {
				user = env.Mailbox
			}
			res := c.authXOAUTH2(user, mintToken(t, env, tc.spec()))
			if res.Final.Code != 535 {
				t.Fatalf("Dovecot (%s) did not refuse the token: want 535, got %v (challenge %q)", env.Version, res.Final, res.Challenge)
			}
			checkChallenge(t, res.Challenge)
			l.expectReason(t, tc.reason)
			t.Logf("rejected: %v; challenge %s", res.Final, res.Challenge)
		})
	}

	t.Run("RetryOnSameConnection", func(t *testing.T) {
		// graphmail's forced-refresh path may retry AUTH on the connection
		// that just failed: Dovecot must accept that.
		c := dialRaw(t, env)
		c.startTLS(env)
		now := time.Now()
		stale := mintToken(t, env, tokenSpec{IssuedAt: now.Add(-2 * time.Hour), NotBefore: now.Add(-2 * time.Hour), Expires: now.Add(-time.Minute)})
		if res := c.authXOAUTH2(env.Mailbox, stale); res.Final.Code != 535 {
			t.Fatalf("stale token: want 535, got %v", res.Final)
		}
		if res := c.authXOAUTH2(env.Mailbox, mintToken(t, env, tokenSpec{})); res.Final.Code != 235 {
			t.Fatalf("fresh token after a 535 on the same connection: want 235, got %v", res.Final)
		}
	})

	t.Run("MailboxCaseInsensitive", func(t *testing.T) {
		// The SASL user and the token's claim are compared lowercased.
		c := dialRaw(t, env)
		c.startTLS(env)
		res := c.authXOAUTH2(strings.ToUpper(env.Mailbox), mintToken(t, env, tokenSpec{}))
		if res.Final.Code != 235 {
			t.Fatalf("upper-case SASL user: want 235, got %v", res.Final)
		}
	})

	t.Run("MailRequiresAuth", func(t *testing.T) {
		c := dialRaw(t, env)
		c.startTLS(env)
		if r := c.cmd("MAIL FROM:<%s>", env.Mailbox); r.Code/100 != 5 {
			t.Fatalf("MAIL without AUTH: want 5xx, got %v", r)
		}
	})
}

// checkChallenge verifies Dovecot's XOAUTH2 error challenge, the Gmail-style
// JSON document a client must answer with an empty line.
func checkChallenge(t testing.TB, challenge string) {
	t.Helper()
	if challenge == "" {
		t.Errorf("no 334 error challenge before the 535")
		return
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(challenge), &doc); err != nil {
		t.Errorf("334 error challenge is not JSON: %q", challenge)
		return
	}
	if doc["status"] != "401" {
		t.Errorf("334 error challenge: want status 401, got %q", challenge)
	}
}

// checkDelivered compares what reached the sink with the message sent (CRLF
// line endings): same envelope, the body byte for byte, and the sent header
// block unchanged at the end of the relayed one (Dovecot prepends Received:).
func checkDelivered(t testing.TB, got *sinkMessage, from string, to []string, sent []byte) {
	t.Helper()
	wantHeader, wantBody := splitMessage(sent)
	if got.MailFrom != from {
		t.Errorf("relayed MAIL FROM: got %q, want %q", got.MailFrom, from)
	}
	if strings.Join(got.RcptTos, ",") != strings.Join(to, ",") {
		t.Errorf("relayed RCPT TO: got %q, want %q", got.RcptTos, to)
	}
	header, body := splitMessage(got.Raw)
	if !bytes.Equal(body, wantBody) {
		t.Errorf("body differs after relay through Dovecot (sink id %s)\n--- got:\n%q\n--- want:\n%q", got.ID, body, wantBody)
	}
	if !bytes.HasSuffix(header, wantHeader) {
		t.Errorf("header block changed on the way (sink id %s)\n--- got:\n%s--- want it to end with:\n%s", got.ID, header, wantHeader)
	}
	if !bytes.HasPrefix(header, []byte("Received: ")) {
		t.Errorf("relayed message does not start with Dovecot's Received: header (sink id %s):\n%s", got.ID, header)
	}
	t.Logf("sink %s: %d header bytes, %d body bytes", got.ID, len(header), len(body))
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
