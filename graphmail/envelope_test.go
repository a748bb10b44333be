package graphmail_test

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/smtpfallback"
)

func headerOf(t *testing.T, raw []byte) mail.Header {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("delivered message does not parse: %v\n%s", err, raw)
	}
	return m.Header
}

// TestSendEnvelopeGraphNarrows: without the SMTP fallback, a header-only
// address receives nothing and an envelope-only address receives the
// message; To and Cc show envelope addresses only.
func TestSendEnvelopeGraphNarrows(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
	raw := "From: <" + f.srv.Mailboxes()[0] + ">\r\nTo: Other <other@example.com>, Only <only@example.com>\r\nCc: cc@example.com\r\n" +
		"Bcc: hidden@example.com\r\nResent-Bcc: resent@example.com\r\nSubject: envelope\r\n\r\nbody\r\n"
	res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com", "extra@example.com"}}, []byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "graph" {
		t.Errorf("path %q, want graph", res.Path)
	}
	got := f.srv.Messages()
	if len(got) != 1 {
		t.Fatalf("delivered %d, want 1", len(got))
	}
	rcpts := slices.Sorted(slices.Values(got[0].Recipients))
	if want := []string{"extra@example.com", "only@example.com"}; !slices.Equal(rcpts, want) {
		t.Errorf("Graph delivered to %v, want %v", rcpts, want)
	}
	h := headerOf(t, got[0].MIME)
	if to := h.Get("To"); !strings.Contains(to, "only@example.com") || strings.Contains(to, "other@") {
		t.Errorf("To %q: want only the envelope address", to)
	}
	if h.Get("Cc") != "" || h.Get("Resent-Bcc") != "" {
		t.Errorf("Cc %q Resent-Bcc %q: want both gone", h.Get("Cc"), h.Get("Resent-Bcc"))
	}
}

// TestSendEnvelopeAgreeingIsUnchanged: when the header names exactly the
// envelope, Graph gets the message as written.
func TestSendEnvelopeAgreeingIsUnchanged(t *testing.T) {
	f := newFixture(t, nil)
	raw := "From: <" + f.srv.Mailboxes()[0] + ">\r\nTo: a@example.com\r\nBcc: b@example.com\r\nSubject: same\r\n\r\nbody\r\n"
	if _, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"A@example.com", "b@example.com"}}, []byte(raw)); err != nil {
		t.Fatal(err)
	}
	got := f.srv.Messages()
	if len(got) != 1 || f.fb.count() != 0 {
		t.Fatalf("delivered %d via graph, %d via smtp; want 1 via graph", len(got), f.fb.count())
	}
	if !strings.Contains(string(got[0].MIME), "To: a@example.com\r\nBcc: b@example.com\r\n") {
		t.Errorf("header changed:\n%s", got[0].MIME)
	}
}

// TestSendEnvelopePrefersSMTP: with the fallback allowed, a message whose
// header and envelope disagree goes over SMTP, to the envelope, without
// Bcc or Resent-Bcc in its bytes; when SMTP cannot take it now, Graph gets
// the narrowed header; when SMTP refuses the recipient, nothing else is
// tried.
func TestSendEnvelopePrefersSMTP(t *testing.T) {
	raw := "To: other@example.com\r\nBcc: hidden@example.com\r\nResent-Bcc: r@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	t.Run("smtp", func(t *testing.T) {
		f := newFixture(t, nil)
		res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com"}}, []byte(raw))
		if err != nil || res.Path != "smtp" {
			t.Fatalf("path %q err %v, want smtp", res.Path, err)
		}
		c := f.fb.calls[0]
		if !slices.Equal(c.to, []string{"only@example.com"}) || strings.Contains(string(c.mime), "Bcc") || len(f.srv.Messages()) != 0 {
			t.Errorf("smtp got rcpt %v and\n%s\ngraph %d; want only@, no Bcc lines, nothing through graph", c.to, c.mime, len(f.srv.Messages()))
		}
	})
	t.Run("smtp down", func(t *testing.T) {
		f := newFixture(t, nil)
		f.fb.err = &smtpfallback.NetError{Stage: smtpfallback.StageConnect, Err: errors.New("connection refused")}
		res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com"}}, []byte(raw))
		if err != nil || res.Path != "graph" {
			t.Fatalf("path %q err %v, want graph after smtp failed", res.Path, err)
		}
		if got := f.srv.Messages(); len(got) != 1 || !slices.Equal(got[0].Recipients, []string{"only@example.com"}) {
			t.Errorf("graph delivered %+v, want only@", got)
		}
	})
	t.Run("recipient refused", func(t *testing.T) {
		f := newFixture(t, nil)
		f.fb.err = &smtpfallback.SMTPError{Code: 550, EnhancedCode: [3]int{5, 1, 1}, Stage: smtpfallback.StageRcpt, Recipient: "only@example.com"}
		_, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com"}}, []byte(raw))
		if graphmail.ClassOf(err) != graphmail.BadMessage || len(f.srv.Messages()) != 0 {
			t.Errorf("err %v (class %v), graph %d; want a bad-message error and nothing through graph", err, graphmail.ClassOf(err), len(f.srv.Messages()))
		}
	})
}

// TestSendEnvelopeBoundsDeliveries: one envelope recipient and 600 header
// recipients deliver one copy (the relay's max_recipients bounds the
// envelope, so it bounds deliveries).
func TestSendEnvelopeBoundsDeliveries(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
	var b strings.Builder
	b.WriteString("To: ")
	for i := range 600 {
		if i > 0 {
			b.WriteString(",\r\n ")
		}
		fmt.Fprintf(&b, "r%d@example.com", i)
	}
	b.WriteString("\r\nSubject: many\r\n\r\nbody\r\n")
	if _, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"r7@example.com"}}, []byte(b.String())); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Messages(); len(got) != 1 || !slices.Equal(got[0].Recipients, []string{"r7@example.com"}) {
		t.Errorf("delivered to %v, want [r7@example.com]", got[0].Recipients)
	}
}

// TestSendMIMEStripsBccForSMTP: a raw message handed to the SMTP fallback
// carries no Bcc or Resent-Bcc line.
func TestSendMIMEStripsBccForSMTP(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyOnly })
	raw := "To: a@example.com\r\nBcc: b@example.com\r\nResent-Bcc: c@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	if _, err := f.client.SendMIME(context.Background(), []byte(raw), nil); err != nil {
		t.Fatal(err)
	}
	c := f.fb.calls[0]
	if strings.Contains(string(c.mime), "Bcc") || !slices.Contains(c.to, "b@example.com") {
		t.Errorf("smtp rcpt %v, bytes:\n%s\nwant b@ in the envelope and no Bcc line", c.to, c.mime)
	}
}

// TestSendEnvelopeExtraRecipientsUseGraph: envelope recipients the header
// lacks (sendmail's Bcc, RCPT TO) go to Graph's Bcc, not to SMTP: nothing
// in the header must be suppressed.
func TestSendEnvelopeExtraRecipientsUseGraph(t *testing.T) {
	f := newFixture(t, nil)
	raw := "To: a@example.com\r\nSubject: s\r\n\r\nbody\r\n"
	res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"a@example.com", "audit@example.com"}}, []byte(raw))
	if err != nil || res.Path != "graph" || f.fb.count() != 0 {
		t.Fatalf("path %q err %v smtp %d; want graph only", res.Path, err, f.fb.count())
	}
	got := f.srv.Messages()[0]
	if !slices.Contains(got.Recipients, "audit@example.com") || !strings.Contains(string(got.MIME), "Bcc: audit@example.com\r\n") {
		t.Errorf("recipients %v, mime:\n%s\nwant audit@ as Bcc", got.Recipients, got.MIME)
	}
}

// pathLimitErr is a fallback's refusal of a message it cannot carry at
// all (smtpfallback's LineLengthError), while another path may.
type pathLimitErr struct{}

func (pathLimitErr) Error() string    { return "line too long for SMTP and cannot be re-encoded" }
func (pathLimitErr) BadMessage() bool { return true }
func (pathLimitErr) PathLimit() bool  { return true }

// TestLongLinesAndTheFallback: a relayed message with a 5,000-octet line
// (printers send them) goes to the fallback like any other (smtpfallback
// re-encodes it); when the fallback cannot carry it at all (a signed
// message), the narrowed Graph path takes it, and after a Graph failure
// Graph's temporary error is kept so the message is retried, never
// dead-lettered for SMTP's limit.
func TestLongLinesAndTheFallback(t *testing.T) {
	long := strings.Repeat("x", 5000)
	raw := "To: other@example.com\r\nSubject: scan\r\n\r\n" + long + "\r\n"
	f := newFixture(t, nil)
	res, err := f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com"}}, []byte(raw))
	if err != nil || res.Path != "smtp" || f.fb.count() != 1 {
		t.Fatalf("path %q err %v smtp %d; want smtp first (the header names another recipient)", res.Path, err, f.fb.count())
	}

	f = newFixture(t, nil)
	f.fb.err = pathLimitErr{}
	res, err = f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"only@example.com"}}, []byte(raw))
	if err != nil || res.Path != "graph" {
		t.Fatalf("path %q err %v; want graph after SMTP could not carry it", res.Path, err)
	}

	f = newFixture(t, nil)
	f.fb.err = pathLimitErr{}
	f.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: 10})
	_, err = f.client.SendEnvelope(context.Background(), graphmail.Envelope{To: []string{"other@example.com"}}, []byte(raw))
	if graphmail.ClassOf(err) != graphmail.Transient || f.fb.count() != 1 {
		t.Errorf("err %v (class %v), smtp %d; want Graph's transient error after one SMTP try", err, graphmail.ClassOf(err), f.fb.count())
	}
}
