package graphmailtest

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	message "github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

func TestRenderMessage(t *testing.T) {
	req, ge := decodeSendMail([]byte(sdkJSON))
	if ge != nil {
		t.Fatalf("decodeSendMail: %+v", ge)
	}
	raw, msgID, err := renderMessage(DefaultMailbox, req.Message, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if msgID != "<abc.123@sandbox.onmicrosoft.com>" {
		t.Errorf("msgID = %q", msgID)
	}
	if testing.Verbose() {
		t.Logf("%s", raw)
	}
	e, err := message.Read(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := gomail.Header{Header: e.Header}
	subj, _ := h.Subject()
	from, _ := h.AddressList("From")
	to, _ := h.AddressList("To")
	cc, _ := h.AddressList("Cc")
	for _, c := range []struct{ name, got, want string }{
		{"Subject", subj, "Hello ünïcode"},
		{"From", from[0].Address, DefaultMailbox},
		{"To", to[0].String(), `"To Person" <to@example.com>`},
		{"Cc", cc[0].Address, "cc@example.com"},
		{"Bcc", h.Get("Bcc"), ""},
		{"X-Job", h.Get("X-Job"), "42"},
		{"Importance", h.Get("Importance"), "high"},
		{"Message-Id", h.Get("Message-Id"), "<abc.123@sandbox.onmicrosoft.com>"},
		{"Date", h.Get("Date"), "Fri, 02 Jan 2026 03:04:05 +0000"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if strings.Contains(string(raw), "hidden@example.com") {
		t.Error("Bcc recipient leaked into the rendered message")
	}

	// multipart/mixed{ multipart/related{ text/html, image/png }, text/plain }
	var got []string
	var walk func(e *message.Entity, depth int)
	walk = func(e *message.Entity, depth int) {
		mt, _, _ := e.Header.ContentType()
		desc := strings.Repeat(" ", depth) + mt
		if cid := e.Header.Get("Content-Id"); cid != "" {
			desc += " " + cid
		}
		if mr := e.MultipartReader(); mr != nil {
			got = append(got, desc)
			for {
				p, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				walk(p, depth+1)
			}
			return
		}
		b, _ := io.ReadAll(e.Body)
		got = append(got, desc+" "+string(b))
	}
	walk(e, 0)
	want := []string{
		"multipart/mixed",
		" multipart/related",
		`  text/html <p>Hi <img src="cid:logo"></p>`,
		"  image/png <logo> \x89PNG\r",
		" text/plain hello",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("structure:\n%q\nwant\n%q", got, want)
	}
}

func TestRenderPlain(t *testing.T) {
	m := &GraphMessage{Subject: "s", Body: &ItemBody{ContentType: "text", Content: "héllo"},
		ToRecipients: []Recipient{{EmailAddress: EmailAddress{Address: "a@example.com"}}}}
	raw, msgID, err := renderMessage(DefaultMailbox, m, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(msgID, "<") || !strings.HasSuffix(msgID, "@sandbox.onmicrosoft.com>") {
		t.Errorf("generated Message-Id %q", msgID)
	}
	r, err := gomail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(p.Body)
	if string(b) != "héllo" {
		t.Errorf("body = %q\n%s", b, raw)
	}
}
