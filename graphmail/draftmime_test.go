package graphmail_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// scanMessage is a relayed scan: a text body, a PDF of pdfSize bytes in
// base64 with 76-character lines, and an inline logo with a Content-ID.
func scanMessage(from, header string, pdf, logo []byte) []byte {
	var b bytes.Buffer
	b.WriteString("From: Scanner <" + from + ">\r\n" + header + "Subject: scan\r\nMessage-ID: <scan-large@example.com>\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"==scan==\"\r\n\r\n--==scan==\r\n" +
		"Content-Type: multipart/related; boundary=rel\r\n\r\n--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>scan <img src=\"cid:logo@printer\"></p>\r\n" +
		"--rel\r\nContent-Type: image/png\r\nContent-ID: <logo@printer>\r\nContent-Transfer-Encoding: base64\r\n\r\n")
	writeB64(&b, logo)
	b.WriteString("\r\n--rel--\r\n\r\n--==scan==\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\nContent-Transfer-Encoding: base64\r\n" +
		"Content-Disposition: attachment; filename*=UTF-8''Scan%20K%C3%B6ln.pdf\r\n\r\n")
	writeB64(&b, pdf)
	b.WriteString("\r\n--==scan==--\r\n")
	return b.Bytes()
}

func writeB64(b *bytes.Buffer, data []byte) {
	s := base64.StdEncoding.EncodeToString(data)
	for len(s) > 76 {
		b.WriteString(s[:76] + "\r\n")
		s = s[76:]
	}
	b.WriteString(s)
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

// spoolFile writes raw to a file and opens it, as the spool hands it over.
func spoolFile(t *testing.T, raw []byte) (*os.File, int64) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "msg")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, int64(len(raw))
}

func TestSendEnvelopeFileUploadSession(t *testing.T) {
	f := newFixture(t, withUploads)
	grantReadWrite(f.srv)
	from := f.srv.Mailboxes()[0]
	pdf := patterned(9<<20 + 777)
	logo := patterned(3<<20 + 5) // too large to stay: an inline upload
	raw := scanMessage(from, "To: ops@example.com\r\nBcc: old@example.com\r\nResent-Bcc: resent@example.com\r\n", pdf, logo)
	file, size := spoolFile(t, raw)
	env := graphmail.Envelope{To: []string{"ops@example.com", "hidden@example.com"}, QueueID: "q1"}
	res, err := f.client.SendEnvelopeFile(context.Background(), env, file, size)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != "graph" || !res.UploadSession || res.MessageID != "scan-large@example.com" {
		t.Errorf("result %+v", res)
	}
	msgs := f.srv.Messages()
	if len(msgs) != 1 || msgs[0].Transport != graphmailtest.TransportGraphDraft {
		t.Fatalf("delivered %+v", msgs)
	}
	d := msgs[0]
	if len(d.Attachments) != 2 {
		t.Fatalf("%d attachments added to the draft, want 2", len(d.Attachments))
	}
	// The larger part is cut first, but parts are added in message order.
	logoAtt, pdfAtt := d.Attachments[0], d.Attachments[1]
	if pdfAtt.Name != "Scan Köln.pdf" || pdfAtt.ContentType != "application/pdf" || pdfAtt.IsInline || digest(pdfAtt.ContentBytes) != digest(pdf) {
		t.Errorf("pdf: %q %q inline=%v, %d bytes, identical=%v", pdfAtt.Name, pdfAtt.ContentType, pdfAtt.IsInline, len(pdfAtt.ContentBytes), digest(pdfAtt.ContentBytes) == digest(pdf))
	}
	if !logoAtt.IsInline || logoAtt.ContentID != "logo@printer" || digest(logoAtt.ContentBytes) != digest(logo) {
		t.Errorf("logo: inline=%v cid=%q identical=%v", logoAtt.IsInline, logoAtt.ContentID, digest(logoAtt.ContentBytes) == digest(logo))
	}
	// Envelope semantics: the header-only Bcc is narrowed away, the
	// envelope-only recipient added, Resent-Bcc removed.
	rcpts := slices.Sorted(slices.Values(d.Recipients))
	if !slices.Equal(rcpts, []string{"hidden@example.com", "ops@example.com"}) {
		t.Errorf("recipients %v", rcpts)
	}
	if bytes.Contains(d.MIME, []byte("resent@example.com")) || bytes.Contains(d.MIME, []byte("old@example.com")) {
		t.Error("the draft kept Resent-Bcc or the header-only Bcc")
	}
	if !bytes.Contains(d.MIME, []byte("cid:logo@printer")) {
		t.Error("the draft lost its HTML body")
	}
	if f.srv.Drafts() != 0 || f.srv.GraphRequests("POST sendMail") != 0 || f.srv.GraphRequests("POST createUploadSession") != 2 {
		t.Errorf("drafts left %d, sendMail %d, upload sessions %d", f.srv.Drafts(), f.srv.GraphRequests("POST sendMail"), f.srv.GraphRequests("POST createUploadSession"))
	}
}

// TestSendMIMELargeUploadSession: send --mime of a large message goes the
// same way; a small part that had to be cut is posted whole.
func TestSendMIMELargeUploadSession(t *testing.T) {
	f := newFixture(t, withUploads)
	grantReadWrite(f.srv)
	pdf := patterned(5 << 20)
	logo := patterned(300 << 10)
	raw := scanMessage(f.srv.Mailboxes()[0], "To: ops@example.com\r\n", pdf, logo)
	// Pad the HTML body so that the logo has to go too.
	raw = bytes.Replace(raw, []byte("<p>scan"), []byte("<p>"+strings.Repeat("x", 2<<20+700<<10)), 1)
	res, err := f.client.SendMIME(context.Background(), raw, []graphmail.Address{{Address: "extra@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.UploadSession {
		t.Errorf("result %+v", res)
	}
	d := f.srv.Messages()[0]
	if len(d.Attachments) != 2 || digest(d.Attachments[1].ContentBytes) != digest(pdf) || digest(d.Attachments[0].ContentBytes) != digest(logo) {
		t.Fatalf("attachments %d", len(d.Attachments))
	}
	if f.srv.GraphRequests("POST createUploadSession") != 1 || f.srv.GraphRequests("POST attachments") != 1 {
		t.Errorf("upload sessions %d, attachments posted %d", f.srv.GraphRequests("POST createUploadSession"), f.srv.GraphRequests("POST attachments"))
	}
	if !slices.Contains(d.Recipients, "extra@example.com") {
		t.Errorf("recipients %v", d.Recipients)
	}
}

func TestSendEnvelopeFileDeletesDraftOnFailure(t *testing.T) {
	f := newFixture(t, withUploads)
	grantReadWrite(f.srv)
	raw := scanMessage(f.srv.Mailboxes()[0], "To: ops@example.com\r\n", patterned(6<<20), patterned(100))
	file, size := spoolFile(t, raw)
	f.srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointUpload, Status: 400, Code: "InvalidRequest", Times: -1})
	_, err := f.client.SendEnvelopeFile(context.Background(), graphmail.Envelope{To: []string{"ops@example.com"}}, file, size)
	var ue *graphmail.UploadError
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want *UploadError", err)
	}
	if f.srv.Drafts() != 0 || f.srv.DeletedDrafts() != 1 || len(f.srv.Messages()) != 0 {
		t.Errorf("drafts %d, deleted %d, delivered %d", f.srv.Drafts(), f.srv.DeletedDrafts(), len(f.srv.Messages()))
	}
}

// TestSendEnvelopeFileNotCuttable: a large message without attachment
// parts is too large, as before; without an upload session a large file
// is read and handed to the fallback.
func TestSendEnvelopeFileNotCuttable(t *testing.T) {
	from := "sandbox@sandbox.onmicrosoft.com"
	raw := []byte("From: <" + from + ">\r\nTo: ops@example.com\r\nSubject: text\r\n\r\n" + strings.Repeat("a line of text\r\n", 300000))
	t.Run("upload session", func(t *testing.T) {
		f := newFixture(t, withUploads)
		file, size := spoolFile(t, raw)
		_, err := f.client.SendEnvelopeFile(context.Background(), graphmail.Envelope{To: []string{"ops@example.com"}}, file, size)
		var tl *graphmail.TooLargeError
		if !errors.As(err, &tl) {
			t.Fatalf("got %v, want *TooLargeError", err)
		}
	})
	t.Run("fallback", func(t *testing.T) {
		f := newFixture(t, nil)
		file, size := spoolFile(t, raw)
		res, err := f.client.SendEnvelopeFile(context.Background(), graphmail.Envelope{To: []string{"ops@example.com"}}, file, size)
		if err != nil || res.Path != "smtp" {
			t.Fatalf("got %+v, %v", res, err)
		}
	})
}
