package graphmailtest

import (
	"bytes"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"strings"

	message "github.com/emersion/go-message"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// checkDraftMIME reads the header of a draft posted as MIME: its From
// address (nil without one), Message-Id and decoded Subject. A draft needs
// no recipients until it is sent.
func checkDraftMIME(b []byte) (*mail.Address, string, string, *graphError) {
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return nil, "", "", &graphError{status: 400, code: "ErrorMimeContentInvalid", message: "The MIME content is invalid: " + err.Error()}
	}
	var from *mail.Address
	if m.Header.Get("From") != "" {
		list, err := m.Header.AddressList("From")
		if err != nil || len(list) == 0 {
			return nil, "", "", &graphError{status: 400, code: "ErrorMimeContentInvalid", message: "The From header of the MIME content is invalid."}
		}
		from = list[0]
	}
	subject := m.Header.Get("Subject")
	if d, err := new(mime.WordDecoder).DecodeHeader(subject); err == nil {
		subject = d
	}
	return from, m.Header.Get("Message-Id"), subject, nil
}

// spliceAttachments returns a MIME draft with the attachments added to it
// afterwards, as Exchange shows the sent message: as base64 parts at the
// end of its top multipart/mixed, or, when its top is anything else, in a
// new multipart/mixed whose first part is the original content.
func spliceAttachments(raw []byte, atts []FileAttachment) ([]byte, error) {
	if len(atts) == 0 {
		return raw, nil
	}
	h := rfc5322.Parse(raw)
	eol := h.EOL
	var parts bytes.Buffer
	boundary := ""
	if f, ok := h.Get("Content-Type"); ok {
		if mt, params, err := mime.ParseMediaType(f.Value()); err == nil && strings.EqualFold(mt, "multipart/mixed") {
			boundary = params["boundary"]
		}
	}
	wrap := boundary == ""
	if wrap {
		boundary = "graphmailtest-" + randomHex(12)
	}
	for _, a := range atts {
		parts.WriteString(eol + "--" + boundary + eol)
		w, err := message.CreateWriter(&parts, attachmentHeader(a))
		if err != nil {
			return nil, err
		}
		if _, err := w.Write(a.ContentBytes); err != nil {
			return nil, err
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
	}
	if !wrap {
		// Before the line break that starts the close delimiter.
		closeDelim := []byte(eol + "--" + boundary + "--")
		i := bytes.LastIndex(raw, closeDelim)
		if i < 0 {
			return nil, errors.New("the MIME content's multipart/mixed has no close delimiter")
		}
		out := make([]byte, 0, len(raw)+parts.Len())
		out = append(out, raw[:i]...)
		out = append(out, bytes.TrimRight(parts.Bytes(), "\r\n")...)
		return append(out, raw[i:]...), nil
	}
	// Move the content fields into the first part.
	var top, content bytes.Buffer
	for _, f := range h.Fields {
		if strings.HasPrefix(strings.ToLower(f.Name), "content-") {
			content.Write(raw[f.Start:f.End])
		} else {
			top.Write(raw[f.Start:f.End])
		}
	}
	fmt.Fprintf(&top, "Content-Type: multipart/mixed; boundary=%q%s%s", boundary, eol, eol)
	top.WriteString("--" + boundary + eol)
	top.Write(content.Bytes())
	top.WriteString(eol)
	top.Write(raw[h.Body:])
	top.Write(bytes.TrimRight(parts.Bytes(), "\r\n"))
	top.WriteString(eol + "--" + boundary + "--" + eol)
	return top.Bytes(), nil
}
