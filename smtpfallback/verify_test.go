package smtpfallback

import (
	"context"
	"errors"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
)

func TestVerify(t *testing.T) {
	tests := []struct {
		name         string
		token        string
		disableAuth  bool
		wantDisabled bool
		wantAuthFail bool
	}{
		{name: "ok", token: "good"},
		{name: "smtp auth disabled", token: "good", disableAuth: true, wantDisabled: true},
		{name: "token without SMTP.SendAsApp", token: "no-role", wantAuthFail: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, &fakeTokens{tokens: []string{tt.token}}, nil)
			srv.DisableAuth(tt.disableAuth)
			// a pooled session from an earlier send must not stand in for a fresh login
			if !tt.disableAuth && !tt.wantAuthFail {
				if _, err := c.Send(context.Background(), Envelope{From: mailbox, To: []string{"a@fabrikam.example"}}, []byte("Subject: x\r\n\r\nx\r\n")); err != nil {
					t.Fatal(err)
				}
			}
			err := c.Verify(context.Background(), "")
			var se *SMTPError
			switch {
			case tt.wantDisabled:
				if !errors.As(err, &se) || !se.AuthDisabled() {
					t.Fatalf("err = %v, want AuthDisabled", err)
				}
			case tt.wantAuthFail:
				if !errors.As(err, &se) || !se.AuthFailure() || !se.FreshToken {
					t.Fatalf("err = %v, want an auth failure after a fresh token", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if srv.AuthCount() != 2 || len(srv.Messages()) != 1 {
					t.Errorf("auth count %d, messages %d; want 2 (send + verify) and 1", srv.AuthCount(), len(srv.Messages()))
				}
			}
		})
	}
}
