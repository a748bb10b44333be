package graphmail

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"strings"

	"github.com/emersion/go-message"
)

// mimePart is one MIME entity to write: a leaf with a body, or a multipart
// container with children.
type mimePart struct {
	fields   []mimeField // header fields; for the root, the message header too
	kind     string      // multipart subtype ("mixed", …); empty for a leaf
	body     []byte      // leaf content before transfer encoding
	open     *Attachment // a leaf whose content comes from Open, instead of body
	children []*mimePart
}

// mimeTree lays out m's bodies and attachments as MIME parts. m has been
// validated.
func mimeTree(m *Message) *mimePart {
	var body *mimePart
	switch {
	case m.Text != "" && m.HTML != "":
		body = mimeMultipart("alternative", nil, mimeTextPart("text/plain", m.Text), mimeTextPart("text/html", m.HTML))
	case m.HTML != "":
		body = mimeTextPart("text/html", m.HTML)
	default:
		body = mimeTextPart("text/plain", m.Text)
	}

	var inline, other []*mimePart
	for _, a := range m.Attachments {
		if a.Inline && a.ContentID != "" && m.HTML != "" {
			inline = append(inline, mimeAttachmentPart(a, "inline"))
		} else if a.Inline && a.ContentID != "" {
			other = append(other, mimeAttachmentPart(a, "inline"))
		} else {
			other = append(other, mimeAttachmentPart(a, "attachment"))
		}
	}
	if len(inline) > 0 {
		// RFC 2387 requires the type parameter: the root part's type.
		rootType := "text/html"
		if body.kind != "" {
			rootType = "multipart/" + body.kind
		}
		body = mimeMultipart("related", map[string]string{"type": rootType}, append([]*mimePart{body}, inline...)...)
	}
	if len(other) > 0 {
		body = mimeMultipart("mixed", nil, append([]*mimePart{body}, other...)...)
	}
	return body
}

func mimeMultipart(kind string, params map[string]string, children ...*mimePart) *mimePart {
	p := &mimePart{kind: kind, children: children}
	// The Content-Type with its boundary is filled in by writeMIMETree.
	p.fields = []mimeField{{"Content-Type", ""}}
	if params != nil {
		p.fields[0].value = mime.FormatMediaType("multipart/"+kind, params)
	}
	return p
}

// mimeTextPart returns a UTF-8 body part with canonical CRLF line breaks.
func mimeTextPart(mediaType, s string) *mimePart {
	body := []byte(mimeCRLF(s))
	return &mimePart{
		fields: []mimeField{
			{"Content-Type", mediaType + "; charset=utf-8"},
			{"Content-Transfer-Encoding", mimeTextEncoding(body)},
		},
		body: body,
	}
}

// mimeAttachmentPart returns a base64 part for a; disp is "attachment" or
// "inline".
func mimeAttachmentPart(a Attachment, disp string) *mimePart {
	t, params := "application/octet-stream", map[string]string{}
	if a.ContentType != "" {
		t, params, _ = mime.ParseMediaType(a.ContentType) // validated
	}
	if a.Name != "" {
		// The RFC 2047 name parameter is not standard but still read by
		// clients that ignore the RFC 2231 filename.
		name := a.Name
		if !mimeIsPlain(name) {
			name = mimeBEncode(name)
		}
		params["name"] = name
	}
	fields := []mimeField{
		{"Content-Type", mime.FormatMediaType(t, params)},
		{"Content-Disposition", mimeFormatDisposition(disp, a.Name)},
	}
	if a.ContentID != "" {
		fields = append(fields, mimeField{"Content-ID", "<" + a.ContentID + ">"})
	}
	fields = append(fields, mimeField{"Content-Transfer-Encoding", "base64"})
	p := &mimePart{fields: fields, body: a.Content}
	if a.Content == nil && a.Open != nil {
		p.open = &a
	}
	return p
}

// mimeCRLF converts every line break in s (CRLF, LF or a lone CR) to CRLF, the
// canonical form of text in MIME (RFC 2046 section 4.1.1).
func mimeCRLF(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// mimeTextEncoding chooses quoted-printable, unless more than a sixth of the
// bytes would be escaped (each escape takes three bytes, so base64, a third
// larger, is then shorter): mostly non-ASCII text such as Greek or Chinese.
func mimeTextEncoding(body []byte) string {
	escaped := 0
	for _, c := range body {
		if c > '~' || c == '=' || c < ' ' && c != '\t' && c != '\r' && c != '\n' {
			escaped++
		}
	}
	if escaped*6 > len(body) {
		return "base64"
	}
	return "quoted-printable"
}

// mimeBoundary derives a multipart boundary from the Message-ID, so that
// rendering is deterministic. The "=_" prefix can never occur in
// quoted-printable or base64 content (nor in RFC 2047 words), so the
// boundary cannot collide with any encoded body, whatever it contains.
func mimeBoundary(messageID, path string) string {
	sum := sha256.Sum256([]byte("graphmail boundary\x00" + messageID + "\x00" + path))
	return "=_" + hex.EncodeToString(sum[:20])
}

// writeMIMETree writes root, the whole message, to w.
func writeMIMETree(w io.Writer, root *mimePart, messageID string) error {
	setMIMEBoundaries(root, messageID, "")
	h, err := mimeHeader(root.fields)
	if err != nil {
		return err
	}
	if root.kind != "" {
		mw, err := message.CreateWriter(w, h)
		if err != nil {
			return err
		}
		return writeMIMEContent(mw, root)
	}
	// A single-part message: end it with a line break too (multipart
	// bodies end with the closing boundary line), one that decodes to
	// nothing: after base64 a CRLF is ignored, in quoted-printable "=" CRLF
	// is a soft line break.
	tw := &mimeTailWriter{w: w}
	mw, err := message.CreateWriter(tw, h)
	if err != nil {
		return err
	}
	if err := writeMIMEContent(mw, root); err != nil {
		return err
	}
	if tw.tail == [2]byte{'\r', '\n'} {
		return nil
	}
	end := "\r\n"
	if h.Get("Content-Transfer-Encoding") == "quoted-printable" {
		end = "=\r\n"
	}
	_, err = io.WriteString(w, end)
	return err
}

// mimeTailWriter remembers the last two bytes written through it.
type mimeTailWriter struct {
	w    io.Writer
	tail [2]byte
}

func (t *mimeTailWriter) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	switch {
	case n >= 2:
		t.tail = [2]byte{p[n-2], p[n-1]}
	case n == 1:
		t.tail = [2]byte{t.tail[1], p[0]}
	}
	return n, err
}

func setMIMEBoundaries(p *mimePart, messageID, path string) {
	if p.kind == "" {
		return
	}
	path += "/" + p.kind
	for i, f := range p.fields {
		if f.name != "Content-Type" {
			continue
		}
		t, params, _ := mime.ParseMediaType(f.value)
		if t == "" {
			t, params = "multipart/"+p.kind, map[string]string{}
		}
		params["boundary"] = mimeBoundary(messageID, path)
		p.fields[i].value = mime.FormatMediaType(t, params)
	}
	for _, c := range p.children {
		setMIMEBoundaries(c, messageID, path)
	}
}

// writeMIMEContent writes p's body (or its children) to mw, whose header has
// been written, and closes mw.
func writeMIMEContent(mw *message.Writer, p *mimePart) error {
	if p.kind == "" {
		if p.open != nil {
			if err := copyAttachment(mw, p.open); err != nil {
				return err
			}
		} else if _, err := mw.Write(p.body); err != nil {
			return err
		}
		return mw.Close()
	}
	for _, c := range p.children {
		h, err := mimeHeader(c.fields)
		if err != nil {
			return err
		}
		cw, err := mw.CreatePart(h)
		if err != nil {
			return err
		}
		if err := writeMIMEContent(cw, c); err != nil {
			return err
		}
	}
	return mw.Close()
}

// copyAttachment streams the Size bytes of an Open attachment to w.
func copyAttachment(w io.Writer, a *Attachment) error {
	rc, err := a.Open()
	if err != nil {
		return fmt.Errorf("graphmail: attachment %q: %w", a.Name, err)
	}
	defer rc.Close()
	n, err := io.CopyN(w, rc, a.Size)
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("graphmail: attachment %q: after %d of %d bytes: %w", a.Name, n, a.Size, err)
	}
	return nil
}
