package interop_test

// smtpfallback's re-encoding of lines over 998 octets, against Dovecot: the
// message a legacy device sends with a 5,000-octet line reaches the sink
// with no line over 998 and decodes, with the standard library's MIME
// readers, to the original content.

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/smtpfallback"
)

func TestSMTPFallbackLongLinesAgainstDovecot(t *testing.T) {
	env := loadEnv(t)
	log := markLog(env)
	log.dumpOnFailure(t)

	tokens := &recordingTokens{pick: func(bool) string { return mintToken(t, env, tokenSpec{}) }}
	c := newFallbackClient(t, env, tokens, nil)
	to := []string{"rcpt-one@graphmail-interop.test"}

	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	marker := fmt.Sprintf("<interop-long-%x@graphmail-interop.test>", rnd)
	text := strings.Repeat("scan line 0123456789 ", 240)[:5000] // one 5,000-octet line
	attachment := bytes.Repeat([]byte("%PDF-1.4 binary-ish \x00\x01\xfe\xff "), 200)
	msg := []byte("From: Scanner <" + env.Mailbox + ">\r\n" +
		"To: " + to[0] + "\r\n" +
		"Subject: " + strings.Repeat("long subject ", 100) + "\r\n" +
		"Message-ID: " + marker + "\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: multipart/mixed; boundary=\"scan-boundary\"\r\n\r\n" +
		"--scan-boundary\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n" + text + "\r\n" +
		"--scan-boundary\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		base64.StdEncoding.EncodeToString(attachment) + "\r\n" +
		"--scan-boundary--\r\n")

	rec, err := c.Send(sendCtx(t), smtpfallback.Envelope{From: env.Mailbox, To: to}, msg)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if !rec.Reencoded {
		t.Errorf("receipt %+v: Reencoded not set", rec)
	}
	got := waitForSink(t, env, marker)
	for i, l := range bytes.Split(got.Raw, []byte("\r\n")) {
		if len(l) > 998 {
			t.Errorf("received line %d is %d octets", i+1, len(l))
		}
	}

	m, err := mail.ReadMessage(bytes.NewReader(got.Raw))
	if err != nil {
		t.Fatalf("received message: %v", err)
	}
	if subj := m.Header.Get("Subject"); subj != strings.TrimSpace(strings.Repeat("long subject ", 100)) {
		t.Errorf("Subject after unfolding = %q", subj)
	}
	_, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	var parts [][]byte
	for {
		p, err := mr.NextPart() // decodes quoted-printable itself
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("part %d: %v", len(parts)+1, err)
		}
		data, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("part %d: %v", len(parts)+1, err)
		}
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			if data, err = io.ReadAll(base64.NewDecoder(base64.StdEncoding, bytes.NewReader(data))); err != nil {
				t.Fatalf("part %d: base64: %v", len(parts)+1, err)
			}
		}
		parts = append(parts, data)
	}
	if len(parts) != 2 || string(parts[0]) != text || !bytes.Equal(parts[1], attachment) {
		t.Errorf("received %d parts; text equal %v, attachment equal %v", len(parts), len(parts) > 0 && string(parts[0]) == text, len(parts) > 1 && bytes.Equal(parts[1], attachment))
	}
	t.Logf("sink %s: %d octets, receipt %+v", got.ID, len(got.Raw), rec)
}
