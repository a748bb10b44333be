package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// patterned returns n bytes that differ at every offset modulo 251, so a
// chunk stored at the wrong offset is noticed.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// streamed is an attachment read through Open, counting opens and the
// largest single read.
type streamed struct {
	data  []byte
	size  int64 // overrides len(data) when set
	mu    sync.Mutex
	opens int
}

func (s *streamed) attachment(name string) graphmail.Attachment {
	size := s.size
	if size == 0 {
		size = int64(len(s.data))
	}
	return graphmail.Attachment{Name: name, ContentType: "application/zip", Size: size,
		Open: func() (io.ReadCloser, error) {
			s.mu.Lock()
			s.opens++
			s.mu.Unlock()
			return io.NopCloser(bytes.NewReader(s.data)), nil
		}}
}

func withUploads(c *graphmail.Config) {
	c.LargeMessages = graphmail.LargeUploadSession
	c.Policy = graphmail.PolicyNever
}

func grantReadWrite(srv *graphmailtest.Server) {
	srv.SetRoles(srv.App().ClientID, []string{"Mail.Send", "Mail.ReadWrite", "SMTP.SendAsApp"})
}

func TestUploadSession(t *testing.T) {
	var progress []int64
	f := newFixture(t, func(c *graphmail.Config) {
		withUploads(c)
		c.Progress = func(name string, sent, total int64) { progress = append(progress, sent) }
	})
	grantReadWrite(f.srv)
	big := &streamed{data: patterned(9<<20 + 12345)}
	small := patterned(100 << 10)
	m := textMessage()
	m.Attachments = []graphmail.Attachment{big.attachment("big.zip"), {Name: "small.bin", Content: small}}
	res, err := f.client.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "graph" {
		t.Errorf("path = %s", res.Path)
	}
	got := f.srv.Messages()
	if len(got) != 1 || got[0].Transport != graphmailtest.TransportGraphDraft {
		t.Fatalf("delivered %+v", got)
	}
	d := got[0]
	if d.MessageID != "<"+m.MessageID+">" || strings.Join(d.Recipients, ",") != "ops@example.com,audit@example.com" {
		t.Errorf("message id %s recipients %v", d.MessageID, d.Recipients)
	}
	atts := map[string][]byte{}
	for _, a := range d.Message.Attachments {
		atts[a.Name] = a.ContentBytes
	}
	if !bytes.Equal(atts["big.zip"], big.data) || !bytes.Equal(atts["small.bin"], small) {
		t.Errorf("attachments differ: big %d bytes, small %d bytes", len(atts["big.zip"]), len(atts["small.bin"]))
	}
	// 9 MB in 3.75 MiB chunks: three PUTs.
	if len(progress) != 3 || progress[2] != int64(len(big.data)) {
		t.Errorf("progress = %v", progress)
	}
	if f.srv.Drafts() != 0 || f.srv.GraphRequests("POST sendMail") != 0 {
		t.Errorf("drafts left %d, sendMail calls %d", f.srv.Drafts(), f.srv.GraphRequests("POST sendMail"))
	}
	if big.opens != 1 {
		t.Errorf("opened %d times, want 1", big.opens)
	}
}

func TestUploadResumesAfterDroppedChunk(t *testing.T) {
	tests := []struct {
		name    string
		failure graphmailtest.Failure
	}{
		{"connection cut mid-chunk", graphmailtest.Failure{Endpoint: graphmailtest.EndpointUpload, Drop: true}},
		{"503 on a chunk", graphmailtest.Failure{Endpoint: graphmailtest.EndpointUpload, Status: 503}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, withUploads)
			grantReadWrite(f.srv)
			big := &streamed{data: patterned(8 << 20)}
			m := textMessage()
			m.Attachments = []graphmail.Attachment{big.attachment("big.zip")}
			f.srv.Fail(tt.failure)
			if _, err := f.client.Send(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			d := f.srv.Messages()[0]
			if !bytes.Equal(d.Message.Attachments[0].ContentBytes, big.data) {
				t.Error("uploaded content differs from the file")
			}
			if len(f.waits) != 1 {
				t.Errorf("waits = %v, want one backoff", f.waits)
			}
		})
	}
}

func TestFailedUploadDeletesDraft(t *testing.T) {
	f := newFixture(t, withUploads)
	grantReadWrite(f.srv)
	f.srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointUpload, Status: 503, Times: -1})
	m := textMessage()
	m.Attachments = []graphmail.Attachment{(&streamed{data: patterned(5 << 20)}).attachment("big.zip")}
	_, err := f.client.Send(context.Background(), m)
	var ue *graphmail.UploadError
	var ge *graphmail.GraphError
	if !errors.As(err, &ue) || !errors.As(err, &ge) || ge.StatusCode != 503 || !ge.Temporary() {
		t.Fatalf("err = %v, want an *UploadError wrapping a temporary 503", err)
	}
	if f.srv.Drafts() != 0 || f.srv.DeletedDrafts() != 1 || len(f.srv.Messages()) != 0 {
		t.Errorf("drafts %d deleted %d delivered %d, want 0 1 0", f.srv.Drafts(), f.srv.DeletedDrafts(), len(f.srv.Messages()))
	}
}

func TestUploadWithoutReadWrite(t *testing.T) {
	f := newFixture(t, withUploads)
	m := textMessage()
	m.Attachments = []graphmail.Attachment{{Name: "big.bin", Content: patterned(5 << 20)}}
	_, err := f.client.Send(context.Background(), m)
	var ue *graphmail.UploadError
	var ge *graphmail.GraphError
	if !errors.As(err, &ue) || !errors.As(err, &ge) || ge.StatusCode != 403 || graphmail.ClassOf(err) != graphmail.NeedsOperator {
		t.Fatalf("err = %v, want an *UploadError wrapping Graph's 403 (needs an operator)", err)
	}
}
