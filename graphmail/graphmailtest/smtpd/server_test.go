package smtpd

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const mailbox = "reports@contoso.com"

func TestRejections(t *testing.T) {
	setup(t)
	good := sign(t, tokenClaims(), nil)
	withClaims := func(edit func(jwt.MapClaims)) string {
		c := tokenClaims()
		edit(c)
		return sign(t, c, nil)
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	graphToken := withClaims(func(c jwt.MapClaims) { c["aud"] = "https://graph.microsoft.com" })
	noRole := withClaims(func(c jwt.MapClaims) { c["roles"] = []string{"Mail.Send"} })
	expired := withClaims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() })
	forged := sign(t, tokenClaims(), otherKey)

	type step struct{ send, want string }
	auth := func(user, token string) []step {
		return []step{{"AUTH XOAUTH2", "334 "}, {authLine(user, token), ""}}
	}
	authOK := auth(mailbox, good)
	authOK[1].want = "235 "
	seq := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	with := func(s []step, want string) []step {
		s = append([]step(nil), s...)
		s[len(s)-1].want = want
		return s
	}

	tests := []struct {
		name  string
		opts  Options
		plain bool // skip STARTTLS
		setup func(*Server)
		steps []step
	}{
		{name: "auth before starttls", plain: true, steps: []step{{"EHLO c", "250 "}, {"AUTH XOAUTH2", "530 5.7.0 Must issue a STARTTLS command first"}}},
		{name: "no tls config", opts: Options{TLSConfig: nil}, plain: true, steps: []step{{"EHLO c", "250 "}, {"STARTTLS", "502 "}, {"AUTH XOAUTH2 " + authLine(mailbox, good), "530 5.7.0"}}},
		{name: "unknown mechanism", steps: []step{{"AUTH PLAIN", "504 5.7.4"}}},
		{name: "malformed sasl", steps: []step{{"AUTH XOAUTH2", "334 "}, {base64.StdEncoding.EncodeToString([]byte("user=" + mailbox + "\x01auth=" + good + "\x01\x01")), "535 5.7.3 Authentication unsuccessful"}}},
		{name: "empty response", steps: []step{{"AUTH XOAUTH2", "334 "}, {"", "535 5.7.3"}}},
		{name: "missing terminator", steps: []step{{"AUTH XOAUTH2 " + base64.StdEncoding.EncodeToString([]byte("user="+mailbox+"\x01auth=Bearer "+good)), "535 5.7.3"}}},
		{name: "forged token", steps: with(auth(mailbox, forged), "535 5.7.3")},
		{name: "expired token", steps: with(auth(mailbox, expired), "535 5.7.3")},
		{name: "graph audience", steps: with(auth(mailbox, graphToken), "535 5.7.3")},
		{name: "no SMTP.SendAsApp role", steps: with(auth(mailbox, noRole), "535 5.7.3")},
		{name: "mailbox not allowed", steps: with(auth("ceo@contoso.com", good), "535 5.7.3")},
		{name: "not a jwt", steps: with(auth(mailbox, "opaque"), "535 5.7.3")},
		{name: "auth disabled", setup: func(s *Server) { s.DisableAuth(true) }, steps: with(auth(mailbox, good),
			"535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.")},
		{name: "mail before auth", steps: []step{{"MAIL FROM:<" + mailbox + ">", "530 5.7.57"}}},
		{name: "send as another sender", steps: seq(authOK, []step{{"MAIL FROM:<ceo@contoso.com>", "550 5.7.60 SMTP; Client does not have permissions to send as this sender"}})},
		// go-smtp answers these itself, with 502 5.5.1 where Exchange says 503 5.5.2.
		{name: "rcpt before mail", steps: seq(authOK, []step{{"RCPT TO:<a@b.example>", "502 5.5.1"}})},
		{name: "data before rcpt", steps: seq(authOK, []step{{"MAIL FROM:<" + mailbox + ">", "250 "}, {"DATA", "502 5.5.1"}})},
		{name: "injected auth failure", setup: func(s *Server) { s.FailNext(454, [3]int{4, 7, 0}, "Temporary authentication failure", "auth") },
			steps: seq(with(auth(mailbox, good), "454 4.7.0 Temporary authentication failure"), authOK)},
		{name: "injected mail failure", setup: func(s *Server) { s.FailNext(452, [3]int{4, 3, 1}, "Insufficient system storage", "mail") },
			steps: seq(authOK, []step{{"MAIL FROM:<" + mailbox + ">", "452 4.3.1"}, {"MAIL FROM:<" + mailbox + ">", "250 "}})},
		{name: "injected rcpt failure", setup: func(s *Server) { s.FailNext(550, [3]int{5, 1, 10}, "RESOLVER.ADR.RecipientNotFound", "rcpt") },
			steps: seq(authOK, []step{{"MAIL FROM:<" + mailbox + ">", "250 "}, {"RCPT TO:<x@y.example>", "550 5.1.10 RESOLVER.ADR.RecipientNotFound"}})},
		{name: "injected data failure", setup: func(s *Server) { s.FailNext(554, [3]int{5, 6, 0}, "Message rejected", "data") },
			steps: seq(authOK, []step{{"MAIL FROM:<" + mailbox + ">", "250 "}, {"RCPT TO:<x@y.example>", "250 "}, {"DATA", "354 "}, {"Subject: x\r\n\r\nhi\r\n.", "554 5.6.0 Message rejected"}})},
		{name: "auth line with initial response", steps: []step{{"AUTH XOAUTH2 " + authLine(mailbox, good), "235 "}}},
		{name: "case-insensitive mailbox", steps: seq(with(auth("Reports@Contoso.com", good), "235 "), []step{{"MAIL FROM:<reports@contoso.COM>", "250 "}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if opts.TLSConfig == nil && tt.name != "no tls config" {
				opts.TLSConfig = ca.server
			}
			opts.Mailboxes = []string{mailbox}
			s := newServer(t, opts)
			if tt.setup != nil {
				tt.setup(s)
			}
			c := dialRaw(t, s)
			if !tt.plain {
				c.startTLS()
			}
			for _, st := range tt.steps {
				got := c.cmd(st.send)
				if !strings.HasPrefix(got, st.want) {
					t.Fatalf("%.40q → %q, want prefix %q", st.send, got, st.want)
				}
			}
			if n := len(s.Messages()); n != 0 {
				t.Errorf("stored %d messages, want 0", n)
			}
		})
	}
}

func TestEHLOAdvertisesAuthOnlyAfterTLS(t *testing.T) {
	s := newServer(t, Options{TLSConfig: ca.server})
	c := dialRaw(t, s)
	got := c.cmd("EHLO c")
	if !strings.Contains(got, "\nSTARTTLS") || strings.Contains(got, "AUTH") {
		t.Errorf("EHLO before TLS = %q, want STARTTLS and no AUTH", got)
	}
	c.startTLS()
	got = c.cmd("EHLO c")
	if !strings.Contains(got, "\nAUTH XOAUTH2") || strings.Contains(got, "STARTTLS") {
		t.Errorf("EHLO after TLS = %q, want AUTH XOAUTH2 and no STARTTLS", got)
	}
}

func TestDeliver(t *testing.T) {
	dir := t.TempDir()
	s := newServer(t, Options{TLSConfig: ca.server, Mailboxes: []string{mailbox}, Dir: dir})
	// A long token must fit on the AUTH line (MaxLineLength raised).
	claims := tokenClaims()
	claims["pad"] = strings.Repeat("x", 6000)
	token := sign(t, claims, nil)

	c := dialRaw(t, s)
	c.startTLS()
	steps := []struct{ send, want string }{
		{"AUTH XOAUTH2 " + authLine(mailbox, token), "235 "},
		{"MAIL FROM:<" + mailbox + ">", "250 "},
		{"RCPT TO:<a@fabrikam.example>", "250 "},
		{"RCPT TO:<bcc@fabrikam.example>", "250 "},
		{"DATA", "354 "},
		{"Message-ID: <m1@contoso.com>\r\nSubject: hi\r\n\r\n..dot\r\n.", "250 2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]"},
		{"RSET", "250 "},
		{"EHLO again", "250 "},
		{"MAIL FROM:<" + mailbox + ">", "250 "}, // still authenticated
	}
	for _, st := range steps {
		if got := c.cmd(st.send); !strings.HasPrefix(got, st.want) {
			t.Fatalf("%.40q → %q, want prefix %q", st.send, got, st.want)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 1 {
		t.Fatalf("got %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != mailbox || m.User != mailbox || strings.Join(m.To, ",") != "a@fabrikam.example,bcc@fabrikam.example" {
		t.Errorf("envelope = %q %q as %q", m.From, m.To, m.User)
	}
	if want := "Message-ID: <m1@contoso.com>\r\nSubject: hi\r\n\r\n.dot\r\n"; string(m.Data) != want {
		t.Errorf("data = %q, want %q", m.Data, want)
	}
	fi, err := os.Stat(m.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", fi.Mode().Perm())
	}
	if got, _ := os.ReadFile(m.Path); string(got) != string(m.Data) {
		t.Errorf("file = %q", got)
	}
	if s.AuthCount() != 1 {
		t.Errorf("AuthCount = %d, want 1", s.AuthCount())
	}
}

func TestThreadLimit(t *testing.T) {
	s := newServer(t, Options{TLSConfig: ca.server, MaxConnsPerMailbox: 3})
	good := sign(t, tokenClaims(), nil)
	var conns []*rawClient
	for range 4 {
		c := dialRaw(t, s)
		c.startTLS()
		if got := c.cmd("AUTH XOAUTH2 " + authLine(mailbox, good)); !strings.HasPrefix(got, "235 ") {
			t.Fatalf("AUTH = %q", got)
		}
		conns = append(conns, c)
	}
	if got := conns[3].cmd("MAIL FROM:<" + mailbox + ">"); !strings.HasPrefix(got, "432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded") {
		t.Errorf("4th connection MAIL = %q, want 432 4.3.2", got)
	}
	if got := s.MaxConcurrent(); got != 4 {
		t.Errorf("MaxConcurrent = %d, want 4", got)
	}
	// Closing one brings the count back under the limit (the server
	// notices a moment later; the deadline only bounds a hang).
	conns[3].cmd("QUIT")
	conns[0].cmd("QUIT")
	deadline := time.Now().Add(time.Minute)
	for {
		got := conns[1].cmd("MAIL FROM:<" + mailbox + ">")
		if strings.HasPrefix(got, "250 ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("MAIL after QUIT = %q", got)
		}
		conns[1].cmd("RSET")
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.AuthCount(); got != 4 {
		t.Errorf("AuthCount = %d, want 4", got)
	}
}

func TestNewRequiresParseToken(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New without ParseToken succeeded")
	}
}

func TestFailNextUnknownStagePanics(t *testing.T) {
	s := newServer(t, Options{TLSConfig: ca.server})
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	s.FailNext(500, [3]int{5, 0, 0}, "x", "ehlo")
}

func TestParseXOAUTH2(t *testing.T) {
	tests := []struct {
		in, user, token string
		ok              bool
	}{
		{"user=a@b\x01auth=Bearer tok\x01\x01", "a@b", "tok", true},
		{"auth=bearer tok\x01user=a@b\x01\x01", "a@b", "tok", true},
		{"user=a@b\x01auth=Bearer tok\x01", "", "", false},
		{"user=a@b\x01auth=tok\x01\x01", "", "", false},
		{"user=a@b\x01\x01", "", "", false},
		{"auth=Bearer tok\x01\x01", "", "", false},
		{"user=a@b\x01auth=Bearer tok\x01host=x\x01\x01", "", "", false},
		{"user=a@b\x01user=c@d\x01auth=Bearer tok\x01\x01", "", "", false},
		{"user=\x01auth=Bearer tok\x01\x01", "", "", false},
		{"", "", "", false},
	}
	for _, tt := range tests {
		user, token, err := parseXOAUTH2([]byte(tt.in))
		if (err == nil) != tt.ok || user != tt.user || token != tt.token {
			t.Errorf("parseXOAUTH2(%q) = %q, %q, %v; want %q, %q, ok=%v", tt.in, user, token, err, tt.user, tt.token, tt.ok)
		}
	}
}

func FuzzParseXOAUTH2(f *testing.F) {
	f.Add([]byte("user=a@b\x01auth=Bearer tok\x01\x01"))
	f.Add([]byte("\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		user, token, err := parseXOAUTH2(b)
		if err == nil && (user == "" || token == "") {
			t.Errorf("accepted %q with empty user or token", b)
		}
	})
}
