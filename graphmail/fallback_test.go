package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestFallbackMatrix: each Graph failure class either goes to the fallback
// (with a logged reason) or does not.
func TestFallbackMatrix(t *testing.T) {
	tests := []struct {
		name     string
		setup    func(*graphmailtest.Server)
		policy   graphmail.Policy
		fellBack bool
		reason   string
	}{
		{"graph ok", nil, graphmail.PolicyAuto, false, ""},
		{"503 after retries", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: -1})
		}, graphmail.PolicyAuto, true, "graph server error 503"},
		{"429 after retries", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 429, Times: -1})
		}, graphmail.PolicyAuto, true, "graph throttling after retries"},
		{"413 too large", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 413, Code: "ErrorMessageSizeExceeded"})
		}, graphmail.PolicyAuto, true, "message too large for graph"},
		{"400 invalid recipients", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 400, Code: "ErrorInvalidRecipients"})
		}, graphmail.PolicyAuto, false, ""},
		{"403 access denied is not bypassed", func(s *graphmailtest.Server) { s.SetRoles(s.App().ClientID, []string{"SMTP.SendAsApp"}) }, graphmail.PolicyAuto, false, ""},
		{"401", func(s *graphmailtest.Server) {
			// twice: the first refusal is retried once with a fresh token
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 401, Code: "InvalidAuthenticationToken", Times: 2})
		}, graphmail.PolicyAuto, false, ""},
		{"503 with policy never", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: -1})
		}, graphmail.PolicyNever, false, ""},
		{"policy only", nil, graphmail.PolicyOnly, true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			f := newFixture(t, func(c *graphmail.Config) {
				c.Policy = tt.policy
				c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			})
			if tt.setup != nil {
				tt.setup(f.srv)
			}
			m := textMessage()
			res, err := f.client.Send(context.Background(), m)
			if got := f.fb.count() == 1; got != tt.fellBack {
				t.Fatalf("fell back = %v, want %v (err %v)", got, tt.fellBack, err)
			}
			if !tt.fellBack {
				if res.Path == "smtp" {
					t.Errorf("path = smtp without fallback")
				}
				if tt.setup != nil && err == nil {
					t.Errorf("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != "smtp" || res.FallbackReason != tt.reason || res.Reply == "" {
				t.Errorf("result = %+v, want path smtp reason %q", res, tt.reason)
			}
			if tt.policy != graphmail.PolicyOnly && !strings.Contains(logs.String(), "falling back to smtp") {
				t.Errorf("decision not logged:\n%s", logs.String())
			}
			call := f.fb.calls[0]
			if call.from != f.srv.Mailboxes()[0] || strings.Join(call.to, ",") != "ops@example.com,audit@example.com" {
				t.Errorf("envelope = %s → %v", call.from, call.to)
			}
			if bytes.Contains(call.mime, []byte("audit@example.com")) || bytes.Contains(call.mime, []byte("Bcc:")) {
				t.Error("Bcc leaked into the MIME sent over SMTP")
			}
			if !bytes.Contains(call.mime, []byte("Message-ID: <"+m.MessageID+">")) {
				t.Error("the fallback copy has another Message-ID than the Graph attempt")
			}
		})
	}
}

func TestFallbackFailsToo(t *testing.T) {
	f := newFixture(t, nil)
	f.fb.err = errors.New("smtp down")
	f.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: -1})
	_, err := f.client.Send(context.Background(), textMessage())
	var fe *graphmail.FallbackError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want *FallbackError", err)
	}
	var ge *graphmail.GraphError
	if !errors.As(fe.GraphErr, &ge) || ge.StatusCode != 503 {
		t.Errorf("graph error not kept: %v", fe.GraphErr)
	}
	if !strings.Contains(err.Error(), "smtp down") || !strings.Contains(err.Error(), "503") {
		t.Errorf("error text = %q", err)
	}
}

func TestAuditLineHasNoAddresses(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, func(c *graphmail.Config) { c.Logger = slog.New(slog.NewJSONHandler(&logs, nil)) })
	if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	for _, want := range []string{`"msg":"sent"`, `"path":"graph"`, `"recipients":2`, `"request_id"`, `"client_request_id"`, `"message_id"`, `"outcome":"sent"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit line lacks %s:\n%s", want, out)
		}
	}
	for _, leak := range []string{"ops@example.com", "audit@example.com"} {
		if strings.Contains(out, leak) {
			t.Errorf("audit line reveals recipient %s", leak)
		}
	}
}

func TestAuditLineWithRecipientsOnRequest(t *testing.T) {
	var logs bytes.Buffer
	f := newFixture(t, func(c *graphmail.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
		c.LogRecipients = true
	})
	if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"recipient_addresses":"ops@example.com,audit@example.com"`) {
		t.Errorf("log.recipients: audit line lacks the addresses:\n%s", logs.String())
	}
}
