package graphmail

import (
	"fmt"
	"mime"
	"net/mail"
	"strings"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"
)

// MessageError reports a Message that cannot be sent as it is: a missing
// recipient, an invalid address, a header that would allow header injection,
// and so on. Retrying does not help; the message must be fixed.
type MessageError struct {
	// Field names the offending part of the Message, for example "Subject",
	// "To[1].Address" or "Attachments[0].Name".
	Field string
	// Problem says what is wrong, in lowercase and without a final period.
	Problem string
}

// Error returns "graphmail: <field>: <problem>".
func (e *MessageError) Error() string {
	return "graphmail: " + e.Field + ": " + e.Problem
}

func mimeErrorf(field, format string, args ...any) *MessageError {
	return &MessageError{Field: field, Problem: fmt.Sprintf(format, args...)}
}

// mimeReservedHeaders are the fields RenderMIME writes itself; m.Headers may not
// set them (a second From or Content-Type would confuse or break the message).
var mimeReservedHeaders = map[string]string{
	"from": "From", "to": "To", "cc": "Cc", "bcc": "Bcc", "reply-to": "ReplyTo",
	"subject": "Subject", "date": "Date", "message-id": "MessageID",
	"mime-version": "", "importance": "Importance", "x-priority": "Importance",
}

// mimeMaxHeaderNameLen keeps "Name: " well within a 78-octet line; go-message
// panics folding a field whose name is over 72 characters.
const mimeMaxHeaderNameLen = 64

// validateMIMEMessage checks everything RenderMIME needs before it writes a
// byte, so that an error never leaves half a message in the writer. from is
// the effective sender (m.From or the default).
func validateMIMEMessage(m *Message, from Address) error {
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		return mimeErrorf("To", "no recipients (To, Cc and Bcc are all empty)")
	}
	if from.Address == "" {
		return mimeErrorf("From", "no sender; set Message.From or MIMEOptions.DefaultFrom")
	}
	if err := validateMIMEAddress("From", from); err != nil {
		return err
	}
	lists := []struct {
		name  string
		addrs []Address
	}{{"To", m.To}, {"Cc", m.Cc}, {"Bcc", m.Bcc}, {"ReplyTo", m.ReplyTo}}
	for _, l := range lists {
		for i, a := range l.addrs {
			if err := validateMIMEAddress(fmt.Sprintf("%s[%d]", l.name, i), a); err != nil {
				return err
			}
		}
	}
	if err := validateMIMEText("Subject", m.Subject); err != nil {
		return err
	}
	if err := validateMIMEBody("Text", m.Text); err != nil {
		return err
	}
	if err := validateMIMEBody("HTML", m.HTML); err != nil {
		return err
	}
	switch m.Importance {
	case "", ImportanceLow, ImportanceNormal, ImportanceHigh:
	default:
		return mimeErrorf("Importance", "%s is not low, normal or high", mimeQuote(string(m.Importance)))
	}
	if err := validateMIMEMessageID(m.MessageID); err != nil {
		return err
	}
	for i, h := range m.Headers {
		if err := validateMIMEHeader(i, h); err != nil {
			return err
		}
	}
	for i, a := range m.Attachments {
		if err := validateMIMEAttachment(fmt.Sprintf("Attachments[%d]", i), a); err != nil {
			return err
		}
	}
	return nil
}

func validateMIMEAddress(field string, a Address) error {
	if err := validateMIMEText(field+".Name", a.Name); err != nil {
		return err
	}
	addr := a.Address
	switch {
	case addr == "":
		return mimeErrorf(field+".Address", "empty address")
	case strings.ContainsAny(addr, "\r\n"):
		return mimeErrorf(field+".Address", "contains a line break (header injection)")
	case !mimeIsASCII(addr):
		return mimeErrorf(field+".Address", "%s has non-ASCII characters; use the punycode (xn--) form of the domain", mimeQuote(addr))
	case len(addr) > 254:
		return mimeErrorf(field+".Address", "longer than 254 characters")
	}
	p, err := mail.ParseAddress(addr)
	if err != nil || p.Name != "" || !strings.Contains(p.Address, "@") {
		return mimeErrorf(field+".Address", "%s is not an e-mail address", mimeQuote(addr))
	}
	return nil
}

// mimeMaxText is the longest header text (subject, display name, header
// value, attachment name) RenderMIME accepts, in bytes. Longer texts are
// almost certainly mistakes, and go-message takes quadratic time to fold
// them (a 200 KB subject takes seconds).
const mimeMaxText = 8 << 10

// validateMIMEText checks a header text (subject, display name, header
// value, file name): valid UTF-8, not too long, and no CR or LF, which would
// let the text start a new header.
func validateMIMEText(field, s string) error {
	if strings.ContainsAny(s, "\r\n") {
		return mimeErrorf(field, "contains a line break (header injection)")
	}
	if !utf8.ValidString(s) {
		return mimeErrorf(field, "is not valid UTF-8")
	}
	if len(s) > mimeMaxText {
		return mimeErrorf(field, "longer than %d bytes", mimeMaxText)
	}
	return nil
}

func validateMIMEBody(field, s string) error {
	if !utf8.ValidString(s) {
		return mimeErrorf(field, "is not valid UTF-8 (bodies are sent as charset=utf-8)")
	}
	return nil
}

func validateMIMEMessageID(id string) error {
	if strings.ContainsAny(id, "\r\n") {
		return mimeErrorf("MessageID", "contains a line break (header injection)")
	}
	if strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
		return mimeErrorf("MessageID", "%s must not include the angle brackets", mimeQuote(id))
	}
	if !mimeIsASCII(id) || len(id) > 250 {
		return mimeErrorf("MessageID", "%s is not an ASCII id-left@id-right of at most 250 characters", mimeQuote(id))
	}
	var h gomail.Header
	h.SetMessageID(id)
	if got, err := h.MessageID(); err != nil || got != id {
		return mimeErrorf("MessageID", "%s is not a valid Message-ID (id-left@id-right)", mimeQuote(id))
	}
	return nil
}

func validateMIMEHeader(i int, h Header) error {
	field := fmt.Sprintf("Headers[%d]", i)
	if h.Name == "" {
		return mimeErrorf(field+".Name", "empty header name")
	}
	if len(h.Name) > mimeMaxHeaderNameLen {
		return mimeErrorf(field+".Name", "longer than %d characters", mimeMaxHeaderNameLen)
	}
	for j := 0; j < len(h.Name); j++ {
		if c := h.Name[j]; c == '\r' || c == '\n' {
			return mimeErrorf(field+".Name", "contains a line break (header injection)")
		} else if c < '!' || c > '~' || c == ':' {
			return mimeErrorf(field+".Name", "%s is not a header field name (printable ASCII, no colon or space)", mimeQuote(h.Name))
		}
	}
	lower := strings.ToLower(h.Name)
	if f, ok := mimeReservedHeaders[lower]; ok || strings.HasPrefix(lower, "content-") {
		if f == "" {
			return mimeErrorf(field+".Name", "%s is written by RenderMIME and cannot be set", h.Name)
		}
		return mimeErrorf(field+".Name", "%s is written by RenderMIME; set Message.%s instead", h.Name, f)
	}
	return validateMIMEText(field+".Value", h.Value)
}

func validateMIMEAttachment(field string, a Attachment) error {
	if err := validateMIMEText(field+".Name", a.Name); err != nil {
		return err
	}
	for _, r := range a.Name {
		if r < ' ' || r == 0x7f {
			return mimeErrorf(field+".Name", "contains a control character")
		}
	}
	if a.ContentType != "" {
		if strings.ContainsAny(a.ContentType, "\r\n") {
			return mimeErrorf(field+".ContentType", "contains a line break (header injection)")
		}
		if len(a.ContentType) > 256 {
			return mimeErrorf(field+".ContentType", "longer than 256 characters")
		}
		t, params, err := mime.ParseMediaType(a.ContentType)
		if err != nil || !strings.Contains(t, "/") || mime.FormatMediaType(t, params) == "" {
			return mimeErrorf(field+".ContentType", "%s is not a media type", mimeQuote(a.ContentType))
		}
		if strings.HasPrefix(t, "multipart/") || strings.HasPrefix(t, "message/") {
			return mimeErrorf(field+".ContentType", "%s cannot be sent as a base64 attachment; use application/octet-stream", t)
		}
		// go-message refuses to write parts labelled with other charsets.
		switch cs := strings.ToLower(params["charset"]); cs {
		case "", "utf-8", "us-ascii":
		default:
			return mimeErrorf(field+".ContentType", "charset %s is not supported; only utf-8 and us-ascii", mimeQuote(cs))
		}
	}
	if a.ContentID != "" {
		id := a.ContentID
		if strings.ContainsAny(id, "\r\n") {
			return mimeErrorf(field+".ContentID", "contains a line break (header injection)")
		}
		if strings.HasPrefix(id, "<") || strings.HasSuffix(id, ">") {
			return mimeErrorf(field+".ContentID", "%s must not include the angle brackets", mimeQuote(id))
		}
		if len(id) > 250 || strings.ContainsFunc(id, func(r rune) bool {
			return r <= ' ' || r > '~' || strings.ContainsRune(`<>()"\,;[]`, r)
		}) {
			return mimeErrorf(field+".ContentID", "%s is not a content id (printable ASCII without spaces, brackets or quotes, at most 250 characters)", mimeQuote(id))
		}
	}
	return nil
}

func mimeIsASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// mimeQuote quotes s for an error message, shortening long values.
func mimeQuote(s string) string {
	const max = 60
	if len(s) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q…", s[:cut])
	}
	return fmt.Sprintf("%q", s)
}

// Class reports [BadMessage]: retrying cannot help, the message must be
// fixed.
func (e *MessageError) Class() Class { return BadMessage }
