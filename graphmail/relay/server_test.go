package relay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TestNeverAnOpenRelay: a client outside AllowNets that does not
// authenticate cannot get a message in, whatever it tries.
func TestNeverAnOpenRelay(t *testing.T) {
	ts := start(t, Options{
		AllowNets:  []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")},
		Accounts:   map[string]Account{"app": {PasswordHash: bcryptOf(t, "secret"), AllowedFrom: []string{"@example.com"}}},
		clientAddr: remote("203.0.113.9"),
	})
	c := ts.dial(t)
	if ok, _ := c.Extension("AUTH"); ok {
		t.Error("AUTH offered to a non-loopback client without TLS")
	}
	if err := c.Auth(sasl.NewPlainClient("", "app", "secret")); code(err) != 538 {
		t.Errorf("AUTH without TLS from outside = %v, want 538", err)
	}
	tests := []struct{ from, to string }{
		{"app@example.com", "victim@example.org"},
		{"", "victim@example.org"},
		{"spammer@evil.example", "victim@example.org"},
		{"postmaster@localhost", "postmaster@localhost"},
	}
	for _, tt := range tests {
		err := send(c, tt.from, []string{tt.to}, simple)
		if code(err) != 530 {
			t.Errorf("MAIL FROM:<%s> RCPT TO:<%s> = %v, want 530", tt.from, tt.to, err)
		}
		c.Reset()
	}
	// Recipients and DATA without an accepted MAIL go nowhere either.
	if err := c.Rcpt("victim@example.org", nil); err == nil {
		t.Error("RCPT accepted without MAIL")
	}
	if n := len(ts.in.all()); n != 0 {
		t.Fatalf("%d messages reached Submit", n)
	}
}

func TestAllowNets(t *testing.T) {
	nets := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
	tests := []struct {
		name     string
		ip       string
		anonFrom []string
		from     string
		wantCode int
	}{
		{"in the list, any sender", "192.0.2.7", nil, "printer@example.com", 0},
		{"ipv6 in the list", "2001:db8::25", nil, "erp@example.com", 0},
		{"in the list, allowed sender", "192.0.2.7", []string{"@example.com"}, "printer@example.com", 0},
		{"in the list, sender refused", "192.0.2.7", []string{"@example.com"}, "ceo@example.org", 550},
		{"in the list, subdomain refused", "192.0.2.7", []string{"@example.com"}, "x@evil.example.com", 550},
		{"outside", "198.51.100.1", nil, "printer@example.com", 530},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, Options{AllowNets: nets, AllowedFromAnonymous: tt.anonFrom, clientAddr: remote(tt.ip)})
			raw := "From: " + tt.from + "\r\nSubject: x\r\n\r\nbody\r\n"
			err := send(ts.dial(t), tt.from, []string{"r@example.net"}, raw)
			if code(err) != tt.wantCode {
				t.Fatalf("send = %v, want code %d", err, tt.wantCode)
			}
			if got := len(ts.in.all()); (tt.wantCode == 0) != (got == 1) {
				t.Fatalf("%d submissions", got)
			}
		})
	}
}

func TestAuthAndSenders(t *testing.T) {
	argon, err := HashPassword("argon-pw")
	if err != nil {
		t.Fatal(err)
	}
	accounts := map[string]Account{
		"printer": {PasswordHash: bcryptOf(t, "bcrypt-pw"), AllowedFrom: []string{"scanner@example.com"}},
		"erp":     {PasswordHash: argon, AllowedFrom: []string{"@example.com"}},
	}
	tests := []struct {
		name           string
		mech           string
		user, password string
		from, header   string
		authCode, code int
	}{
		{"bcrypt PLAIN", "PLAIN", "printer", "bcrypt-pw", "scanner@example.com", "Scanner <scanner@example.com>", 0, 0},
		{"argon2id LOGIN", "LOGIN", "erp", "argon-pw", "billing@example.com", "billing@example.com", 0, 0},
		{"wrong password", "PLAIN", "printer", "nope", "scanner@example.com", "scanner@example.com", 535, 530},
		{"unknown user", "LOGIN", "ghost", "bcrypt-pw", "scanner@example.com", "scanner@example.com", 535, 530},
		{"envelope sender not allowed", "PLAIN", "printer", "bcrypt-pw", "ceo@example.com", "scanner@example.com", 0, 550},
		{"header From not allowed", "PLAIN", "printer", "bcrypt-pw", "scanner@example.com", "CEO <ceo@example.com>", 0, 550},
		{"domain pattern is not a suffix", "PLAIN", "erp", "argon-pw", "x@notexample.com", "x@notexample.com", 0, 550},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// From a non-loopback address, AUTH needs STARTTLS first.
			ts := start(t, Options{Accounts: accounts, clientAddr: remote("203.0.113.9")})
			c, err := smtp.DialStartTLS(ts.addr, ts.clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if !c.SupportsAuth("PLAIN") || !c.SupportsAuth("LOGIN") {
				t.Fatal("PLAIN and LOGIN not offered after STARTTLS")
			}
			var cl sasl.Client = sasl.NewPlainClient("", tt.user, tt.password)
			if tt.mech == "LOGIN" {
				cl = sasl.NewLoginClient(tt.user, tt.password)
			}
			if err := c.Auth(cl); code(err) != tt.authCode {
				t.Fatalf("AUTH = %v, want %d", err, tt.authCode)
			}
			raw := "From: " + tt.header + "\r\nSubject: x\r\n\r\nbody\r\n"
			err = send(c, tt.from, []string{"r@example.net"}, raw)
			if code(err) != tt.code {
				t.Fatalf("send = %v, want %d", err, tt.code)
			}
			subs := ts.in.all()
			if tt.code == 0 && (len(subs) != 1 || subs[0].env.User != tt.user || !subs[0].env.TLS) {
				t.Fatalf("submissions = %+v", subs)
			}
			if tt.code != 0 && len(subs) != 0 {
				t.Fatalf("refused message reached Submit")
			}
		})
	}
}

func TestAuthOnLoopbackWithoutTLS(t *testing.T) {
	ts := start(t, Options{Accounts: map[string]Account{"cron": {PasswordHash: bcryptOf(t, "pw"), AllowedFrom: []string{"root@host.example.com"}}}})
	c := ts.dial(t)
	if !c.SupportsAuth("PLAIN") {
		t.Fatal("AUTH not offered on loopback")
	}
	if err := c.Auth(sasl.NewPlainClient("", "cron", "pw")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "root@host.example.com", []string{"admin@example.com"}, "Subject: cron\r\n\r\nout\r\n"); err != nil {
		t.Fatal(err)
	}
	if subs := ts.in.all(); len(subs) != 1 || subs[0].env.TLS || !subs[0].env.ClientAddr.IsLoopback() {
		t.Fatalf("submissions = %+v", subs)
	}
}

func TestImplicitTLS(t *testing.T) {
	ts := start(t, Options{Accounts: map[string]Account{"app": {PasswordHash: bcryptOf(t, "pw"), AllowedFrom: []string{"@example.com"}}}, clientAddr: remote("203.0.113.9")})
	c, err := smtp.DialTLS(ts.tlsAddr, ts.clientTLS)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", "app", "pw")); err != nil {
		t.Fatal(err)
	}
	if err := send(c, "app@example.com", []string{"r@example.net"}, simple); err != nil {
		t.Fatal(err)
	}
	if subs := ts.in.all(); len(subs) != 1 || !subs[0].env.TLS {
		t.Fatalf("submissions = %+v", subs)
	}
}

// TestBytesAndEnvelopeUnchanged: recipients only in the envelope (Bcc)
// are kept, and the bytes arrive exactly as sent.
func TestBytesAndEnvelopeUnchanged(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	raw := "From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.com>\r\n" +
		"Reply-To: Support <support@example.com>\r\n" +
		"To: a@example.net\r\n" +
		"Subject: Grüße aus Köln\r\n" + // 8-bit header, as legacy apps send it
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=iso-8859-1\r\n" +
		"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
		"Gr=FC=DFe, a long line that is soft-broken =\r\nhere.\r\n" +
		".a line that starts with a dot\r\n" +
		"..two dots\r\n" +
		"trailing spaces   \r\n"
	to := []string{"a@example.net", "bcc-only@example.org", "A@example.net"}
	if err := send(ts.dial(t), "joerg@example.com", to, raw); err != nil {
		t.Fatal(err)
	}
	subs := ts.in.all()
	if len(subs) != 1 {
		t.Fatalf("%d submissions", len(subs))
	}
	if !bytes.Equal(subs[0].raw, []byte(raw)) {
		t.Errorf("bytes changed:\ngot  %q\nwant %q", subs[0].raw, raw)
	}
	if !slices.Equal(subs[0].env.To, to) || subs[0].env.From != "joerg@example.com" {
		t.Errorf("envelope = %+v, want From joerg@example.com To %q", subs[0].env, to)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxMessageBytes: 1000})
	c := ts.dial(t)
	if size, ok := c.MaxMessageSize(); !ok || size != 1000 {
		t.Fatalf("EHLO SIZE = %d, %v, want 1000", size, ok)
	}
	if err := c.Mail("a@example.com", &smtp.MailOptions{Size: 5000}); code(err) != 552 {
		t.Errorf("MAIL SIZE=5000 = %v, want 552", err)
	}
	c.Reset()
	big := "Subject: big\r\n\r\n" + strings.Repeat("0123456789012345678901234567890123456789\r\n", 30)
	if err := send(c, "a@example.com", []string{"r@example.net"}, big); code(err) != 552 {
		t.Errorf("DATA of %d bytes = %v, want 552", len(big), err)
	}
	if err := send(c, "a@example.com", []string{"r@example.net"}, simple); err != nil {
		t.Errorf("small message after a refused one: %v", err)
	}
	if n := len(ts.in.all()); n != 1 {
		t.Fatalf("%d submissions, want 1", n)
	}
}

func TestMaxRecipients(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxRecipients: 3})
	c := ts.dial(t)
	c.Mail("a@example.com", nil)
	for i := range 4 {
		err := c.Rcpt(fmt.Sprintf("r%d@example.net", i), nil)
		if want := map[bool]int{true: 452, false: 0}[i == 3]; code(err) != want {
			t.Fatalf("RCPT %d = %v, want %d", i+1, err, want)
		}
	}
}

func TestConnectionLimits(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MaxConnsPerClient: 2})
	a, b := ts.dial(t), ts.dial(t)
	if got := greeting(t, ts.addr); !strings.HasPrefix(got, "421 4.7.0") {
		t.Fatalf("third connection got %q, want 421", got)
	}
	a.Quit()
	b.Quit()
	// Slots are given back when connections close; the deadline only
	// bounds a hang.
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := smtp.Dial(ts.addr)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection slots not released: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConnectionRate(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, ConnsPerMinute: 2})
	for i := range 3 {
		got := greeting(t, ts.addr)
		want := map[bool]string{true: "421 4.7.0", false: "220 "}[i == 2]
		if !strings.HasPrefix(got, want) {
			t.Fatalf("connection %d got %q, want %s", i+1, got, want)
		}
	}
}

// greeting connects and returns the server's first reply.
func greeting(t *testing.T, addr string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Minute)) // only bounds a hang
	buf := make([]byte, 200)
	n, _ := conn.Read(buf)
	return string(buf[:n])
}

func TestMessageRate(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, MessagesPerMinute: 2})
	c := ts.dial(t)
	for i := range 3 {
		err := send(c, "a@example.com", []string{"r@example.net"}, simple)
		if want := map[bool]int{true: 450, false: 0}[i == 2]; code(err) != want {
			t.Fatalf("message %d = %v, want %d", i+1, err, want)
		}
	}
}

func TestAuthFailureBackoff(t *testing.T) {
	ts := start(t, Options{Accounts: map[string]Account{"app": {PasswordHash: bcryptOf(t, "pw"), AllowedFrom: []string{"@example.com"}}}, AuthFailureDelay: 40 * time.Millisecond})
	c := ts.dial(t)
	var took []time.Duration
	for range 3 {
		start := time.Now()
		if err := c.Auth(sasl.NewPlainClient("", "app", "wrong")); code(err) != 535 {
			t.Fatalf("AUTH = %v, want 535", err)
		}
		took = append(took, time.Since(start))
	}
	if took[0] < 40*time.Millisecond || took[1] < 80*time.Millisecond || took[2] < 160*time.Millisecond {
		t.Fatalf("failed AUTH replies took %v, want ≥ 40ms, 80ms, 160ms", took)
	}
	// The right password still works (after the delay).
	if err := c.Auth(sasl.NewPlainClient("", "app", "pw")); err != nil {
		t.Fatal(err)
	}
}

func TestSubmitFailure(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"spool error is temporary", errors.New("disk full"), 451},
		{"SMTP error passes through", &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "no"}, 554},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
			ts.in.fail = tt.err
			if err := send(ts.dial(t), "a@example.com", []string{"r@example.net"}, simple); code(err) != tt.want {
				t.Fatalf("send = %v, want %d", err, tt.want)
			}
		})
	}
}

func TestReloadKeepsConnections(t *testing.T) {
	opts := Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, clientAddr: remote("192.0.2.7")}
	ts := start(t, opts)
	c := ts.dial(t)
	if err := send(c, "a@example.com", []string{"r@example.net"}, simple); err != nil {
		t.Fatal(err)
	}
	opts.AllowNets = nil
	opts.Submit = ts.in.submit
	if err := ts.Reload(opts); err != nil {
		t.Fatal(err)
	}
	if err := c.Noop(); err != nil {
		t.Fatalf("connection dropped by Reload: %v", err)
	}
	if err := send(c, "a@example.com", []string{"r@example.net"}, simple); code(err) != 530 {
		t.Fatalf("after Reload removed the network: %v, want 530", err)
	}
	if err := ts.Reload(Options{}); err == nil {
		t.Fatal("Reload without Submit succeeded")
	}
}

func TestIdleTimeout(t *testing.T) {
	ts := start(t, Options{CommandTimeout: 100 * time.Millisecond})
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(time.Minute)) // only bounds a hang
	var all []byte
	buf := make([]byte, 512)
	for {
		n, err := conn.Read(buf)
		all = append(all, buf[:n]...)
		if err != nil {
			break
		}
	}
	if !strings.Contains(string(all), "421 4.4.2") {
		t.Fatalf("idle connection got %q, want 421 4.4.2 and close", all)
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	submit := (&inbox{}).submit
	tests := []struct {
		name string
		opts Options
	}{
		{"no Submit", Options{}},
		{"TLSAddr without cert", Options{Submit: submit, TLSAddr: ":465"}},
		{"plain-text password", Options{Submit: submit, Accounts: map[string]Account{"u": {PasswordHash: "hunter2"}}}},
		{"bad sender pattern", Options{Submit: submit, AllowedFromAnonymous: []string{"example.com"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ce *ConfigError
			if _, err := New(tt.opts); !errors.As(err, &ce) {
				t.Fatalf("New = %v, want *ConfigError", err)
			}
		})
	}
}
