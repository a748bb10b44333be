package graphmail_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// fixture is a fake tenant with a token provider and a Graph client on it.
type fixture struct {
	srv    *graphmailtest.Server
	tokens *auth.Provider
	client *graphmail.Client
	waits  []time.Duration
	mu     sync.Mutex
	fb     *recordingFallback
}

func newFixture(t *testing.T, mutate func(*graphmail.Config)) *fixture {
	t.Helper()
	return newFixtureWith(t, graphmailtest.Options{}, mutate)
}

// newFixtureWith is newFixture on a fake tenant with opts.
func newFixtureWith(t *testing.T, opts graphmailtest.Options, mutate func(*graphmail.Config)) *fixture {
	t.Helper()
	srv, err := graphmailtest.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	app := srv.App()
	p, err := auth.New(auth.Options{
		AuthorityHost: srv.AuthorityHost(),
		TenantID:      srv.TenantID(),
		ClientID:      app.ClientID,
		ClientSecret:  app.Secret,
		HTTPClient:    srv.HTTPClient(),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{srv: srv, tokens: p, fb: &recordingFallback{}}
	cfg := graphmail.Config{
		Sender:        srv.Mailboxes()[0],
		Credential:    p.TokenCredential(),
		GraphEndpoint: srv.GraphEndpoint(),
		HTTPClient:    srv.HTTPClient(),
		Fallback:      f.fb,
	}
	graphmail.SetSleep(&cfg, func(ctx context.Context, d time.Duration) error {
		f.mu.Lock()
		f.waits = append(f.waits, d)
		f.mu.Unlock()
		return ctx.Err()
	})
	if mutate != nil {
		mutate(&cfg)
	}
	c, err := graphmail.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.client = c
	return f
}

type recordingFallback struct {
	mu    sync.Mutex
	calls []fallbackCall
	err   error
}

type fallbackCall struct {
	from string
	to   []string
	mime []byte
}

func (r *recordingFallback) Send(_ context.Context, from string, to []string, mime []byte) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, fallbackCall{from, to, mime})
	if r.err != nil {
		return "", r.err
	}
	return "250 2.0.0 OK queued", nil
}

func (r *recordingFallback) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

func textMessage() *graphmail.Message {
	return &graphmail.Message{
		To:      []graphmail.Address{{Name: "Ops", Address: "ops@example.com"}},
		Bcc:     []graphmail.Address{{Address: "audit@example.com"}},
		Subject: "nightly report",
		Text:    "all green",
	}
}

func TestSendThroughGraph(t *testing.T) {
	f := newFixture(t, nil)
	m := textMessage()
	res, err := f.client.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "graph" || res.Attempts != 1 || res.RequestID == "" || res.ClientRequestID == "" {
		t.Errorf("result = %+v", res)
	}
	got := f.srv.Messages()
	if len(got) != 1 {
		t.Fatalf("delivered %d messages, want 1", len(got))
	}
	d := got[0]
	if d.Transport != graphmailtest.TransportGraphJSON || d.RequestID != res.RequestID || d.ClientRequestID != res.ClientRequestID {
		t.Errorf("delivered = transport %s request-id %s client-request-id %s; result %+v", d.Transport, d.RequestID, d.ClientRequestID, res)
	}
	if d.MessageID != "<"+m.MessageID+">" {
		t.Errorf("Message-ID at Graph = %s, want <%s>", d.MessageID, m.MessageID)
	}
	if d.Message.Subject != "nightly report" || d.Message.Body.Content != "all green" || !strings.EqualFold(d.Message.Body.ContentType, "text") {
		t.Errorf("message = %+v", d.Message)
	}
	if strings.Join(d.Recipients, ",") != "ops@example.com,audit@example.com" {
		t.Errorf("recipients = %v", d.Recipients)
	}
}

func TestSendBothBodiesUsesMIME(t *testing.T) {
	f := newFixture(t, nil)
	m := textMessage()
	m.HTML = "<p>all <b>green</b></p>"
	if _, err := f.client.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	d := f.srv.Messages()[0]
	if d.Transport != graphmailtest.TransportGraphMIME {
		t.Fatalf("transport = %s, want MIME", d.Transport)
	}
	for _, want := range []string{"multipart/alternative", "all green", "<b>green</b>"} {
		if !strings.Contains(string(d.MIME), want) {
			t.Errorf("delivered MIME lacks %q", want)
		}
	}
	if strings.Join(d.Recipients, ",") != "ops@example.com,audit@example.com" {
		t.Errorf("Bcc lost on the MIME path: recipients = %v", d.Recipients)
	}
}

func TestSkipSentItems(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.SkipSentItems = true })
	if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
		t.Fatal(err)
	}
	if f.srv.Messages()[0].SaveToSentItems {
		t.Error("saveToSentItems = true, want false")
	}
}

func TestRetries(t *testing.T) {
	// The client's clock stands still at now, so that a Retry-After date
	// is as far ahead when the client reads it as when it was written,
	// however long a loaded machine takes to get there.
	now := time.Now()
	date := now.Add(3 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name      string
		failures  []graphmailtest.Failure
		wantErr   bool
		attempts  int
		minWait   time.Duration
		temporary bool
	}{
		{"429 retry-after seconds", []graphmailtest.Failure{{Endpoint: "graph", Status: 429, RetryAfter: "2"}}, false, 2, 2 * time.Second, false},
		{"503 retry-after date", []graphmailtest.Failure{{Endpoint: "graph", Status: 503, RetryAfter: date}}, false, 2, time.Second, false},
		{"504 then 503 then ok", []graphmailtest.Failure{{Endpoint: "graph", Status: 504}, {Endpoint: "graph", Status: 503}}, false, 3, 0, false},
		{"budget exhausted", []graphmailtest.Failure{{Endpoint: "graph", Status: 503, Times: 10}}, true, 4, 0, true},
		{"400 not retried", []graphmailtest.Failure{{Endpoint: "graph", Status: 400, Code: "ErrorInvalidRecipients"}}, true, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphmail.Config) {
				c.Policy = graphmail.PolicyNever
				graphmail.SetNow(c, func() time.Time { return now })
			})
			for _, fl := range tt.failures {
				f.srv.Fail(fl)
			}
			res, err := f.client.Send(context.Background(), textMessage())
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if res.Attempts != tt.attempts {
				t.Errorf("attempts = %d, want %d", res.Attempts, tt.attempts)
			}
			if tt.minWait > 0 && (len(f.waits) == 0 || f.waits[0] < tt.minWait) {
				t.Errorf("waits = %v, want the first >= %v (Retry-After)", f.waits, tt.minWait)
			}
			if err != nil {
				var ge *graphmail.GraphError
				if !errors.As(err, &ge) || ge.Temporary() != tt.temporary {
					t.Errorf("err = %v, want *GraphError temporary=%v", err, tt.temporary)
				}
				return
			}
			d := f.srv.Messages()[0]
			if d.ClientRequestID != res.ClientRequestID {
				t.Errorf("client-request-id changed between attempts: %s vs %s", d.ClientRequestID, res.ClientRequestID)
			}
		})
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(*graphmailtest.Server)
		status    int
		code      string
		temporary bool
		auth      bool
		class     graphmail.Class
	}{
		{"401", func(s *graphmailtest.Server) {
			// twice: the first refusal is retried once with a fresh token
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 401, Code: "InvalidAuthenticationToken", Times: 2})
		}, 401, "InvalidAuthenticationToken", false, true, graphmail.NeedsOperator},
		{"403 no Mail.Send", func(s *graphmailtest.Server) { s.SetRoles(s.App().ClientID, []string{"SMTP.SendAsApp"}) }, 403, "ErrorAccessDenied", false, true, graphmail.NeedsOperator},
		{"unknown mailbox", nil, 404, "ErrorInvalidUser", false, false, graphmail.Misconfigured},
		{"REST disabled", func(s *graphmailtest.Server) { s.SetMailboxRESTDisabled(s.Mailboxes()[0]) }, 0, "MailboxNotEnabledForRESTAPI", false, false, graphmail.Refused},
		{"429 exhausted", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 429, Times: 10})
		}, 429, "", true, false, graphmail.Transient},
		{"503", func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: 10})
		}, 503, "", true, false, graphmail.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sender := ""
			f := newFixture(t, func(c *graphmail.Config) {
				c.Policy = graphmail.PolicyNever
				if tt.name == "unknown mailbox" {
					sender = "nobody@sandbox.onmicrosoft.com"
					c.Sender = sender
				}
			})
			if tt.setup != nil {
				tt.setup(f.srv)
			}
			_, err := f.client.Send(context.Background(), textMessage())
			var ge *graphmail.GraphError
			if !errors.As(err, &ge) {
				t.Fatalf("err = %v, want *GraphError", err)
			}
			if tt.status != 0 && ge.StatusCode != tt.status || tt.code != "" && ge.Code != tt.code {
				t.Errorf("status/code = %d %s, want %d %s", ge.StatusCode, ge.Code, tt.status, tt.code)
			}
			if ge.Temporary() != tt.temporary || ge.AuthFailure() != tt.auth {
				t.Errorf("temporary=%v auth=%v, want %v %v", ge.Temporary(), ge.AuthFailure(), tt.temporary, tt.auth)
			}
			if c := graphmail.ClassOf(err); c != tt.class {
				t.Errorf("class %v, want %v", c, tt.class)
			}
			if ge.RequestID == "" {
				t.Error("no request-id kept")
			}
		})
	}
}

func TestNetworkErrorIsTemporary(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) {
		c.Policy = graphmail.PolicyNever
		c.GraphEndpoint = "https://127.0.0.1:1"
	})
	_, err := f.client.Send(context.Background(), textMessage())
	var ge *graphmail.GraphError
	if !errors.As(err, &ge) || ge.StatusCode != 0 || !ge.Temporary() {
		t.Fatalf("err = %v, want a temporary *GraphError without status", err)
	}
}

func TestSlowGraphTimesOut(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever; c.Retry.MaxAttempts = 1 })
	// A first send fetches the token, so that the deadline below can only
	// run out while Graph holds the answer back, however slow the machine.
	if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
		t.Fatal(err)
	}
	f.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 202, Delay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := f.client.Send(ctx, textMessage())
	var ge *graphmail.GraphError
	if !errors.As(err, &ge) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a *GraphError wrapping the deadline", err)
	}
}

// TestOneTokenForManySends: the Graph path asks MSAL per request, MSAL's
// cache answers.
func TestOneTokenForManySends(t *testing.T) {
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := f.srv.TokenRequests("https://graph.microsoft.com"); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := len(f.srv.Messages()); n != 20 {
		t.Errorf("delivered %d, want 20", n)
	}
}
