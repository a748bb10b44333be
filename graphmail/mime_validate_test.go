package graphmail

import (
	"bytes"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRenderMIMERejects checks that invalid messages, header injection
// first of all, fail with a *MessageError naming the field, and that
// WriteMIME then writes nothing.
func TestRenderMIMERejects(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(m *Message)
		opts   MIMEOptions
		field  string
		substr string
	}{
		{"CRLF in subject", func(m *Message) { m.Subject = "Hi\r\nBcc: victim@example.com" }, testOpts, "Subject", "header injection"},
		{"LF in subject", func(m *Message) { m.Subject = "Hi\nX-Evil: 1" }, testOpts, "Subject", "header injection"},
		{"CR in subject", func(m *Message) { m.Subject = "Hi\rX-Evil: 1" }, testOpts, "Subject", "header injection"},
		{"CRLF in header value", func(m *Message) { m.Headers = []Header{{Name: "X-A", Value: "1\r\nBcc: victim@example.com"}} }, testOpts, "Headers[0].Value", "header injection"},
		{"LF in header name", func(m *Message) { m.Headers = []Header{{Name: "X-A\nBcc", Value: "1"}} }, testOpts, "Headers[0].Name", "header injection"},
		{"CRLF in display name", func(m *Message) { m.To[0].Name = "Alice\r\nBcc: victim@example.com" }, testOpts, "To[0].Name", "header injection"},
		{"LF in from name", func(m *Message) { m.From = Address{Name: "Bob\n", Address: "bob@contoso.com"} }, testOpts, "From.Name", "header injection"},
		{"CRLF in default from", func(m *Message) {}, MIMEOptions{DefaultFrom: Address{Name: "R\r\nX: y", Address: "r@contoso.com"}}, "From.Name", "header injection"},
		{"LF in address", func(m *Message) { m.Cc = []Address{{Address: "a@b.com\nBcc: c@d.com"}} }, testOpts, "Cc[0].Address", "header injection"},
		{"LF in attachment name", func(m *Message) { m.Attachments = []Attachment{{Name: "a\n.pdf"}} }, testOpts, "Attachments[0].Name", "header injection"},
		{"LF in content type", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain\nX: y"}} }, testOpts, "Attachments[0].ContentType", "header injection"},
		{"LF in content id", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentID: "x\ny", Inline: true}} }, testOpts, "Attachments[0].ContentID", "header injection"},
		{"LF in message id", func(m *Message) { m.MessageID = "a@b\nBcc: c@d" }, testOpts, "MessageID", "header injection"},

		{"no recipients", func(m *Message) { m.To = nil }, testOpts, "To", "no recipients"},
		{"no sender", func(m *Message) {}, MIMEOptions{}, "From", "no sender"},
		{"bad address", func(m *Message) { m.To[0].Address = "not an address" }, testOpts, "To[0].Address", "not an e-mail address"},
		{"name in address", func(m *Message) { m.To[0].Address = "Alice <alice@example.com>" }, testOpts, "To[0].Address", "not an e-mail address"},
		{"empty address", func(m *Message) { m.Bcc = []Address{{Name: "x"}} }, testOpts, "Bcc[0].Address", "empty"},
		{"non-ASCII address", func(m *Message) { m.ReplyTo = []Address{{Address: "a@bücher.example"}} }, testOpts, "ReplyTo[0].Address", "punycode"},
		{"header name with space", func(m *Message) { m.Headers = []Header{{Name: "X A", Value: "1"}} }, testOpts, "Headers[0].Name", "not a header field name"},
		{"header name with colon", func(m *Message) { m.Headers = []Header{{Name: "X-A:", Value: "1"}} }, testOpts, "Headers[0].Name", "not a header field name"},
		{"empty header name", func(m *Message) { m.Headers = []Header{{Value: "1"}} }, testOpts, "Headers[0].Name", "empty"},
		{"long header name", func(m *Message) { m.Headers = []Header{{Name: "X-" + strings.Repeat("a", 63)}} }, testOpts, "Headers[0].Name", "longer"},
		{"reserved header", func(m *Message) { m.Headers = []Header{{Name: "bcc", Value: "a@b.com"}} }, testOpts, "Headers[0].Name", "Message.Bcc"},
		{"content header", func(m *Message) { m.Headers = []Header{{Name: "Content-Type", Value: "text/html"}} }, testOpts, "Headers[0].Name", "written by RenderMIME"},
		{"priority header", func(m *Message) { m.Headers = []Header{{Name: "X-Priority", Value: "2"}} }, testOpts, "Headers[0].Name", "Message.Importance"},
		{"bad importance", func(m *Message) { m.Importance = "urgent" }, testOpts, "Importance", "not low, normal or high"},
		{"huge subject", func(m *Message) { m.Subject = strings.Repeat("a ", 5000) }, testOpts, "Subject", "longer than 8192 bytes"},
		{"huge header value", func(m *Message) { m.Headers = []Header{{Name: "X-A", Value: strings.Repeat("é", 5000)}} }, testOpts, "Headers[0].Value", "longer than"},
		{"invalid UTF-8 subject", func(m *Message) { m.Subject = "caf\xe9" }, testOpts, "Subject", "UTF-8"},
		{"invalid UTF-8 text", func(m *Message) { m.Text = "caf\xe9" }, testOpts, "Text", "UTF-8"},
		{"invalid UTF-8 html", func(m *Message) { m.HTML = "caf\xe9" }, testOpts, "HTML", "UTF-8"},
		{"message id brackets", func(m *Message) { m.MessageID = "<a@b>" }, testOpts, "MessageID", "angle brackets"},
		{"message id without at", func(m *Message) { m.MessageID = "abc" }, testOpts, "MessageID", "not a valid Message-ID"},
		{"bad hostname", func(m *Message) { m.MessageID = "" }, MIMEOptions{DefaultFrom: testOpts.DefaultFrom, Hostname: "a b"}, "MessageID", "not a valid Message-ID"},
		{"tab in attachment name", func(m *Message) { m.Attachments = []Attachment{{Name: "a\tb"}} }, testOpts, "Attachments[0].Name", "control character"},
		{"bad content type", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "pdf"}} }, testOpts, "Attachments[0].ContentType", "not a media type"},
		{"long content type", func(m *Message) {
			m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain; x=" + strings.Repeat("y", 300)}}
		}, testOpts, "Attachments[0].ContentType", "longer"},
		{"multipart content type", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "multipart/mixed"}} }, testOpts, "Attachments[0].ContentType", "application/octet-stream"},
		{"other charset", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentType: "text/plain; charset=latin1"}} }, testOpts, "Attachments[0].ContentType", "charset"},
		{"content id brackets", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentID: "<x@y>", Inline: true}} }, testOpts, "Attachments[0].ContentID", "angle brackets"},
		{"content id space", func(m *Message) { m.Attachments = []Attachment{{Name: "a", ContentID: "x y", Inline: true}} }, testOpts, "Attachments[0].ContentID", "not a content id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseMessage()
			m.Text = "body\n"
			tc.edit(m)
			var buf bytes.Buffer
			err := WriteMIME(&buf, m, tc.opts)
			var me *MessageError
			if !errors.As(err, &me) {
				t.Fatalf("got error %v, want a *MessageError", err)
			}
			if me.Field != tc.field || !strings.Contains(me.Problem, tc.substr) {
				t.Errorf("got Field %q, Problem %q; want Field %q, Problem containing %q", me.Field, me.Problem, tc.field, tc.substr)
			}
			if want := "graphmail: " + me.Field + ": " + me.Problem; err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
			if buf.Len() != 0 {
				t.Errorf("WriteMIME wrote %d bytes for an invalid message", buf.Len())
			}
			if _, err := RenderMIME(m, tc.opts); !errors.As(err, &me) {
				t.Errorf("RenderMIME: got %v, want a *MessageError", err)
			}
		})
	}
}

func TestMIMEEnsureMessageID(t *testing.T) {
	m := &Message{}
	id := m.EnsureMessageID("mail.contoso.com")
	if !regexp.MustCompile(`^[0-9a-f]{24}\.[0-9]+@mail\.contoso\.com$`).MatchString(id) {
		t.Errorf("EnsureMessageID = %q, want <hex>.<unixnano>@mail.contoso.com", id)
	}
	if m.MessageID != id {
		t.Errorf("m.MessageID = %q, want %q", m.MessageID, id)
	}
	if again := m.EnsureMessageID("other.example"); again != id {
		t.Errorf("second EnsureMessageID = %q, want the first %q", again, id)
	}
	if err := validateMIMEMessageID(id); err != nil {
		t.Errorf("generated id is invalid: %v", err)
	}
	other := (&Message{}).EnsureMessageID("")
	if other == id || !strings.HasSuffix(other, "@"+DefaultMIMEHostname) {
		t.Errorf("EnsureMessageID(\"\") = %q, want a new id @%s", other, DefaultMIMEHostname)
	}
}

// TestRenderMIMEEdges round-trips messages whose headers need folding or
// encoding in unusual ways, and checks the octets.
func TestRenderMIMEEdges(t *testing.T) {
	long := strings.Repeat("word ", 400)
	tests := []struct {
		name string
		edit func(m *Message)
	}{
		{"long plain subject", func(m *Message) { m.Subject = strings.TrimSpace(long) }},
		{"very long word in subject", func(m *Message) { m.Subject = strings.Repeat("x", 2000) }},
		{"double spaces and tab", func(m *Message) { m.Subject = " two  spaces\tand tab " }},
		{"literal encoded word", func(m *Message) { m.Subject = "=?utf-8?q?not_encoded?="; m.To[0].Name = "=?utf-8?b?QQ==?=" }},
		{"quotes in name", func(m *Message) { m.To[0].Name = `Alice "Al" O'Hara (\home)` }},
		{"control characters", func(m *Message) { m.Subject = "bell\a null\x00 del\x7f"; m.To[0].Name = "esc\x1b" }},
		{"long name", func(m *Message) { m.To[0].Name = strings.Repeat("Ünïcödé ", 60) }},
		{"many recipients", func(m *Message) {
			for i := range 200 {
				m.Cc = append(m.Cc, Address{Name: "Recipient Number " + string(rune('A'+i%26)), Address: "r" + strings.Repeat("x", i%30) + "@example.com"})
			}
		}},
		{"long header value", func(m *Message) { m.Headers = []Header{{Name: "X-Long", Value: long + strings.Repeat("y", 1500)}} }},
		{"long attachment names", func(m *Message) {
			m.Attachments = []Attachment{
				{Name: strings.Repeat("ß", 400) + ".txt", Content: []byte("a")},
				{Name: strings.Repeat("a", 900) + ".txt", Content: []byte("b")},
				{Name: "quote\" and \\ backslash.txt", Content: []byte("c")},
				{Name: "", Content: []byte("d")},
			}
		}},
		{"long body lines", func(m *Message) {
			m.Text = strings.Repeat("z", 5000) + "\n" + strings.Repeat("é", 3000)
			m.HTML = strings.Repeat("<p>", 2000)
		}},
		{"line endings", func(m *Message) { m.Text = "a\nb\r\nc\rd\n\r\n.\nFrom here\n" }},
		{"inline without html", func(m *Message) {
			m.Attachments = []Attachment{{Name: "i.png", ContentType: "image/png", ContentID: "i", Inline: true, Content: pngBytes}}
		}},
		{"content id without inline", func(m *Message) {
			m.HTML = "<p>x</p>"
			m.Attachments = []Attachment{{Name: "i.png", ContentType: "image/png", ContentID: "i", Content: pngBytes}}
		}},
		{"date from message", func(m *Message) { m.Date = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := baseMessage()
			m.Text = "body\n"
			tc.edit(m)
			raw, err := RenderMIME(m, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range checkWire(raw, testOpts) {
				t.Error(p)
			}
			p, err := parseMIME(raw)
			if err != nil {
				t.Fatalf("parse: %v\n%s", err, raw)
			}
			for _, d := range diffParsed(m, testOpts, p) {
				t.Error(d)
			}
		})
	}
}

func TestMIMETextEncoding(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{"Hello, world.\r\n", "quoted-printable"},
		{"", "quoted-printable"},
		{"Grüße aus Köln, wie geht es dir heute? Mir geht es gut.", "quoted-printable"},
		{"Здравствуйте, мир", "base64"},
		{"日本語のテキスト", "base64"},
	} {
		if got := mimeTextEncoding([]byte(tc.body)); got != tc.want {
			t.Errorf("mimeTextEncoding(%q) = %s, want %s", tc.body, got, tc.want)
		}
	}
}

// TestRenderMIMEHeaderNameLengths renders extra headers with every allowed
// name length and values that fold differently: go-message's folding
// panics when a name leaves no room on the first line.
func TestRenderMIMEHeaderNameLengths(t *testing.T) {
	values := []string{"", "v", strings.Repeat("v ", 100) + "v", strings.Repeat("x", 300), "é " + strings.Repeat("w", 70)}
	for n := 1; n <= mimeMaxHeaderNameLen; n++ {
		for _, v := range values {
			m := baseMessage()
			m.Text = "x"
			m.Headers = []Header{{Name: strings.Repeat("X", n), Value: v}}
			raw, err := RenderMIME(m, testOpts)
			if err != nil {
				t.Fatalf("name length %d: %v", n, err)
			}
			for _, p := range checkWire(raw, testOpts) {
				t.Errorf("name length %d: %s", n, p)
			}
			p, err := parseMIME(raw)
			if err != nil {
				t.Fatalf("name length %d: parse: %v", n, err)
			}
			for _, d := range diffParsed(m, testOpts, p) {
				t.Errorf("name length %d: %s", n, d)
			}
		}
	}
}
