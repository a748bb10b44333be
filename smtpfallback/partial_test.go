package smtpfallback

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
)

// TestPartialRecipients checks Envelope.Partial against scripted servers
// that refuse some or all recipients.
func TestPartialRecipients(t *testing.T) {
	three := []string{"a@fabrikam.example", "b@fabrikam.example", "c@fabrikam.example"}
	rcpts := func(replies ...string) script {
		var sc script
		for i, r := range replies {
			sc = append(sc, "C: RCPT TO:<"+three[i]+">", "S: "+r)
		}
		return sc
	}
	mailFrom := script{"C: MAIL FROM:<reports@contoso.com>", "S: 250 2.1.0 Sender OK"}
	data := script{
		"C: DATA",
		"S: 354 Start mail input; end with <CRLF>.<CRLF>",
		"C: Subject: hi",
		"C: ",
		"C: ..body",
		"C: .",
		"S: 250 2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]",
	}
	type rejection struct {
		addr      string
		code      int
		enhanced  [3]int
		temporary bool
	}
	tests := []struct {
		name      string
		partial   bool
		script    script
		wantReply string
		wantRej   []rejection
		wantErr   *rejection // the error Send returns, if any
	}{
		{
			name:    "one refused for good, one for now, one delivered",
			partial: true,
			script: join(greetTLS, auth1, mailFrom, rcpts(
				"250 2.1.5 Recipient OK",
				"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
				"452 4.2.2 Mailbox full",
			), data),
			wantReply: "2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]",
			wantRej: []rejection{
				{"b@fabrikam.example", 550, [3]int{5, 1, 1}, false},
				{"c@fabrikam.example", 452, [3]int{4, 2, 2}, true},
			},
		},
		{
			name:    "all accepted",
			partial: true,
			script: join(greetTLS, auth1, mailFrom, rcpts(
				"250 2.1.5 Recipient OK", "250 2.1.5 Recipient OK", "250 2.1.5 Recipient OK",
			), data),
			wantReply: "2.0.0 OK <m1@contoso.com> [Hostname=FAKE.PROD.OUTLOOK.COM]",
		},
		{
			name:    "all refused: the first refusal is the error, no DATA",
			partial: true,
			script: join(greetTLS, auth1, mailFrom, rcpts(
				"452 4.2.2 Mailbox full",
				"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
				"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
			)),
			wantRej: []rejection{
				{"a@fabrikam.example", 452, [3]int{4, 2, 2}, true},
				{"b@fabrikam.example", 550, [3]int{5, 1, 1}, false},
				{"c@fabrikam.example", 550, [3]int{5, 1, 1}, false},
			},
			wantErr: &rejection{"a@fabrikam.example", 452, [3]int{4, 2, 2}, true},
		},
		{
			name:    "without Partial the first refusal ends the transaction",
			partial: false,
			script: join(greetTLS, auth1, mailFrom, rcpts(
				"250 2.1.5 Recipient OK",
				"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
			)),
			wantErr: &rejection{"b@fabrikam.example", 550, [3]int{5, 1, 1}, false},
		},
		{
			name:    "421 ends the transaction even under Partial",
			partial: true,
			script: join(greetTLS, auth1, mailFrom, rcpts(
				"550 5.1.1 RESOLVER.ADR.RecipNotFound; not found",
				"421 4.4.2 Connection dropped",
			), script{"CLOSE"}),
			wantRej: []rejection{{"a@fabrikam.example", 550, [3]int{5, 1, 1}, false}},
			wantErr: &rejection{"b@fabrikam.example", 421, [3]int{4, 4, 2}, true},
		},
	}
	check := func(t *testing.T, what string, err error, want rejection) {
		t.Helper()
		var se *SMTPError
		if !errors.As(err, &se) || se.Stage != StageRcpt || se.Recipient != want.addr || se.Code != want.code ||
			se.EnhancedCode != want.enhanced || se.Temporary() != want.temporary || Temporary(err) != want.temporary {
			t.Errorf("%s = %s, want %d %v for %s at rcpt (temporary %v)", what, errString(err), want.code, want.enhanced, want.addr, want.temporary)
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, srv := scriptedClient(t, &fakeTokens{tokens: []string{"tok-1"}}, nil, tt.script)
			env := Envelope{From: mailbox, To: three, Partial: tt.partial}
			r, err := c.Send(context.Background(), env, testMIME)
			c.Close()
			srv.wait()

			if r.Reply != tt.wantReply {
				t.Errorf("Reply = %q, want %q", r.Reply, tt.wantReply)
			}
			if tt.wantErr == nil && err != nil {
				t.Fatalf("Send: %s", errString(err))
			}
			if tt.wantErr != nil {
				check(t, "error", err, *tt.wantErr)
			}
			if len(r.Rejected) != len(tt.wantRej) {
				t.Fatalf("Rejected = %v, want %d entries", r.Rejected, len(tt.wantRej))
			}
			for i, want := range tt.wantRej {
				got := r.Rejected[i]
				if got.Address != want.addr {
					t.Errorf("Rejected[%d].Address = %q, want %q", i, got.Address, want.addr)
				}
				check(t, fmt.Sprintf("Rejected[%d]", i), got, want)
				if got.Temporary() != want.temporary || got.Err.BadMessage() == want.temporary {
					t.Errorf("Rejected[%d]: Temporary %v, BadMessage %v; want temporary %v", i, got.Temporary(), got.Err.BadMessage(), want.temporary)
				}
			}
			if tt.wantErr != nil && len(r.Rejected) == len(three) {
				var se *SMTPError
				if errors.As(err, &se) && se != r.Rejected[0].Err {
					t.Errorf("the error is not Rejected[0].Err")
				}
			}
		})
	}
}

// TestE2EPartial: the fake Exchange server refuses the first of two
// recipients; the message reaches the other.
func TestE2EPartial(t *testing.T) {
	srv, c := newE2E(t, smtpd.Options{TLSConfig: testCert().server}, &fakeTokens{tokens: []string{"good"}}, nil)
	srv.FailNext(550, [3]int{5, 1, 1}, "RESOLVER.ADR.RecipNotFound; not found", "rcpt")
	env := Envelope{From: mailbox, To: []string{"gone@fabrikam.example", "a@fabrikam.example"}, Partial: true}
	r, err := c.Send(context.Background(), env, testMIME)
	if err != nil {
		t.Fatalf("Send: %s", errString(err))
	}
	if len(r.Rejected) != 1 || r.Rejected[0].Address != "gone@fabrikam.example" || r.Rejected[0].Err.Code != 550 || r.Rejected[0].Temporary() {
		t.Errorf("Rejected = %+v, want gone@ with a permanent 550", r.Rejected)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || fmt.Sprint(msgs[0].To) != "[a@fabrikam.example]" {
		t.Errorf("server messages %+v, want one to a@fabrikam.example", msgs)
	}
}
