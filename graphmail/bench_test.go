package graphmail_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// BenchmarkSendVsRawHTTP measures messages per second through
// graphmail.Client against the fake, and through a minimal hand-written
// net/http client posting the same JSON to the same fake with a token
// fetched once, alternating one send of each per iteration so that both see
// the same machine state. It reports both rates, their ratio (target ≥ 0.95)
// and the Graph token requests of the whole run (target 1). "local" is the
// in-process fake answering in a fraction of a millisecond, which shows
// graphmail's own cost per message; "latency=20ms" holds each request 20 ms
// at the fake, closer to Graph.
//
//	go test -run '^$' -bench SendVsRawHTTP/local -benchtime 5000x ./graphmail
//	go test -run '^$' -bench SendVsRawHTTP/latency -benchtime 200x ./graphmail
func BenchmarkSendVsRawHTTP(b *testing.B) {
	for _, latency := range []time.Duration{0, 20 * time.Millisecond} {
		name := "local"
		if latency > 0 {
			name = "latency=" + latency.String()
		}
		b.Run(name, func(b *testing.B) { benchmarkSendVsRaw(b, latency) })
	}
}

func benchmarkSendVsRaw(b *testing.B, latency time.Duration) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	srv.SetLatency(latency)
	f := &fixture{srv: srv}
	client := newBenchClient(b, f)
	body, _, err := client.GraphRequest(textMessage())
	if err != nil {
		b.Fatal(err)
	}
	token, err := srv.IssueToken(srv.App().ClientID, graphmailtest.ResourceGraph)
	if err != nil {
		b.Fatal(err)
	}
	hc := srv.HTTPClient()
	url := srv.GraphEndpoint() + "/v1.0/users/" + srv.Mailboxes()[0] + "/sendMail"
	raw := func() {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("raw send: %s", resp.Status)
		}
	}
	ctx := context.Background()
	// Warm up both: the token, TLS connections.
	if _, err := client.Send(ctx, textMessage()); err != nil {
		b.Fatal(err)
	}
	raw()

	var viaClient, viaRaw time.Duration
	sends := 0
	for b.Loop() {
		m := textMessage()
		t0 := time.Now()
		if _, err := client.Send(ctx, m); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		raw()
		viaRaw += time.Since(t1)
		viaClient += t1.Sub(t0)
		sends++
	}
	clientRate := float64(sends) / viaClient.Seconds()
	rawRate := float64(sends) / viaRaw.Seconds()
	b.ReportMetric(clientRate, "graphmail-msgs/s")
	b.ReportMetric(rawRate, "nethttp-msgs/s")
	b.ReportMetric(clientRate/rawRate, "ratio")
	b.ReportMetric(float64(srv.TokenRequests(graphmailtest.ResourceGraph)), "graph-token-requests")
}

func newBenchClient(b *testing.B, f *fixture) *graphmail.Client {
	b.Helper()
	app := f.srv.App()
	p, err := newProvider(f.srv, app.ClientID, app.Secret)
	if err != nil {
		b.Fatal(err)
	}
	c, err := graphmail.New(graphmail.Config{
		Sender:        f.srv.Mailboxes()[0],
		Credential:    p.TokenCredential(),
		GraphEndpoint: f.srv.GraphEndpoint(),
		HTTPClient:    f.srv.HTTPClient(),
		Policy:        graphmail.PolicyNever,
	})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func newProvider(srv *graphmailtest.Server, clientID, secret string) (*auth.Provider, error) {
	return auth.New(auth.Options{AuthorityHost: srv.AuthorityHost(), TenantID: srv.TenantID(),
		ClientID: clientID, ClientSecret: secret, HTTPClient: srv.HTTPClient()})
}

// TestTokenRequestsPer1000Sends: 1,000 sends from 4 goroutines take one
// Graph token.
func TestTokenRequestsPer1000Sends(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 sends")
	}
	f := newFixture(t, nil)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 250 {
				if _, err := f.client.Send(context.Background(), textMessage()); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for range 4 {
		<-done
	}
	if n := f.srv.TokenRequests(graphmailtest.ResourceGraph); n != 1 {
		t.Errorf("token requests for 1,000 sends = %d, want 1", n)
	}
	if n := len(f.srv.Messages()); n != 1000 {
		t.Errorf("delivered %d", n)
	}
}
