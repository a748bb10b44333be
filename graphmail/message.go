package graphmail

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Address is a mailbox with an optional display name.
type Address struct {
	// Name is the display name, for example "Reports Robot". It may be empty
	// and may contain any Unicode text.
	Name string
	// Address is the bare e-mail address, for example "reports@contoso.com".
	Address string
}

// String formats the address like RFC 5322 (the display name is quoted and,
// where needed, RFC 2047 encoded).
func (a Address) String() string {
	return (&mail.Address{Name: a.Name, Address: a.Address}).String()
}

// ParseAddress parses "Name <a@b>" or "a@b" into an Address.
func ParseAddress(s string) (Address, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Address{}, errors.New("graphmail: empty address")
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("graphmail: %q is not an e-mail address: %w", s, err)
	}
	return Address{Name: a.Name, Address: a.Address}, nil
}

// ParseAddressList parses a comma-separated list of addresses.
func ParseAddressList(s string) ([]Address, error) {
	list, err := mail.ParseAddressList(s)
	if err != nil {
		return nil, fmt.Errorf("graphmail: %q is not a list of e-mail addresses: %w", s, err)
	}
	out := make([]Address, len(list))
	for i, a := range list {
		out[i] = Address{Name: a.Name, Address: a.Address}
	}
	return out, nil
}

// Importance is the importance of a message as Graph and Outlook understand it.
type Importance string

// The importance values Graph accepts.
const (
	ImportanceLow    Importance = "low"
	ImportanceNormal Importance = "normal"
	ImportanceHigh   Importance = "high"
)

// Attachment is a file attached to a message.
type Attachment struct {
	// Name is the file name shown to the recipient.
	Name string
	// ContentType is the MIME type, for example "application/pdf". Empty
	// means application/octet-stream.
	ContentType string
	// Content is the file's bytes. Leave it nil and set Open and Size for
	// content that should not be held in memory (see AttachFile).
	Content []byte
	// Open, when set (and Content is nil), opens the content for reading.
	// It may be called more than once (once per path tried, and again to
	// resume an upload); each reader is closed after use, and must yield
	// Size bytes. A reader that implements io.Seeker is seeked rather than
	// reopened. WriteMIME and RenderMIME stream from it, the upload
	// session path reads it a chunk at a time, and a Graph JSON request
	// reads it whole, as it holds the message in memory anyway.
	Open func() (io.ReadCloser, error)
	// Size is the length of the content in bytes when Open is used.
	Size int64
	// ContentID, when set together with Inline, lets an HTML body refer to
	// the attachment as "cid:<ContentID>" (an inline image).
	ContentID string
	// Inline marks an attachment that is shown in the body rather than listed.
	Inline bool
}

// Header is an extra Internet message header. Graph accepts only headers
// whose name starts with "X-" (or "x-").
type Header struct {
	Name  string
	Value string
}

// Message is one e-mail message, independent of the path (Graph JSON, Graph
// MIME or SMTP) that carries it.
type Message struct {
	// From is the author shown to recipients. Empty means the sending mailbox.
	From Address
	// To, Cc and Bcc are the recipients. Bcc never appears in a header that
	// recipients can see.
	To, Cc, Bcc []Address
	// ReplyTo lists the addresses replies should go to.
	ReplyTo []Address
	// Subject is the subject line; any Unicode text.
	Subject string
	// Text is the plain-text body. Either Text or HTML (or both) may be set.
	Text string
	// HTML is the HTML body.
	HTML string
	// Importance is low, normal or high; empty means normal.
	Importance Importance
	// Attachments are sent with the message.
	Attachments []Attachment
	// Headers are extra "X-" headers.
	Headers []Header
	// MessageID is the RFC 5322 Message-ID without angle brackets. When empty
	// a unique one is generated once (see EnsureMessageID) and then kept, so
	// a retry or a fallback carries the same identifier.
	MessageID string
	// Date is the origination date; zero means the time of sending.
	Date time.Time
}

// Recipients returns every recipient (To, Cc and Bcc) in that order.
func (m *Message) Recipients() []Address {
	out := make([]Address, 0, len(m.To)+len(m.Cc)+len(m.Bcc))
	out = append(out, m.To...)
	out = append(out, m.Cc...)
	return append(out, m.Bcc...)
}

// Len returns the attachment's size in bytes: len(Content), or Size when the
// content comes from Open.
func (a *Attachment) Len() int64 {
	if a.Content != nil || a.Open == nil {
		return int64(len(a.Content))
	}
	return a.Size
}

// AttachFile returns an attachment backed by the file at path: it records
// the file's name, size and content type (from the extension, else sniffed
// from the first 512 bytes) and reads the content only when it is sent, so
// a 150 MB file is never held in memory on the upload session path.
func AttachFile(path string) (Attachment, error) {
	f, err := os.Open(path)
	if err != nil {
		return Attachment{}, fmt.Errorf("graphmail: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Attachment{}, fmt.Errorf("graphmail: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Attachment{}, fmt.Errorf("graphmail: %s is not a regular file", path)
	}
	ctype := mime.TypeByExtension(filepath.Ext(path))
	if ctype == "" {
		head := make([]byte, 512)
		n, _ := io.ReadFull(f, head)
		ctype = http.DetectContentType(head[:n])
	}
	return Attachment{
		Name:        filepath.Base(path),
		ContentType: ctype,
		Size:        st.Size(),
		Open:        func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// materialize returns m with the content of every Open attachment read into
// memory (a copy of m when there are any; m itself otherwise).
func materialize(m *Message) (*Message, error) {
	var out *Message
	for i, a := range m.Attachments {
		if a.Content != nil || a.Open == nil {
			continue
		}
		if out == nil {
			cp := *m
			cp.Attachments = append([]Attachment(nil), m.Attachments...)
			out = &cp
		}
		b, err := readAll(a)
		if err != nil {
			return nil, err
		}
		out.Attachments[i].Content, out.Attachments[i].Open = b, nil
	}
	if out == nil {
		return m, nil
	}
	return out, nil
}

// readAll reads an Open attachment, checking its Size.
func readAll(a Attachment) ([]byte, error) {
	rc, err := a.Open()
	if err != nil {
		return nil, fmt.Errorf("graphmail: attachment %q: %w", a.Name, err)
	}
	defer rc.Close()
	b := make([]byte, a.Size)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("graphmail: attachment %q: reading %d bytes: %w", a.Name, a.Size, err)
	}
	return b, nil
}
