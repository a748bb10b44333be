package graphmail

import (
	"bytes"
	"io"
	"time"

	"github.com/emersion/go-message"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// DefaultMIMEHostname is the right-hand side of generated Message-IDs when
// no hostname is given.
const DefaultMIMEHostname = "graphmail.local"

// MIMEOptions controls how RenderMIME and WriteMIME render a Message. The
// zero value is ready to use for SMTP, given a Message with a From address.
type MIMEOptions struct {
	// IncludeBcc writes a Bcc header. Leave it false for SMTP, where Bcc
	// recipients belong in the envelope only. Set it for Graph's MIME
	// sendMail, which delivers to Bcc recipients only when they are in the
	// header (Graph removes the header from the copies it delivers).
	IncludeBcc bool
	// DefaultFrom is the author used when the Message has no From, normally
	// the sending mailbox.
	DefaultFrom Address
	// Hostname is the right-hand side of a generated Message-ID. Empty means
	// DefaultMIMEHostname.
	Hostname string

	now func() time.Time // the Date of a Message without one; nil means time.Now
}

// EnsureMessageID sets m.MessageID to a new unique identifier, of the form
// "<random hex>.<unix nanoseconds>@<host>" (without angle brackets), if it
// is empty, and returns m.MessageID. An empty host means
// DefaultMIMEHostname. It is idempotent, so a retry or a fallback to
// another path that calls it again keeps the first identifier.
func (m *Message) EnsureMessageID(host string) string {
	if m.MessageID != "" {
		return m.MessageID
	}
	if host == "" {
		host = DefaultMIMEHostname
	}
	m.MessageID = rfc5322.NewMessageID(host)
	return m.MessageID
}

// RenderMIME renders m as an RFC 5322 message with MIME (RFC 2045–2049)
// bodies and returns it. It first calls m.EnsureMessageID(opts.Hostname),
// so m.MessageID is set afterwards, then validates m.
//
// Structure: a single text/plain or text/html part; multipart/alternative
// (text first) when both bodies are set; multipart/related around the HTML
// (or the alternative) when there are inline attachments (Inline and
// ContentID set); multipart/mixed outermost when there are other
// attachments. Without an HTML body, inline attachments go in the
// multipart/mixed with "Content-Disposition: inline". A message with neither
// body gets an empty text/plain part.
//
// Header fields, in order: From, To, Cc, Bcc (only with opts.IncludeBcc),
// Reply-To, Subject, Date, Message-ID, MIME-Version, Importance and
// X-Priority (for low and high importance), m.Headers in order, then the
// Content-* fields. Non-ASCII text is RFC 2047 encoded (attachment file
// names RFC 2231), so the output is 7-bit, uses CRLF line endings, and has
// no line longer than 998 octets.
//
// Bodies are UTF-8 with their line breaks (LF, CR or CRLF) sent as CRLF.
// They are quoted-printable unless more than a sixth of their bytes would
// need escaping (mostly non-ASCII text), in which case base64 is shorter.
// Attachments are base64.
//
// Attachments whose content comes from Open are streamed from it.
//
// The output is a function of m, the time (when m.Date is zero) and the
// Message-ID alone: multipart boundaries are derived from the Message-ID,
// so rendering a message again, for a retry, gives the same bytes as long
// as the Date does too (set m.Date to pin it).
//
// Errors about the message are *MessageError: no recipients, no sender, an
// invalid address, an invalid or reserved header name in m.Headers, a CR or
// LF in any header text (header injection), text that is not UTF-8, header
// text (subject, display name, header value, file name) over 8 KiB, or an
// unusable attachment content type or content ID.
func RenderMIME(m *Message, opts MIMEOptions) ([]byte, error) {
	var buf bytes.Buffer
	if err := WriteMIME(&buf, m, opts); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteMIME writes the same bytes as RenderMIME to w, streaming the content
// of Open attachments. Nothing is written if m is invalid; an error from w
// or from an attachment's reader may leave a partial message in it.
func WriteMIME(w io.Writer, m *Message, opts MIMEOptions) error {
	host := opts.Hostname
	if host == "" {
		host = DefaultMIMEHostname
	}
	m.EnsureMessageID(host)
	from := m.From
	if from.Address == "" && from.Name == "" {
		from = opts.DefaultFrom
	}
	if err := validateMIMEMessage(m, from); err != nil {
		return err
	}
	date := m.Date
	if date.IsZero() {
		if opts.now != nil {
			date = opts.now()
		} else {
			date = time.Now()
		}
	}

	root := mimeTree(m)
	fields := []mimeField{{"From", mimeFormatAddressList([]Address{from})}}
	if len(m.To) > 0 {
		fields = append(fields, mimeField{"To", mimeFormatAddressList(m.To)})
	}
	if len(m.Cc) > 0 {
		fields = append(fields, mimeField{"Cc", mimeFormatAddressList(m.Cc)})
	}
	if opts.IncludeBcc && len(m.Bcc) > 0 {
		fields = append(fields, mimeField{"Bcc", mimeFormatAddressList(m.Bcc)})
	}
	if len(m.ReplyTo) > 0 {
		fields = append(fields, mimeField{"Reply-To", mimeFormatAddressList(m.ReplyTo)})
	}
	if m.Subject != "" {
		fields = append(fields, mimeField{"Subject", mimeEncodeText(m.Subject)})
	}
	fields = append(fields,
		mimeField{"Date", date.Format(time.RFC1123Z)},
		mimeField{"Message-ID", "<" + m.MessageID + ">"},
		mimeField{"MIME-Version", "1.0"},
	)
	switch m.Importance {
	case ImportanceHigh:
		fields = append(fields, mimeField{"Importance", "high"}, mimeField{"X-Priority", "1"})
	case ImportanceLow:
		fields = append(fields, mimeField{"Importance", "low"}, mimeField{"X-Priority", "5"})
	}
	for _, h := range m.Headers {
		fields = append(fields, mimeField{h.Name, mimeEncodeText(h.Value)})
	}
	root.fields = append(fields, root.fields...)
	return writeMIMETree(w, root, m.MessageID)
}

// field is one header field; values are already encoded.
type mimeField struct{ name, value string }

// mimeHeader converts fields to a go-message header that writes them in
// order (go-message writes the most recently added field first). go-message
// folds each field, but it also canonicalizes names ("Message-Id"), so the
// folded bytes get the name back as given (same length, only case differs).
func mimeHeader(fields []mimeField) (message.Header, error) {
	var h message.Header
	for i := len(fields) - 1; i >= 0; i-- {
		f := fields[i]
		var one message.Header
		one.Add(f.name, f.value)
		raw, err := one.Raw(f.name)
		if err != nil {
			return h, err
		}
		h.AddRaw(append([]byte(f.name), raw[len(f.name):]...))
	}
	return h, nil
}
