package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestSendEnvelopeMailbox: Envelope.Mailbox sends through that mailbox
// (users/{mailbox}/sendMail, and MAIL FROM over SMTP), and the audit line
// names it with the queue id.
func TestSendEnvelopeMailbox(t *testing.T) {
	var logs bytes.Buffer
	f := newFixtureWith(t, graphmailtest.Options{Mailboxes: []string{"relay@example.com", "scanner@example.com"}}, func(c *graphmail.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		c.LogSubject = true
	})
	raw := "From: scanner@example.com\r\nTo: a@example.com\r\nSubject: =?utf-8?q?Scan_=C3=A4?=\r\n\r\nbody\r\n"
	res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"a@example.com"}, Mailbox: "scanner@example.com", QueueID: "q123"}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if res.Mailbox != "scanner@example.com" {
		t.Errorf("Result.Mailbox %q", res.Mailbox)
	}
	got := f.srv.Messages()
	if len(got) != 1 || !strings.EqualFold(got[0].Mailbox, "scanner@example.com") {
		t.Fatalf("delivered %+v, want one message from scanner@", got)
	}
	line := logs.String()
	for _, want := range []string{"queue_id=q123", "mailbox=scanner@example.com", `subject="Scan ä"`} {
		if !strings.Contains(line, want) {
			t.Errorf("audit line lacks %s:\n%s", want, line)
		}
	}

	// Over SMTP the mailbox is the envelope sender.
	g := newFixtureWith(t, graphmailtest.Options{Mailboxes: []string{"relay@example.com", "scanner@example.com"}}, func(c *graphmail.Config) {
		c.Policy = graphmail.PolicyOnly
	})
	if _, err := g.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"a@example.com"}, Mailbox: "scanner@example.com"}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if g.fb.calls[0].from != "scanner@example.com" {
		t.Errorf("fallback MAIL FROM %q, want the mailbox", g.fb.calls[0].from)
	}

	// A mailbox that is not an address is refused before anything is sent.
	_, err = f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"a@example.com"}, Mailbox: "scanner\r\nx"}, []byte(raw))
	if graphmail.ClassOf(err) != graphmail.BadMessage {
		t.Errorf("bad mailbox: %v (class %v), want a bad message", err, graphmail.ClassOf(err))
	}
}

// TestForMailboxProbe: Probe on ForMailbox checks that mailbox.
func TestForMailboxProbe(t *testing.T) {
	f := newFixtureWith(t, graphmailtest.Options{Mailboxes: []string{"relay@example.com", "scanner@example.com"}}, nil)
	ok, err := f.client.ForMailbox("scanner@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := ok.Probe(context.Background()); err != nil {
		t.Errorf("probe of an existing mailbox: %v", err)
	}
	missing, err := f.client.ForMailbox("nobody@example.com")
	if err != nil {
		t.Fatal(err)
	}
	var ge *graphmail.GraphError
	if err := missing.Probe(context.Background()); !errors.As(err, &ge) || ge.StatusCode != 404 {
		t.Errorf("probe of a missing mailbox: %v, want Graph 404", err)
	}
	if same, _ := f.client.ForMailbox(""); same != f.client {
		t.Error(`ForMailbox("") should return the client itself`)
	}
}

// TestSendEnvelopePartial: one bad recipient does not sink the message for
// the others when Partial is set; without it nothing is sent.
func TestSendEnvelopePartial(t *testing.T) {
	raw := "From: sandbox@sandbox.onmicrosoft.com\r\nTo: good@example.com, bad@example.com\r\nCc: other@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	env := []string{"good@example.com", "bad@example.com", "other@example.com"}
	tests := []struct {
		name      string
		partial   bool
		policy    graphmail.Policy
		to        []string
		wantErr   graphmail.Class
		delivered []string
		rejected  []string
	}{
		{name: "graph, partial: one copy per recipient", partial: true, policy: graphmail.PolicyNever, to: env,
			delivered: []string{"good@example.com", "other@example.com"}, rejected: []string{"bad@example.com"}},
		{name: "graph, not partial: nothing sent", policy: graphmail.PolicyNever, to: env, wantErr: graphmail.BadMessage},
		{name: "graph, partial, every recipient refused", partial: true, policy: graphmail.PolicyNever, to: []string{"bad@example.com"},
			wantErr: graphmail.BadMessage},
		{name: "an envelope address that is no address", partial: true, policy: graphmail.PolicyNever, to: []string{"good@example.com", "no address"},
			delivered: []string{"good@example.com"}, rejected: []string{"no address"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *graphmail.Config) { c.Policy = tt.policy })
			f.srv.SetUnresolvable("bad@example.com")
			res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: tt.to, Partial: tt.partial}, []byte(raw))
			if tt.wantErr != graphmail.None {
				if err == nil || graphmail.ClassOf(err) != tt.wantErr {
					t.Fatalf("err %v (class %v), want class %v", err, graphmail.ClassOf(err), tt.wantErr)
				}
				if n := len(f.srv.Messages()); n != 0 {
					t.Errorf("%d messages delivered, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range f.srv.Messages() {
				got = append(got, m.Recipients...)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.delivered) {
				t.Errorf("delivered to %v, want %v", got, tt.delivered)
			}
			var rej []string
			for _, r := range res.Rejected {
				rej = append(rej, r.Address)
				var re *graphmail.RecipientError
				if !errors.As(r.Err, &re) || re.Address != r.Address {
					t.Errorf("rejection %v: want a *RecipientError naming %s", r.Err, r.Address)
				}
			}
			if !slices.Equal(rej, tt.rejected) {
				t.Errorf("rejected %v, want %v", rej, tt.rejected)
			}
		})
	}
}

// partialFallback refuses one recipient and delivers to the others.
type partialFallback struct {
	recordingFallback
	refuse string
}

func (p *partialFallback) SendPartial(ctx context.Context, from string, to []string, mime []byte) (string, []graphmail.Rejection, error) {
	var keep []string
	var rej []graphmail.Rejection
	for _, a := range to {
		if a == p.refuse {
			rej = append(rej, graphmail.Rejection{Address: a, Err: errors.New("550 5.1.1 unknown")})
			continue
		}
		keep = append(keep, a)
	}
	reply, err := p.Send(ctx, from, keep, mime)
	return reply, rej, err
}

// TestSendEnvelopePartialFallback: over SMTP a PartialFallback reports the
// refused recipients and the message goes to the others.
func TestSendEnvelopePartialFallback(t *testing.T) {
	pf := &partialFallback{refuse: "bad@example.com"}
	f := newFixture(t, func(c *graphmail.Config) {
		c.Policy = graphmail.PolicyOnly
		c.Fallback = pf
	})
	raw := "From: sandbox@sandbox.onmicrosoft.com\r\nTo: good@example.com, bad@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"good@example.com", "bad@example.com"}, Partial: true}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Address != "bad@example.com" {
		t.Errorf("rejected %+v", res.Rejected)
	}
	if len(pf.calls) != 1 || !slices.Equal(pf.calls[0].to, []string{"good@example.com"}) {
		t.Errorf("fallback calls %+v", pf.calls)
	}
	// Without Partial the plain Send is used.
	if _, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"good@example.com", "bad@example.com"}}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	if len(pf.calls) != 2 || len(pf.calls[1].to) != 2 {
		t.Errorf("without Partial: calls %+v", pf.calls)
	}
}
