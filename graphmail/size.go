package graphmail

import "fmt"

// Size limits that decide a message's path.
const (
	// MaxRequestBytes is Graph's limit on one sendMail request body (the
	// JSON, or the base64 MIME text).
	MaxRequestBytes = 4 << 20
	// LargeAttachmentBytes: attachments over this size go through an upload
	// session on the upload session path; smaller ones are posted whole.
	LargeAttachmentBytes = 3 << 20
	// MaxAttachmentBytes is the largest attachment an upload session takes.
	MaxAttachmentBytes = 150 << 20
	// DefaultMaxFallbackBytes is Exchange Online's default maximum message
	// size, 35 MB, the default of Config.MaxFallbackBytes.
	DefaultMaxFallbackBytes = 35 << 20
)

// LargeMessages chooses what happens to a message whose Graph request would
// exceed MaxRequestBytes.
type LargeMessages string

// The choices for Config.LargeMessages (config key large_messages).
const (
	// LargeViaFallback hands the message to the fallback if it is within
	// Config.MaxFallbackBytes and the policy allows a fallback.
	LargeViaFallback LargeMessages = ""
	// LargeUploadSession creates a draft, uploads each attachment over
	// LargeAttachmentBytes in chunks through an upload session (streaming
	// from Attachment.Open), then sends the draft. It needs the
	// Mail.ReadWrite application permission, so it is opt-in.
	LargeUploadSession LargeMessages = "upload_session"
)

// ProgressFunc is told, after each chunk, how much of an attachment an
// upload session has sent.
type ProgressFunc func(name string, sent, total int64)

// TooLargeError is a message too large for every path open to it: over
// Graph's request limit without an upload session, and over the fallback's
// limit or with no fallback allowed. It wraps a *MessageError, so callers
// that treat bad messages alike need not know it.
type TooLargeError struct {
	// RequestBytes is the size the Graph request would have had.
	RequestBytes int64
	// MIMEBytes is the size of the message as MIME (what SMTP would carry).
	MIMEBytes int64
	// FallbackLimit is the fallback's limit, or 0 when no fallback was
	// allowed.
	FallbackLimit int64
	// UploadSession reports whether the upload session path was enabled
	// (and the message is too large even for it).
	UploadSession bool
	msg           *MessageError
}

// Error implements error.
func (e *TooLargeError) Error() string { return e.msg.Error() }

// Unwrap returns the *MessageError.
func (e *TooLargeError) Unwrap() error { return e.msg }

func newTooLargeError(reqBytes, mimeBytes, fallbackLimit int64, upload bool) *TooLargeError {
	problem := fmt.Sprintf("the message is %s, over Graph's 4 MB request limit", formatBytes(reqBytes))
	switch {
	case upload:
		problem = "an attachment is over the 150 MB an upload session takes"
	case fallbackLimit > 0:
		problem += fmt.Sprintf(", and %s as MIME, over the fallback's %s", formatBytes(mimeBytes), formatBytes(fallbackLimit))
	default:
		problem += ", and no fallback may carry it"
	}
	return &TooLargeError{RequestBytes: reqBytes, MIMEBytes: mimeBytes, FallbackLimit: fallbackLimit, UploadSession: upload,
		msg: &MessageError{Field: "Attachments", Problem: problem}}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// base64Len is the length of the standard base64 encoding of n bytes.
func base64Len(n int64) int64 { return (n + 2) / 3 * 4 }

// base64LinesLen is base64Len plus a CRLF after each 76-character line, as
// in a MIME part.
func base64LinesLen(n int64) int64 {
	b := base64Len(n)
	return b + (b+75)/76*2
}

// shell returns a copy of m whose attachments have no content, for sizing.
func shell(m *Message) *Message {
	s := *m
	s.Attachments = make([]Attachment, len(m.Attachments))
	for i, a := range m.Attachments {
		a.Content, a.Open, a.Size = nil, nil, 0
		s.Attachments[i] = a
	}
	return &s
}

// mimeSize is the size of o as MIME for the fallback: the raw message as
// given, or a Message rendered without holding any attachment in memory.
func (c *Client) mimeSize(o *outgoing) (int64, error) {
	if o.msg == nil {
		return int64(len(o.raw)), nil
	}
	return c.renderedSize(o.msg, false)
}

// renderedSize is the size of m rendered as MIME (with the Bcc header for
// Graph), computed without holding any attachment in memory.
func (c *Client) renderedSize(m *Message, forGraph bool) (int64, error) {
	raw, err := RenderMIME(shell(m), c.mimeOptions(forGraph))
	if err != nil {
		return 0, err
	}
	n := int64(len(raw))
	for _, a := range m.Attachments {
		n += base64LinesLen(a.Len())
	}
	return n, nil
}

// sizeBound is a cheap upper bound of the request size, so that the common
// small message skips requestSize's extra rendering: every text byte may
// become six (a JSON \u escape; quoted-printable then base64 is at most
// four), every attachment byte base64 with line breaks, base64 again.
func sizeBound(m *Message) int64 {
	text := len(m.Subject) + len(m.Text) + len(m.HTML) + len(m.From.Name) + len(m.From.Address) + len(m.MessageID)
	n := 1
	for _, a := range append(m.Recipients(), m.ReplyTo...) {
		text += len(a.Name) + len(a.Address)
		n++
	}
	for _, h := range m.Headers {
		text += len(h.Name) + len(h.Value)
		n++
	}
	var att int64
	for _, a := range m.Attachments {
		text += len(a.Name) + len(a.ContentType) + len(a.ContentID)
		att += base64Len(base64LinesLen(a.Len()))
		n++
	}
	return 6*int64(text) + att + 8192 + 512*int64(n)
}

// requestSize computes the size of the sendMail request body for o (JSON,
// or base64 MIME) without holding any attachment in memory. For a Message
// whose sizeBound is within MaxRequestBytes it returns that bound.
func (c *Client) requestSize(o *outgoing) (int64, error) {
	if o.msg == nil {
		return base64Len(int64(len(o.graph))), nil
	}
	m := o.msg
	if b := sizeBound(m); b <= MaxRequestBytes {
		return b, nil
	}
	if needsMIME(m) {
		n, err := c.renderedSize(m, true)
		return base64Len(n), err
	}
	b, err := sendMailJSON(shell(m), c.saveSent)
	if err != nil {
		return 0, err
	}
	n := int64(len(b))
	for _, a := range m.Attachments {
		n += base64Len(a.Len())
	}
	return n, nil
}

// MaxMessageBytes is the largest RFC 5322 message that some path open to
// it can carry, for a relay's SIZE and its 552 at DATA time: with the
// fallback allowed (not PolicyNever) the fallback's maxFallback (0:
// DefaultMaxFallbackBytes); through Graph, with LargeUploadSession,
// MaxAttachmentBytes (Exchange Online's largest message), else what fits
// one sendMail request as base64 (a little under 3 MiB, leaving room for
// the header graphmail may add). PolicyOnly uses the fallback alone.
func MaxMessageBytes(policy Policy, large LargeMessages, maxFallback int64) int64 {
	if maxFallback <= 0 {
		maxFallback = DefaultMaxFallbackBytes
	}
	graph := int64(MaxRequestBytes/4*3 - 16<<10)
	if large == LargeUploadSession {
		graph = MaxAttachmentBytes
	}
	switch policy {
	case PolicyOnly:
		return maxFallback
	case PolicyNever:
		return graph
	}
	return max(graph, maxFallback)
}
