package graphmail_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestSizeRouting covers each branch of the size decision.
func TestSizeRouting(t *testing.T) {
	tests := []struct {
		name      string
		attach    int // bytes, one attachment
		both      bool
		cfg       func(*graphmail.Config)
		wantPath  string
		transport string
		tooLarge  bool
		fallback  bool
	}{
		{name: "small: one sendMail", attach: 1 << 20, wantPath: "graph", transport: graphmailtest.TransportGraphJSON},
		{name: "small MIME: one sendMail", attach: 1 << 20, both: true, wantPath: "graph", transport: graphmailtest.TransportGraphMIME},
		{name: "just under 4 MB request", attach: 3<<20 - 4096, wantPath: "graph", transport: graphmailtest.TransportGraphJSON},
		{name: "large with upload session", attach: 5 << 20, cfg: withUploads, wantPath: "graph", transport: graphmailtest.TransportGraphDraft},
		{name: "large MIME with upload session", attach: 5 << 20, both: true, cfg: withUploads, wantPath: "graph", transport: graphmailtest.TransportGraphDraft},
		{name: "large to fallback", attach: 5 << 20, wantPath: "smtp", fallback: true},
		{name: "large over the fallback limit", attach: 5 << 20, cfg: func(c *graphmail.Config) { c.MaxFallbackBytes = 4 << 20 }, tooLarge: true},
		{name: "large, policy never", attach: 5 << 20, cfg: func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever }, tooLarge: true},
		{name: "large, no fallback", attach: 5 << 20, cfg: func(c *graphmail.Config) { c.Fallback = nil }, tooLarge: true},
		{name: "over 150 MB for an upload session", attach: 151 << 20, cfg: withUploads, tooLarge: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.cfg)
			grantReadWrite(f.srv)
			m := textMessage()
			if tt.both {
				m.HTML = "<p>all green</p>"
			}
			s := &streamed{data: make([]byte, min(tt.attach, 6<<20)), size: int64(tt.attach)}
			m.Attachments = []graphmail.Attachment{s.attachment("data.zip")}
			res, err := f.client.Send(context.Background(), m)
			if tt.tooLarge {
				var tl *graphmail.TooLargeError
				var me *graphmail.MessageError
				if !errors.As(err, &tl) || !errors.As(err, &me) {
					t.Fatalf("err = %v, want *TooLargeError wrapping *MessageError", err)
				}
				if tl.RequestBytes == 0 && !tl.UploadSession || graphmail.ClassOf(err) != graphmail.BadMessage {
					t.Errorf("too large: %+v, class %v; want the sizes and bad-message", tl, graphmail.ClassOf(err))
				}
				if s.opens != 0 || len(f.srv.Messages()) != 0 || f.fb.count() != 0 {
					t.Errorf("opens %d delivered %d fallback %d, want nothing read or sent", s.opens, len(f.srv.Messages()), f.fb.count())
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Path != tt.wantPath {
				t.Errorf("path = %s, want %s", res.Path, tt.wantPath)
			}
			if tt.fallback {
				if f.fb.count() != 1 || f.srv.GraphRequests("") != 0 || !strings.Contains(res.FallbackReason, "too large") {
					t.Errorf("fallback calls %d, graph requests %d, reason %q", f.fb.count(), f.srv.GraphRequests(""), res.FallbackReason)
				}
				return
			}
			if got := f.srv.Messages(); len(got) != 1 || got[0].Transport != tt.transport {
				t.Fatalf("delivered %d, transport %v, want %s", len(got), got, tt.transport)
			}
		})
	}
}

// TestGraph413FallsBack: a request Graph refuses as too large (our estimate
// was off, or Graph's limit is lower) is handed to the fallback.
func TestGraph413FallsBack(t *testing.T) {
	f := newFixture(t, nil)
	f.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 413, Code: "ErrorMessageSizeExceeded"})
	res, err := f.client.Send(context.Background(), textMessage())
	if err != nil || res.Path != "smtp" || !strings.Contains(res.FallbackReason, "too large") {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestMaxMessageBytes(t *testing.T) {
	graphOnly := int64(graphmail.MaxRequestBytes/4*3 - 16<<10)
	tests := []struct {
		policy   graphmail.Policy
		large    graphmail.LargeMessages
		fallback int64
		want     int64
	}{
		{graphmail.PolicyNever, "", 0, graphOnly},
		{graphmail.PolicyNever, graphmail.LargeUploadSession, 0, graphmail.MaxAttachmentBytes},
		{graphmail.PolicyAuto, "", 0, graphmail.DefaultMaxFallbackBytes},
		{graphmail.PolicyAuto, "", 10 << 20, 10 << 20},
		{graphmail.PolicyAuto, "", 1 << 20, graphOnly},
		{graphmail.PolicyAuto, graphmail.LargeUploadSession, 0, graphmail.MaxAttachmentBytes},
		{graphmail.PolicyOnly, graphmail.LargeUploadSession, 20 << 20, 20 << 20},
	}
	for _, tt := range tests {
		if got := graphmail.MaxMessageBytes(tt.policy, tt.large, tt.fallback); got != tt.want {
			t.Errorf("MaxMessageBytes(%q, %q, %d) = %d, want %d", tt.policy, tt.large, tt.fallback, got, tt.want)
		}
	}
	// What the Graph-only limit lets through fits one request as base64.
	if enc := (graphOnly + 2) / 3 * 4; enc > graphmail.MaxRequestBytes {
		t.Errorf("a %d-byte message is %d bytes of base64, over the request limit", graphOnly, enc)
	}
}
