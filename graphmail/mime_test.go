package graphmail

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func init() {
	// Other golden tests in this package may define -update too; whichever
	// is registered first serves both.
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files in testdata")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

var (
	testNow  = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("CET", 3600))
	testOpts = MIMEOptions{
		DefaultFrom: Address{Name: "Reports Robot", Address: "reports@contoso.com"},
		now:         func() time.Time { return testNow },
	}
	pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	pdfBytes = []byte("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
)

// baseMessage returns a small valid message with a fixed Message-ID.
func baseMessage() *Message {
	return &Message{
		To:        []Address{{Name: "Alice Example", Address: "alice@example.com"}},
		Subject:   "Quarterly report",
		MessageID: "0123456789abcdef.1741961366000000000@graphmail.test",
	}
}

type mimeCase struct {
	name      string
	opts      MIMEOptions
	msg       func() *Message
	structure string
}

func mimeCases() []mimeCase {
	with := func(f func(m *Message)) func() *Message {
		return func() *Message { m := baseMessage(); f(m); return m }
	}
	bccOpts := testOpts
	bccOpts.IncludeBcc = true
	bccMsg := with(func(m *Message) {
		m.Text = "See you there.\n"
		m.Cc = []Address{{Address: "carol@example.com"}}
		m.Bcc = []Address{{Name: "Hidden Auditor", Address: "audit@contoso.com"}, {Address: "archive@contoso.com"}}
	})
	return []mimeCase{
		{name: "text", opts: testOpts, structure: "text/plain", msg: with(func(m *Message) {
			m.From = Address{Name: "Bob Sender", Address: "bob@contoso.com"}
			m.Text = "Hello Alice,\n\nthe report is attached.\nA line with = and trailing space \n\n-- \nBob\n"
		})},
		{name: "html", opts: testOpts, structure: "text/html", msg: with(func(m *Message) {
			m.HTML = "<!doctype html>\n<p>Hello <b>Alice</b>,</p>\n<p style=\"color: red\">the report is ready.</p>\n"
		})},
		{name: "text_html", opts: testOpts, structure: "multipart/alternative(text/plain,text/html)", msg: with(func(m *Message) {
			m.Text = "Hello Alice,\nthe report is ready.\n"
			m.HTML = "<p>Hello Alice,<br>the report is ready.</p>\n"
		})},
		{name: "attachments", opts: testOpts, structure: "multipart/mixed(text/plain,application/pdf,text/csv,application/octet-stream)", msg: with(func(m *Message) {
			m.Text = "Two files attached.\n"
			m.Attachments = []Attachment{
				{Name: "report.pdf", ContentType: "application/pdf", Content: pdfBytes},
				{Name: "data 2025.csv", ContentType: "text/csv; charset=utf-8", Content: []byte("a,b\r\n1,2\r\n")},
				{Name: "blob.bin", Content: bytes.Repeat([]byte{0, 1, 2, 253, 254, 255}, 40)},
			}
		})},
		{name: "inline_image", opts: testOpts, structure: "multipart/related(text/html,image/png)", msg: with(func(m *Message) {
			m.HTML = `<p>Our logo: <img src="cid:logo@contoso" alt="logo"></p>` + "\n"
			m.Attachments = []Attachment{{Name: "logo.png", ContentType: "image/png", Content: pngBytes, ContentID: "logo@contoso", Inline: true}}
		})},
		{name: "combined", opts: testOpts,
			structure: "multipart/mixed(multipart/related(multipart/alternative(text/plain,text/html),image/png),application/pdf)",
			msg: with(func(m *Message) {
				m.From = Address{Name: "Bob Sender", Address: "bob@contoso.com"}
				m.Cc = []Address{{Name: "Carol", Address: "carol@example.com"}, {Address: "dave@example.com"}}
				m.ReplyTo = []Address{{Name: "Support", Address: "support@contoso.com"}}
				m.Text = "Hello Alice,\nsee the logo and the report.\n"
				m.HTML = `<p>Hello Alice,<br><img src="cid:logo"> see the report.</p>` + "\n"
				m.Importance = ImportanceLow
				m.Headers = []Header{{Name: "X-Campaign", Value: "q1-2025"}}
				m.Attachments = []Attachment{
					{Name: "report.pdf", ContentType: "application/pdf", Content: pdfBytes},
					{Name: "logo.png", ContentType: "image/png", Content: pngBytes, ContentID: "logo", Inline: true},
				}
			})},
		{name: "non_ascii", opts: testOpts, structure: "multipart/mixed(text/plain,text/plain,text/plain)", msg: with(func(m *Message) {
			m.From = Address{Name: "Zoë Ünïcode", Address: "zoe@contoso.com"}
			m.To = []Address{{Name: "José Müller-Lüdenscheidt", Address: "jose@example.com"}, {Name: "山田 太郎", Address: "yamada@example.jp"}}
			m.Subject = "Résumé — Ελληνικά und 日本語: a subject long enough to need folding over several lines"
			m.Text = "Grüße aus Köln! Ceci est un résumé.\n"
			m.Attachments = []Attachment{
				{Name: "résumé.txt", ContentType: "text/plain; charset=utf-8", Content: []byte("Grüße\n")},
				{Name: "Überweisung für das Geschäftsjahr 2025 — endgültige Fassung mit Änderungen.txt", ContentType: "text/plain", Content: []byte("x\n")},
			}
		})},
		{name: "mostly_non_ascii", opts: testOpts, structure: "text/plain", msg: with(func(m *Message) {
			m.Subject = "Приветствие"
			m.Text = "Здравствуйте! Это письмо почти целиком написано кириллицей.\nΚαλημέρα σας.\n"
		})},
		{name: "x_headers", opts: testOpts, structure: "text/plain", msg: with(func(m *Message) {
			m.Text = "Tracked.\n"
			m.Headers = []Header{
				{Name: "X-Mailer", Value: "graphmail"},
				{Name: "X-MS-Exchange-Organization-Test", Value: "a value with  two spaces"},
				{Name: "X-Tag", Value: "first"},
				{Name: "X-Tag", Value: "second, non-ASCII: ça marche"},
				{Name: "List-Unsubscribe", Value: "<mailto:unsubscribe@contoso.com?subject=unsubscribe>"},
			}
		})},
		{name: "importance_high", opts: testOpts, structure: "text/plain", msg: with(func(m *Message) {
			m.Text = "Urgent.\n"
			m.Importance = ImportanceHigh
		})},
		{name: "bcc_excluded", opts: testOpts, structure: "text/plain", msg: bccMsg},
		{name: "bcc_included", opts: bccOpts, structure: "text/plain", msg: bccMsg},
		{name: "empty_body_attachment", opts: testOpts, structure: "multipart/mixed(text/plain,application/pdf)", msg: with(func(m *Message) {
			m.Subject = ""
			m.Attachments = []Attachment{{Name: "report.pdf", ContentType: "application/pdf", Content: pdfBytes}}
		})},
	}
}

// TestRenderMIMEGolden renders each shape, compares it with
// testdata/mime/<name>.eml (rewritten with -update), checks the octets and
// parses the result back with the standard library.
func TestRenderMIMEGolden(t *testing.T) {
	for _, tc := range mimeCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.msg()
			got, err := RenderMIME(m, tc.opts)
			if err != nil {
				t.Fatalf("RenderMIME: %v", err)
			}
			path := filepath.Join("testdata", "mime", tc.name+".eml")
			if updateGolden() {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("output differs from %s (run with -update if intended): %s", path, firstDiff(got, want))
			}
			for _, p := range checkWire(want, tc.opts) {
				t.Errorf("%s: %s", path, p)
			}
			p, err := parseMIME(want)
			if err != nil {
				t.Fatalf("parse %s: %v", path, err)
			}
			if p.structure != tc.structure {
				t.Errorf("structure: got %s, want %s", p.structure, tc.structure)
			}
			for _, d := range diffParsed(m, tc.opts, p) {
				t.Error(d)
			}
		})
	}
}

// TestRenderMIMEDeterministic checks that a retry (rendering the same
// message again, even with a generated Message-ID) gives the same bytes,
// and that WriteMIME writes what RenderMIME returns.
func TestRenderMIMEDeterministic(t *testing.T) {
	for _, tc := range mimeCases() {
		m := tc.msg()
		m.MessageID = ""
		first, err := RenderMIME(m, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		id := m.MessageID
		again, err := RenderMIME(m, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if m.MessageID != id || !bytes.Equal(first, again) {
			t.Errorf("%s: second render differs (Message-ID %q then %q)", tc.name, id, m.MessageID)
		}
		var buf bytes.Buffer
		if err := WriteMIME(&buf, m, tc.opts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), first) {
			t.Errorf("%s: WriteMIME differs from RenderMIME", tc.name)
		}
		if !strings.Contains(string(first), "Message-ID: <"+id+">\r\n") {
			t.Errorf("%s: no Message-ID header for %q", tc.name, id)
		}
	}
}

// TestRenderMIMEStreamsOpen checks that an attachment whose content comes
// from Open is rendered with that content (it used to come out empty), the
// same bytes as with Content, and that a reader shorter than Size fails.
func TestRenderMIMEStreamsOpen(t *testing.T) {
	for _, tc := range mimeCases() {
		m := tc.msg()
		if len(m.Attachments) == 0 {
			continue
		}
		want, err := RenderMIME(m, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		streamed := tc.msg()
		for i, a := range streamed.Attachments {
			content := a.Content
			streamed.Attachments[i].Content = nil
			streamed.Attachments[i].Size = int64(len(content))
			streamed.Attachments[i].Open = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(content)), nil }
		}
		got, err := RenderMIME(streamed, tc.opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: streamed attachments render differently: %s", tc.name, firstDiff(got, want))
		}
	}
	short := baseMessage()
	short.Attachments = []Attachment{{Name: "a.bin", Size: 10, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("12345")), nil
	}}}
	if _, err := RenderMIME(short, testOpts); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("attachment shorter than its Size: err = %v, want io.ErrUnexpectedEOF", err)
	}
	failing := baseMessage()
	openErr := errors.New("permission denied")
	failing.Attachments = []Attachment{{Name: "a.bin", Size: 10, Open: func() (io.ReadCloser, error) { return nil, openErr }}}
	if _, err := RenderMIME(failing, testOpts); !errors.Is(err, openErr) {
		t.Errorf("Open fails: err = %v, want its error", err)
	}
}

// firstDiff describes the first line where got and want differ.
func firstDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := range max(len(g), len(w)) {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("line %d: got %q, want %q", i+1, gl, wl)
		}
	}
	return "no difference"
}
