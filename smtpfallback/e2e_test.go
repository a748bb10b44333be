package smtpfallback

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
)

// e2eParseToken stands in for graphmailtest.Server.ParseToken: opaque test
// tokens map to claims.
func e2eParseToken(raw string) (*smtpd.Claims, error) {
	c := &smtpd.Claims{Audience: smtpd.DefaultAudience, Roles: []string{smtpd.RoleSendAsApp}, Expiry: time.Now().Add(time.Hour)}
	switch raw {
	case "good", "good-2":
	case "graph":
		c.Audience = "https://graph.microsoft.com"
	case "no-role":
		c.Roles = []string{"Mail.Send"}
	case "expired":
		return nil, errors.New("token is expired")
	default:
		return nil, errors.New("signature is invalid")
	}
	return c, nil
}

func newE2E(t *testing.T, opts smtpd.Options, tokens *fakeTokens, edit func(*Config)) (*smtpd.Server, *Client) {
	t.Helper()
	if opts.ParseToken == nil {
		opts.ParseToken = e2eParseToken
	}
	if opts.Mailboxes == nil {
		opts.Mailboxes = []string{mailbox, "alerts@contoso.com"}
	}
	srv, err := smtpd.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cfg := Config{
		Host:           srv.Host(),
		Port:           srv.Port(),
		Username:       mailbox,
		Tokens:         tokens,
		TLSConfig:      &tls.Config{RootCAs: testCert().pool},
		CommandTimeout: time.Minute, // only bounds a hang
		DataTimeout:    time.Minute,
	}
	if edit != nil {
		edit(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func TestE2ESend(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"good"}}
	srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, tokens, nil)
	env := Envelope{From: mailbox, To: []string{"a@fabrikam.example", "b@fabrikam.example", "hidden@fabrikam.example"}}
	mime := []byte("From: reports@contoso.com\nTo: a@fabrikam.example\nCc: b@fabrikam.example\nMessage-ID: <e2e-1@contoso.com>\nSubject: e2e\n\n.leading dot\nbody\n")
	for i := range 2 {
		r, err := c.Send(context.Background(), env, mime)
		if err != nil {
			t.Fatalf("Send #%d: %s", i+1, errString(err))
		}
		if want := "2.0.0 OK <e2e-1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]"; r.Reply != want || r.Attempts != 1 {
			t.Errorf("Send #%d: receipt %+v, want Reply %q and 1 attempt", i+1, r, want)
		}
	}
	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("server has %d messages, want 2", len(msgs))
	}
	m := msgs[0]
	if m.From != mailbox || m.User != mailbox || fmt.Sprint(m.To) != fmt.Sprint(env.To) {
		t.Errorf("envelope at the server: from %q user %q to %q", m.From, m.User, m.To)
	}
	if want := strings.ReplaceAll(string(mime), "\n", "\r\n"); string(m.Data) != want {
		t.Errorf("data at the server = %q, want %q", m.Data, want)
	}
	if srv.AuthCount() != 1 || len(tokens.calls()) != 1 {
		t.Errorf("AuthCount = %d, token calls = %d; want 1 and 1 (connection reused)", srv.AuthCount(), len(tokens.calls()))
	}
}

func TestE2EFailures(t *testing.T) {
	tests := []struct {
		name    string
		tokens  []string
		opts    smtpd.Options
		setup   func(*smtpd.Server)
		edit    func(*Config)
		env     Envelope
		wantErr func(error) bool
	}{
		{
			name:    "expired cached token, fresh one works",
			tokens:  []string{"expired", "good"},
			wantErr: func(err error) bool { return err == nil },
		},
		{
			name:   "graph token for smtp",
			tokens: []string{"graph"},
			wantErr: func(err error) bool {
				var se *SMTPError
				return errors.As(err, &se) && se.AuthFailure() && se.FreshToken && se.EnhancedCode == [3]int{5, 7, 3} && !Temporary(err)
			},
		},
		{
			name:   "no SMTP.SendAsApp role",
			tokens: []string{"no-role"},
			wantErr: func(err error) bool {
				var se *SMTPError
				return errors.As(err, &se) && se.AuthFailure() && se.FreshToken
			},
		},
		{
			name:  "smtp auth disabled",
			setup: func(s *smtpd.Server) { s.DisableAuth(true) },
			wantErr: func(err error) bool {
				var se *SMTPError
				return errors.As(err, &se) && se.AuthDisabled() && !se.FreshToken && strings.Contains(se.Message, "SmtpClientAuthentication is disabled")
			},
		},
		{
			name: "send as another mailbox",
			env:  Envelope{From: "ceo@contoso.com", To: []string{"a@fabrikam.example"}},
			wantErr: func(err error) bool {
				var se *SMTPError
				return errors.As(err, &se) && se.Stage == StageMail && se.Code == 550 && se.EnhancedCode == [3]int{5, 7, 60} && !Temporary(err)
			},
		},
		{
			name: "username from the envelope",
			edit: func(c *Config) { c.Username = "" },
			env:  Envelope{From: "alerts@contoso.com", To: []string{"a@fabrikam.example"}},
			wantErr: func(err error) bool {
				return err == nil
			},
		},
		{
			name: "4xx at data is temporary",
			setup: func(s *smtpd.Server) {
				s.FailNext(451, [3]int{4, 7, 500}, "Server busy. Please try again later", "data")
			},
			wantErr: func(err error) bool {
				var se *SMTPError
				return errors.As(err, &se) && se.Stage == StageData && Temporary(err)
			},
		},
		{
			name: "starttls not offered",
			opts: smtpd.Options{TLSConfig: nil},
			wantErr: func(err error) bool {
				var te *TLSError
				return errors.Is(err, ErrSTARTTLSUnavailable) && errors.As(err, &te)
			},
		},
		{
			name: "certificate not trusted",
			edit: func(c *Config) { c.TLSConfig = &tls.Config{RootCAs: x509.NewCertPool()} },
			wantErr: func(err error) bool {
				var te *TLSError
				var cve *tls.CertificateVerificationError
				return errors.As(err, &te) && errors.As(err, &cve)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			if tt.name != "starttls not offered" {
				opts.TLSConfig = testCert().server
			}
			tokens := &fakeTokens{tokens: tt.tokens}
			if tokens.tokens == nil {
				tokens.tokens = []string{"good"}
			}
			srv, c := newE2E(t, opts, tokens, tt.edit)
			if tt.setup != nil {
				tt.setup(srv)
			}
			env := tt.env
			if env.From == "" {
				env = testEnv
			}
			_, err := c.Send(context.Background(), env, testMIME)
			if !tt.wantErr(err) {
				t.Fatalf("Send: %s", errString(err))
			}
			if err != nil {
				for _, tok := range tt.tokens {
					if strings.Contains(err.Error(), tok) && tok != "good" {
						t.Errorf("error mentions the token %q: %v", tok, err)
					}
				}
				return
			}
			if n := len(srv.Messages()); n != 1 {
				t.Errorf("server has %d messages, want 1", n)
			}
		})
	}
}

// TestE2EReuseAfterRejection: a connection that got a 4xx for one message
// carries the next one (after RSET) without a new AUTH.
func TestE2EReuseAfterRejection(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"good"}}
	srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, tokens, nil)
	srv.FailNext(452, [3]int{4, 5, 3}, "Too many recipients", "rcpt")
	if _, err := c.Send(context.Background(), testEnv, testMIME); !Temporary(err) {
		t.Fatalf("first Send: %s, want a temporary error", errString(err))
	}
	if _, err := c.Send(context.Background(), testEnv, testMIME); err != nil {
		t.Fatalf("second Send: %s", errString(err))
	}
	if srv.AuthCount() != 1 {
		t.Errorf("AuthCount = %d, want 1", srv.AuthCount())
	}
}

func TestE2EMaxConns(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"good"}}
	srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, tokens, func(c *Config) { c.MaxConns = 3 })
	const n = 10
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			mime := fmt.Appendf(nil, "Subject: %d\r\n\r\nbody %d\r\n", i, i)
			_, errs[i] = c.Send(context.Background(), testEnv, mime)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Send %d: %s", i, errString(err))
		}
	}
	if got := len(srv.Messages()); got != n {
		t.Errorf("server has %d messages, want %d", got, n)
	}
	if got := srv.MaxConcurrent(); got < 1 || got > 3 {
		t.Errorf("MaxConcurrent = %d, want 1..3", got)
	}
	if got := srv.AuthCount(); got > 3 {
		t.Errorf("AuthCount = %d, want at most 3", got)
	}
	t.Logf("MaxConcurrent %d, AuthCount %d, token calls %d", srv.MaxConcurrent(), srv.AuthCount(), len(tokens.calls()))
}

// TestE2ECloseWakesWaiters: Sends waiting for a connection fail with
// ErrClosed when the Client closes.
func TestE2ECloseWakesWaiters(t *testing.T) {
	tokens := &fakeTokens{tokens: []string{"good"}}
	_, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, tokens, func(c *Config) { c.MaxConns = 1 })
	p, err := c.pool(mailbox)
	if err != nil {
		t.Fatal(err)
	}
	if s, err := p.get(context.Background()); s != nil || err != nil { // take the only slot
		t.Fatalf("get = %v, %v", s, err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Send(context.Background(), testEnv, testMIME)
		done <- err
	}()
	// Close only once Send waits for the slot.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		p.mu.Lock()
		waiting := len(p.waiters)
		p.mu.Unlock()
		if waiting == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Send never waited for a connection")
		}
	}
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, ErrClosed) {
			t.Errorf("Send = %s, want ErrClosed", errString(err))
		}
	case <-time.After(time.Minute): // only bounds a hang
		t.Fatal("Send still waiting after Close")
	}
}
