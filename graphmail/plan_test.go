package graphmail_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestPlanMatchesSend: for each policy × size × large-message mode, Plan
// names the path Send then really takes, with the requests it makes.
func TestPlanMatchesSend(t *testing.T) {
	big := patterned(5 << 20)   // over Graph's request limit as base64
	small := patterned(1 << 10) // posted whole
	tests := []struct {
		name      string
		mutate    func(*graphmail.Config)
		msg       func() *graphmail.Message
		path      graphmail.PlanPath
		transport string // what the fake saw; "" for the fallback
		requests  []string
		fallback  bool // FallbackOnFailure
	}{
		{name: "small text as JSON", msg: textMessage, path: graphmail.PlanGraphJSON, transport: graphmailtest.TransportGraphJSON,
			requests: []string{"POST /sendMail"}, fallback: true},
		{name: "text and HTML as MIME", msg: func() *graphmail.Message {
			m := textMessage()
			m.HTML = "<p>all green</p>"
			return m
		}, path: graphmail.PlanGraphMIME, transport: graphmailtest.TransportGraphMIME, requests: []string{"POST /sendMail"}, fallback: true},
		{name: "policy only", mutate: func(c *graphmail.Config) { c.Policy = graphmail.PolicyOnly }, msg: textMessage, path: graphmail.PlanSMTP},
		{name: "large to the fallback", msg: func() *graphmail.Message {
			m := textMessage()
			m.Attachments = []graphmail.Attachment{{Name: "big.bin", Content: big}}
			return m
		}, path: graphmail.PlanSMTP},
		{name: "large through an upload session", mutate: withUploads, msg: func() *graphmail.Message {
			m := textMessage()
			m.Attachments = []graphmail.Attachment{{Name: "big.bin", Content: big}, {Name: "small.bin", Content: small}}
			return m
		}, path: graphmail.PlanUploadSession, transport: graphmailtest.TransportGraphDraft,
			requests: []string{"POST /messages", "POST /messages/{id}/attachments/createUploadSession", "PUT {uploadUrl}", "POST /messages/{id}/attachments", "POST /messages/{id}/send"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mutate)
			grantReadWrite(f.srv)
			m := tt.msg()
			p, err := f.client.Plan(m, graphmail.PlanOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Path != tt.path || p.FallbackOnFailure != tt.fallback {
				t.Errorf("plan path %s fallback-on-failure %v, want %s %v", p.Path, p.FallbackOnFailure, tt.path, tt.fallback)
			}
			var reqs []string
			for _, r := range p.Requests {
				reqs = append(reqs, r.Method+" "+strings.TrimPrefix(r.URL, p.Mailbox))
			}
			if strings.Join(reqs, "; ") != strings.Join(tt.requests, "; ") {
				t.Errorf("requests %q, want %q", reqs, tt.requests)
			}
			if f.srv.GraphRequests("POST sendMail") != 0 || f.fb.count() != 0 {
				t.Fatal("Plan sent something")
			}

			res, err := f.client.Send(context.Background(), m)
			if err != nil {
				t.Fatal(err)
			}
			if res.MessageID != p.MessageID {
				t.Errorf("sent as <%s>, planned <%s>", res.MessageID, p.MessageID)
			}
			if tt.transport == "" {
				if f.fb.count() != 1 || res.Path != "smtp" {
					t.Fatalf("sent via %s, fallback calls %d; plan said smtp", res.Path, f.fb.count())
				}
				call := f.fb.calls[0]
				if call.from != p.MailFrom || strings.Join(call.to, ",") != strings.Join(p.RcptTo, ",") {
					t.Errorf("envelope %s → %v, planned %s → %v", call.from, call.to, p.MailFrom, p.RcptTo)
				}
				if d := int64(len(call.mime)) - p.MIMEBytes; d < -16 || d > 16 {
					t.Errorf("MIME %d bytes, planned %d", len(call.mime), p.MIMEBytes)
				}
				return
			}
			got := f.srv.Messages()
			if len(got) != 1 || got[0].Transport != tt.transport {
				t.Fatalf("delivered %+v, want one by %s", got, tt.transport)
			}
			if p.Path != graphmail.PlanUploadSession && int64(res.Bytes) != p.RequestBytes {
				t.Errorf("request %d bytes, planned %d", res.Bytes, p.RequestBytes)
			}
		})
	}
}

// TestPlanSummarisesAttachments: attachments are named with type, size,
// SHA-256 and upload, and the body leaves their content out unless Full.
func TestPlanSummarisesAttachments(t *testing.T) {
	f := newFixture(t, nil)
	data := patterned(200 << 10)
	sum := sha256.Sum256(data)
	s := &streamed{data: data}
	m := textMessage()
	m.HTML, m.Text = `<img src="cid:logo">`, ""
	m.Attachments = []graphmail.Attachment{s.attachment("data.zip"), {Name: "logo.png", ContentType: "image/png", Content: []byte("png"), Inline: true, ContentID: "logo"}}
	p, err := f.client.Plan(m, graphmail.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Attachments) != 2 {
		t.Fatalf("attachments %+v", p.Attachments)
	}
	a := p.Attachments[0]
	if a.Name != "data.zip" || a.ContentType != "application/zip" || a.Size != int64(len(data)) || a.SHA256 != hex.EncodeToString(sum[:]) || a.Upload {
		t.Errorf("summary %+v", a)
	}
	if b := p.Attachments[1]; !b.Inline || b.ContentID != "logo" {
		t.Errorf("inline summary %+v", b)
	}
	if bytes.Contains(p.Body, []byte("contentBytes")) || len(p.Body) > 4096 || !bytes.Contains(p.Body, []byte(`"contentId":"logo"`)) {
		t.Errorf("summary body has content or lacks the inline id: %.300s", p.Body)
	}
	full, err := f.client.Plan(m, graphmail.PlanOptions{Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(full.Body, []byte(`"contentBytes"`)) || int64(len(full.Body)) != full.RequestBytes {
		t.Errorf("full body %d bytes, request %d", len(full.Body), full.RequestBytes)
	}
}

// TestPlanTooLarge: a message no path carries is refused by Plan as Send
// refuses it.
func TestPlanTooLarge(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.Policy = graphmail.PolicyNever })
	m := textMessage()
	m.Attachments = []graphmail.Attachment{{Name: "big.bin", Content: patterned(5 << 20)}}
	_, err := f.client.Plan(m, graphmail.PlanOptions{})
	var tl *graphmail.TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("Plan: %v, want *TooLargeError", err)
	}
	_, err = f.client.Send(context.Background(), m)
	if !errors.As(err, &tl) {
		t.Fatalf("Send: %v, want *TooLargeError", err)
	}
}

// TestPlanMe: a delegated client's plan goes to /me.
func TestPlanMe(t *testing.T) {
	f := newFixture(t, func(c *graphmail.Config) { c.UseMe = true })
	p, err := f.client.Plan(textMessage(), graphmail.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(p.Mailbox, "/v1.0/me") || p.Requests[0].URL != p.Mailbox+"/sendMail" {
		t.Errorf("mailbox %s, request %s", p.Mailbox, p.Requests[0].URL)
	}
}

// TestPlanMIME: a raw message over the limit with upload sessions is cut
// into a draft and uploaded parts, as SendMIME then does.
func TestPlanMIME(t *testing.T) {
	f := newFixture(t, withUploads)
	grantReadWrite(f.srv)
	m := textMessage()
	m.Attachments = []graphmail.Attachment{{Name: "big.bin", ContentType: "application/octet-stream", Content: patterned(5 << 20)}}
	raw, err := graphmail.RenderMIME(m, graphmail.MIMEOptions{DefaultFrom: graphmail.Address{Address: f.srv.Mailboxes()[0]}})
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.client.PlanMIME(raw, nil, graphmail.PlanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Path != graphmail.PlanUploadSession || len(p.Attachments) != 1 || !p.Attachments[0].Upload || p.Attachments[0].Size != 5<<20 {
		t.Fatalf("plan %s attachments %+v", p.Path, p.Attachments)
	}
	if _, err := f.client.SendMIME(context.Background(), raw, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.srv.Messages(); len(got) != 1 || got[0].Transport != graphmailtest.TransportGraphDraft {
		t.Fatalf("delivered %+v", got)
	}
}
