package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

const rawMessage = "From: Sandbox <sandbox@sandbox.onmicrosoft.com>\r\n" +
	"To: ops@example.com\r\n" +
	"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n" +
	"Message-ID: <raw-1@example.com>\r\n" +
	"X-Odd:   spacing   kept  \r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"Gr=C3=BC=C3=9Fe,=20\r\n" +
	"trailing space above and no final newline"

func TestSendMIMEByteExact(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		extra      []string
		wantPrefix string // what precedes the original bytes at Graph
		wantRcpts  string
	}{
		{name: "no extra recipients", raw: rawMessage, wantRcpts: "ops@example.com"},
		{name: "extra already in To", raw: rawMessage, extra: []string{"OPS@example.com"}, wantRcpts: "ops@example.com"},
		{name: "extra become Bcc", raw: rawMessage, extra: []string{"audit@example.com", "boss@example.com"},
			wantPrefix: "Bcc: audit@example.com, boss@example.com\r\n", wantRcpts: "ops@example.com,audit@example.com,boss@example.com"},
		{name: "folded Message-ID", raw: strings.Replace(rawMessage, "Message-ID: <raw-1", "Message-ID:\r\n <raw-1", 1), wantRcpts: "ops@example.com"},
		{name: "LF message keeps LF", raw: strings.ReplaceAll(rawMessage, "\r\n", "\n"), extra: []string{"audit@example.com"},
			wantPrefix: "Bcc: audit@example.com\n", wantRcpts: "ops@example.com,audit@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			var extra []graphmail.Address
			for _, e := range tt.extra {
				extra = append(extra, graphmail.Address{Address: e})
			}
			res, err := f.client.SendMIME(context.Background(), []byte(tt.raw), extra)
			if err != nil {
				t.Fatal(err)
			}
			d := f.srv.Messages()[0]
			if d.Transport != graphmailtest.TransportGraphMIME || res.MessageID != "raw-1@example.com" {
				t.Errorf("transport %s message id %s", d.Transport, res.MessageID)
			}
			if want := tt.wantPrefix + tt.raw; !bytes.Equal(d.MIME, []byte(want)) {
				t.Errorf("at Graph:\n%q\nwant\n%q", d.MIME, want)
			}
			if got := strings.Join(d.Recipients, ","); got != tt.wantRcpts {
				t.Errorf("recipients %s, want %s", got, tt.wantRcpts)
			}
		})
	}
}

func TestSendMIMEMergesExistingBcc(t *testing.T) {
	raw := strings.Replace(rawMessage, "Subject:", "Bcc: first@example.com,\r\n second@example.com\r\nSubject:", 1)
	f := newFixture(t, nil)
	if _, err := f.client.SendMIME(context.Background(), []byte(raw), []graphmail.Address{{Address: "third@example.com"}}); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(raw, "second@example.com\r\n", "second@example.com, third@example.com\r\n", 1)
	if d := f.srv.Messages()[0]; string(d.MIME) != want {
		t.Errorf("at Graph:\n%q\nwant\n%q", d.MIME, want)
	}
}

func TestSendMIMEFallbackGetsOriginalBytes(t *testing.T) {
	tests := []struct {
		name   string
		cfg    func(*graphmail.Config)
		setup  func(*graphmailtest.Server)
		raw    string
		reason string
	}{
		{name: "graph 503", setup: func(s *graphmailtest.Server) {
			s.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 503, Times: -1})
		}, raw: rawMessage, reason: "graph server error 503"},
		{name: "too large for graph", raw: rawMessage + strings.Repeat("x", 3<<20), reason: "too large"},
		{name: "policy only", cfg: func(c *graphmail.Config) { c.Policy = graphmail.PolicyOnly }, raw: rawMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			if tt.setup != nil {
				tt.setup(f.srv)
			}
			res, err := f.client.SendMIME(context.Background(), []byte(tt.raw), []graphmail.Address{{Address: "audit@example.com"}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != "smtp" || !strings.Contains(res.FallbackReason, tt.reason) {
				t.Errorf("result %+v", res)
			}
			call := f.fb.calls[0]
			if string(call.mime) != tt.raw {
				t.Error("the fallback did not get the message byte for byte")
			}
			if strings.Join(call.to, ",") != "ops@example.com,audit@example.com" || call.from != graphmailtest.DefaultMailbox {
				t.Errorf("envelope from %s to %v", call.from, call.to)
			}
		})
	}
}

func TestSendMIMEErrors(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		cfg   func(*graphmail.Config)
		check func(error) bool
	}{
		{"no header", "just text", nil, isMessageError},
		{"no recipients", "Subject: x\r\n\r\nbody", nil, isMessageError},
		{"too large, graph only", rawMessage + strings.Repeat("x", 3<<20), func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever }, func(err error) bool {
			var tl *graphmail.TooLargeError
			return errors.As(err, &tl) && isMessageError(err)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			_, err := f.client.SendMIME(context.Background(), []byte(tt.raw), nil)
			if !tt.check(err) {
				t.Errorf("err = %v", err)
			}
			if f.srv.GraphRequests("") != 0 {
				t.Error("a bad message reached Graph")
			}
		})
	}
}

func isMessageError(err error) bool {
	var me *graphmail.MessageError
	return errors.As(err, &me)
}
