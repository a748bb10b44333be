package graphmail_test

import (
	"context"
	"errors"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

func TestProbe(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(*graphmailtest.Server)
		sender string
		code   string
	}{
		{name: "usable"},
		{name: "no Mail.Send", setup: func(s *graphmailtest.Server) { s.SetRoles(s.App().ClientID, []string{"SMTP.SendAsApp"}) }, code: "ErrorAccessDenied"},
		{name: "unknown mailbox", sender: "nobody@sandbox.onmicrosoft.com", code: "ErrorInvalidUser"},
		{name: "REST disabled", setup: func(s *graphmailtest.Server) { s.SetMailboxRESTDisabled(s.Mailboxes()[0]) }, code: "MailboxNotEnabledForRESTAPI"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphmail.Config) {
				if tt.sender != "" {
					c.Sender = tt.sender
				}
			})
			if tt.setup != nil {
				tt.setup(f.srv)
			}
			err := f.client.Probe(context.Background())
			if tt.code == "" {
				if err != nil {
					t.Fatal(err)
				}
				if n := len(f.srv.Messages()); n != 0 {
					t.Errorf("probe delivered %d messages", n)
				}
				return
			}
			var ge *graphmail.GraphError
			if !errors.As(err, &ge) || ge.Code != tt.code {
				t.Fatalf("err = %v, want %s", err, tt.code)
			}
		})
	}
}
