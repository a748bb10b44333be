package smtpfallback

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestConversations replays server conversations and checks what the client
// sent (exact lines, in the scripts) and what Send returned.
func TestConversations(t *testing.T) {
	const okReply = "2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]"
	tests := []struct {
		name       string
		tokens     []string
		edit       func(*Config)
		scripts    []script
		wantReply  string
		wantForced []bool // forceRefresh flags passed to the TokenSource
		wantTries  int
		check      func(t *testing.T, err error)
	}{
		{
			name:       "xoauth2 after the 334 prompt",
			scripts:    []script{join(greetTLS, auth1, mail1)},
			wantReply:  okReply,
			wantForced: []bool{false},
			wantTries:  1,
		},
		{
			name: "size and 8bitmime when offered",
			scripts: []script{join(greetTLS[:len(greetTLS)-1], script{
				"S: 250-SIZE 37748736",
				"S: 250-8BITMIME",
				"S: 250 ENHANCEDSTATUSCODES",
			}, auth1, script{
				"C: MAIL FROM:<reports@contoso.com> BODY=8BITMIME SIZE=22",
				"S: 250 2.1.0 Sender OK",
			}, mail1[2:])},
			wantReply:  okReply,
			wantForced: []bool{false},
			wantTries:  1,
		},
		{
			name:   "json challenge answered with an empty line, then fresh token",
			tokens: []string{"tok-1", "tok-2"},
			scripts: []script{join(greetTLS, script{
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok1,
				"S: 334 " + jsonChallenge,
				"C: ",
				"S: 535 5.7.8 Username and Password not accepted",
				"C: *", // go-smtp cancels after a failed AUTH
				"S: 500 5.5.2 Command unrecognized",
			}, auth2, mail1)},
			wantReply:  okReply,
			wantForced: []bool{false, true},
			wantTries:  1,
		},
		{
			name:   "cached token rejected, fresh token accepted",
			tokens: []string{"tok-1", "tok-2"},
			scripts: []script{join(greetTLS, script{
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok1,
				"S: 535 5.7.3 Authentication unsuccessful",
				"C: *",
				"S: 500 5.3.3 Unrecognized command",
			}, auth2, mail1)},
			wantReply:  okReply,
			wantForced: []bool{false, true},
			wantTries:  1,
		},
		{
			name:   "server drops the connection after 535: retry on a new one",
			tokens: []string{"tok-1", "tok-2"},
			scripts: []script{
				join(greetTLS, script{
					"C: AUTH XOAUTH2",
					"S: 334 ",
					"C: " + saslTok1,
					"S: 535 5.7.3 Authentication unsuccessful",
					"CLOSE",
				}),
				join(greetTLS, auth2, mail1),
			},
			wantReply:  okReply,
			wantForced: []bool{false, true},
			wantTries:  2,
		},
		{
			name:   "fresh token rejected too",
			tokens: []string{"tok-1", "tok-2"},
			scripts: []script{join(greetTLS, script{
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok1,
				"S: 535 5.7.3 Authentication unsuccessful",
				"C: *",
				"S: 500 5.3.3 Unrecognized command",
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok2,
				"S: 535 5.7.3 Authentication unsuccessful",
				"C: *",
				"S: 500 5.3.3 Unrecognized command",
			})},
			wantForced: []bool{false, true},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var se *SMTPError
				if !errors.As(err, &se) || !se.FreshToken || !se.AuthFailure() || se.AuthDisabled() || se.Temporary() || Temporary(err) {
					t.Errorf("err = %s, want a permanent auth failure with FreshToken", errString(err))
				}
				if se != nil && (se.Code != 535 || se.EnhancedCode != [3]int{5, 7, 3} || se.Stage != StageAuth) {
					t.Errorf("err = %+v", se)
				}
				if want := "smtpfallback: 535 5.7.3 Authentication unsuccessful (auth, with a freshly fetched token)"; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			},
		},
		{
			name: "smtp auth disabled: no refresh",
			scripts: []script{join(greetTLS, script{
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok1,
				"S: 535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information.",
				"C: *",
				"S: 500 5.3.3 Unrecognized command",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var se *SMTPError
				if !errors.As(err, &se) || !se.AuthDisabled() || !se.AuthFailure() || se.FreshToken || Temporary(err) {
					t.Errorf("err = %s, want AuthDisabled", errString(err))
				}
			},
		},
		{
			name: "server echoing the token gets it redacted",
			scripts: []script{join(greetTLS, script{
				"C: AUTH XOAUTH2",
				"S: 334 ",
				"C: " + saslTok1,
				"S: 535 5.7.139 disabled, you sent tok-1",
				"C: *",
				"S: 500 5.3.3 Unrecognized command",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				if strings.Contains(err.Error(), "tok-1") || strings.Contains(err.Error(), saslTok1) {
					t.Errorf("error leaks the token: %q", err)
				}
			},
		},
		{
			name: "starttls not offered: no AUTH",
			scripts: []script{{
				"S: 220 fake.test ESMTP",
				"C: EHLO client.test",
				"S: 250-fake.test Hello",
				"S: 250 AUTH LOGIN XOAUTH2",
				"C: QUIT",
				"S: 221 2.0.0 Bye",
			}},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var te *TLSError
				if !errors.Is(err, ErrSTARTTLSUnavailable) || !errors.As(err, &te) || Temporary(err) {
					t.Errorf("err = %s, want ErrSTARTTLSUnavailable in a permanent *TLSError", errString(err))
				}
			},
		},
		{
			name: "starttls refused",
			scripts: []script{{
				"S: 220 fake.test ESMTP",
				"C: EHLO client.test",
				"S: 250-fake.test Hello",
				"S: 250 STARTTLS",
				"C: STARTTLS",
				"S: 454 4.7.0 TLS not available due to temporary reason",
			}},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var te *TLSError
				var se *SMTPError
				if !errors.As(err, &te) || !errors.As(err, &se) || se.Code != 454 || se.Stage != StageStartTLS || !Temporary(err) {
					t.Errorf("err = %s, want a temporary *TLSError around 454", errString(err))
				}
			},
		},
		{
			name:       "certificate not trusted",
			edit:       func(c *Config) { c.TLSConfig = &tls.Config{RootCAs: nil} },
			scripts:    []script{join(greetTLS[:8], script{"TLS-FAIL"})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var te *TLSError
				var cve *tls.CertificateVerificationError
				if !errors.As(err, &te) || !errors.As(err, &cve) || Temporary(err) {
					t.Errorf("err = %s, want *TLSError with *tls.CertificateVerificationError", errString(err))
				}
			},
		},
		{
			name:       "certificate for another host",
			edit:       func(c *Config) { c.Host = "smtp.office365.com" },
			scripts:    []script{join(greetTLS[:8], script{"TLS-FAIL"})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var cve *tls.CertificateVerificationError
				if !errors.As(err, &cve) {
					t.Errorf("err = %s, want *tls.CertificateVerificationError", errString(err))
				}
			},
		},
		{
			name:       "greeting 554",
			scripts:    []script{{"S: 554 5.7.1 go away"}},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var se *SMTPError
				if !errors.As(err, &se) || se.Stage != StageConnect || se.Code != 554 || Temporary(err) {
					t.Errorf("err = %s, want permanent 554 at connect", errString(err))
				}
			},
		},
		{
			name: "4xx at rcpt is temporary",
			scripts: []script{join(greetTLS, auth1, script{
				"C: MAIL FROM:<reports@contoso.com>",
				"S: 250 2.1.0 Sender OK",
				"C: RCPT TO:<a@fabrikam.example>",
				"S: 452 4.5.3 Too many recipients",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var se *SMTPError
				if !errors.As(err, &se) || !se.Temporary() || se.Stage != StageRcpt || se.Recipient != "a@fabrikam.example" {
					t.Errorf("err = %s, want temporary 452 at rcpt for a@fabrikam.example", errString(err))
				}
				if want := "smtpfallback: 452 4.5.3 Too many recipients (rcpt <a@fabrikam.example>)"; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			},
		},
		{
			name: "432 thread limit at mail",
			scripts: []script{join(greetTLS, auth1, script{
				"C: MAIL FROM:<reports@contoso.com>",
				"S: 432 4.3.2 STOREDRV.ClientSubmit; sender thread limit exceeded",
				"C: QUIT", // not reused: given back to lower the connection count
				"S: 221 2.0.0 Bye",
				"CLOSE",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				if !Temporary(err) {
					t.Errorf("err = %s, want temporary", errString(err))
				}
			},
		},
		{
			name: "550 at data end is permanent",
			scripts: []script{join(greetTLS, auth1, mail1[:len(mail1)-1], script{
				"S: 550 5.7.60 SMTP; Client does not have permissions to send as this sender",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				var se *SMTPError
				if !errors.As(err, &se) || se.Temporary() || se.Stage != StageData || se.EnhancedCode != [3]int{5, 7, 60} {
					t.Errorf("err = %s, want permanent 5.7.60 at data", errString(err))
				}
			},
		},
		{
			name: "421 mid-transaction drops the connection",
			scripts: []script{join(greetTLS, auth1, script{
				"C: MAIL FROM:<reports@contoso.com>",
				"S: 421 4.4.2 Connection dropped",
				"CLOSE",
			})},
			wantForced: []bool{false},
			wantTries:  1,
			check: func(t *testing.T, err error) {
				if !Temporary(err) {
					t.Errorf("err = %s, want temporary", errString(err))
				}
			},
		},
		{
			name: "implicit tls",
			edit: func(c *Config) { c.ImplicitTLS = true },
			scripts: []script{join(script{
				"TLS",
				"S: 220 fake.test ESMTP",
				"C: EHLO client.test",
				"S: 250-fake.test Hello",
				"S: 250 AUTH XOAUTH2",
			}, auth1, mail1)},
			wantReply:  okReply,
			wantForced: []bool{false},
			wantTries:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := &fakeTokens{tokens: tt.tokens}
			if tokens.tokens == nil {
				tokens.tokens = []string{"tok-1"}
			}
			c, srv := scriptedClient(t, tokens, tt.edit, tt.scripts...)
			r, err := c.Send(context.Background(), testEnv, testMIME)
			c.Close()
			srv.wait()

			if tt.check == nil && err != nil {
				t.Fatalf("Send: %s", errString(err))
			}
			if tt.check != nil {
				if err == nil {
					t.Fatal("Send succeeded, want an error")
				}
				tt.check(t, err)
			}
			if r.Reply != tt.wantReply {
				t.Errorf("Reply = %q, want %q", r.Reply, tt.wantReply)
			}
			if r.Attempts != tt.wantTries {
				t.Errorf("Attempts = %d, want %d", r.Attempts, tt.wantTries)
			}
			if got := tokens.calls(); !slices.Equal(got, tt.wantForced) {
				t.Errorf("token calls (forceRefresh) = %v, want %v", got, tt.wantForced)
			}
			if srv.dials != len(tt.scripts) {
				t.Errorf("dials = %d, want %d", srv.dials, len(tt.scripts))
			}
		})
	}
}
