package graphmail

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRenderMIME renders messages built from arbitrary text and checks that
// the output is well-formed (CRLF, short lines, 7-bit) and that the
// standard library parses it back to the same subject, display name,
// bodies, attachment name and bytes. Inputs that RenderMIME may reject
// (line breaks, invalid UTF-8 or more than 8 KiB in header text, control
// characters in an attachment name) must be rejected with a *MessageError,
// others not.
func FuzzRenderMIME(f *testing.F) {
	f.Add("Quarterly report", "Alice Example", "Hello,\nsee attached.\n", "<p>Hello</p>", "report.pdf", []byte("%PDF-1.4"))
	f.Add("Résumé — 日本語", "Zoë Ünïcode", "Grüße\r\n", "", "résumé.txt", []byte("x"))
	f.Add(" two  spaces\t", "=?utf-8?q?x?=", "", "<img src=\"cid:img\">", "", []byte{})
	f.Add(strings.Repeat("long ", 300), strings.Repeat("n", 200), strings.Repeat("=", 2000), "a\rb", strings.Repeat("é", 300), []byte{0, 0xff, '\r', '\n'})
	f.Add("inject\r\nBcc: x@y.z", "a\nb", "--=_x\r\n", ".\r\n", "a\x00b", []byte("-"))
	f.Fuzz(func(t *testing.T, subject, name, text, html, attName string, attBytes []byte) {
		m := &Message{
			From:      Address{Name: name, Address: "sender@contoso.com"},
			To:        []Address{{Name: name, Address: "to@example.com"}},
			Subject:   subject,
			Text:      text,
			HTML:      html,
			MessageID: "fuzz@graphmail.test",
			Attachments: []Attachment{
				{Name: attName, ContentType: "application/octet-stream", Content: attBytes},
				{Name: attName, ContentType: "image/png", ContentID: "img", Inline: true, Content: attBytes},
			},
		}
		raw, err := RenderMIME(m, testOpts)
		if rejectable(subject, name, text, html, attName) {
			var me *MessageError
			if err != nil && !errors.As(err, &me) {
				t.Fatalf("error is not a *MessageError: %v", err)
			}
			if err != nil {
				return
			}
		}
		if err != nil {
			t.Fatalf("RenderMIME: %v", err)
		}
		for _, p := range checkWire(raw, testOpts) {
			t.Error(p)
		}
		p, err := parseMIME(raw)
		if err != nil {
			t.Fatalf("parse: %v\n%q", err, raw)
		}
		for _, d := range diffParsed(m, testOpts, p) {
			t.Error(d)
		}
	})
}

// rejectable reports whether RenderMIME may reject a fuzz input.
func rejectable(subject, name, text, html, attName string) bool {
	for _, s := range []string{subject, name, attName} {
		if strings.ContainsAny(s, "\r\n") || !utf8.ValidString(s) || len(s) > mimeMaxText {
			return true
		}
	}
	return !utf8.ValidString(text) || !utf8.ValidString(html) ||
		strings.ContainsFunc(attName, func(r rune) bool { return r < ' ' || r == 0x7f })
}
