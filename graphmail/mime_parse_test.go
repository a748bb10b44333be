package graphmail

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// This file parses rendered MIME back with the standard library only
// (net/mail, mime, mime/multipart), an implementation independent of
// go-message, and compares the result with the Message that was rendered.

// parsedMessage is what a standard-library reader sees in a rendered message.
type parsedMessage struct {
	header                     mail.Header
	from, to, cc, bcc, replyTo []Address
	subject, messageID         string
	date                       time.Time
	text, html                 string
	hasText, hasHTML           bool
	attachments                []parsedAttachment
	structure                  string // e.g. "multipart/mixed(text/plain,image/png)"
}

type parsedAttachment struct {
	disposition string // "attachment" or "inline"
	filename    string // Content-Disposition filename (RFC 2231 decoded)
	typeName    string // Content-Type name (RFC 2047 decoded)
	contentType string // media type without parameters
	contentID   string // without angle brackets
	content     []byte
}

// parseMIME parses raw with the standard library.
func parseMIME(raw []byte) (*parsedMessage, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("net/mail: %w", err)
	}
	p := &parsedMessage{header: msg.Header}
	lists := []struct {
		key string
		dst *[]Address
	}{{"From", &p.from}, {"To", &p.to}, {"Cc", &p.cc}, {"Bcc", &p.bcc}, {"Reply-To", &p.replyTo}}
	for _, l := range lists {
		if msg.Header.Get(l.key) == "" {
			continue
		}
		list, err := msg.Header.AddressList(l.key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.key, err)
		}
		for _, a := range list {
			*l.dst = append(*l.dst, Address{Name: a.Name, Address: a.Address})
		}
	}
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(msg.Header.Get("Subject")); err != nil {
		return nil, fmt.Errorf("Subject: %w", err)
	}
	id := msg.Header.Get("Message-Id")
	if !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, ">") {
		return nil, fmt.Errorf("Message-ID %q has no angle brackets", id)
	}
	p.messageID = id[1 : len(id)-1]
	if p.date, err = msg.Header.Date(); err != nil {
		return nil, err
	}
	if v := msg.Header.Get("Mime-Version"); v != "1.0" {
		return nil, fmt.Errorf("MIME-Version is %q", v)
	}
	p.structure, err = p.walk(textproto.MIMEHeader(msg.Header), msg.Body)
	return p, err
}

// walk reads one entity and returns its structure.
func (p *parsedMessage) walk(h textproto.MIMEHeader, body io.Reader) (string, error) {
	ct := h.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return "", fmt.Errorf("Content-Type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		var kids []string
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return "", fmt.Errorf("%s: %w", mediaType, err)
			}
			s, err := p.walk(part.Header, part)
			if err != nil {
				return "", err
			}
			kids = append(kids, s)
		}
		return mediaType + "(" + strings.Join(kids, ",") + ")", nil
	}

	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "", "7bit", "8bit", "binary":
	default:
		return "", fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	content, err := io.ReadAll(body)
	if err != nil {
		return "", fmt.Errorf("%s body: %w", mediaType, err)
	}

	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	if disp == "" && (mediaType == "text/plain" || mediaType == "text/html") {
		if cs := params["charset"]; cs != "utf-8" {
			return "", fmt.Errorf("%s has charset %q", mediaType, cs)
		}
		if mediaType == "text/plain" && !p.hasText {
			p.text, p.hasText = string(content), true
		} else if mediaType == "text/html" && !p.hasHTML {
			p.html, p.hasHTML = string(content), true
		} else {
			return "", fmt.Errorf("second %s body", mediaType)
		}
		return mediaType, nil
	}
	name, err := new(mime.WordDecoder).DecodeHeader(params["name"])
	if err != nil {
		return "", fmt.Errorf("Content-Type name %q: %w", params["name"], err)
	}
	cid := h.Get("Content-Id")
	if cid != "" {
		if !strings.HasPrefix(cid, "<") || !strings.HasSuffix(cid, ">") {
			return "", fmt.Errorf("Content-ID %q has no angle brackets", cid)
		}
		cid = cid[1 : len(cid)-1]
	}
	p.attachments = append(p.attachments, parsedAttachment{
		disposition: disp,
		filename:    dparams["filename"],
		typeName:    name,
		contentType: mediaType,
		contentID:   cid,
		content:     content,
	})
	return mediaType, nil
}

// diffParsed compares what was parsed with what rendering m with opts should
// give and describes every difference. m has been rendered (so it has a
// Message-ID).
func diffParsed(m *Message, opts MIMEOptions, p *parsedMessage) []string {
	var diffs []string
	check := func(what string, got, want any) {
		if fmt.Sprint(got) != fmt.Sprint(want) {
			diffs = append(diffs, fmt.Sprintf("%s: got %q, want %q", what, fmt.Sprint(got), fmt.Sprint(want)))
		}
	}
	from := m.From
	if from == (Address{}) {
		from = opts.DefaultFrom
	}
	wantBcc := []Address(nil)
	if opts.IncludeBcc {
		wantBcc = m.Bcc
	}
	check("From", p.from, []Address{from})
	check("To", p.to, m.To)
	check("Cc", p.cc, m.Cc)
	check("Bcc", p.bcc, wantBcc)
	check("Reply-To", p.replyTo, m.ReplyTo)
	check("Subject", p.subject, m.Subject)
	check("Message-ID", p.messageID, m.MessageID)
	wantDate := m.Date
	if wantDate.IsZero() && opts.now != nil {
		wantDate = opts.now()
	}
	if !wantDate.IsZero() && !p.date.Equal(wantDate.Truncate(time.Second)) {
		diffs = append(diffs, fmt.Sprintf("Date: got %v, want %v", p.date, wantDate))
	}
	wantText := mimeCRLF(m.Text)
	check("text body", p.text, wantText)
	check("has text body", p.hasText, m.Text != "" || m.HTML == "")
	check("HTML body", p.html, mimeCRLF(m.HTML))
	check("has HTML body", p.hasHTML, m.HTML != "")

	imp, prio := "", ""
	switch m.Importance {
	case ImportanceHigh:
		imp, prio = "high", "1"
	case ImportanceLow:
		imp, prio = "low", "5"
	}
	check("Importance", p.header.Get("Importance"), imp)
	check("X-Priority", p.header.Get("X-Priority"), prio)
	want := map[string][]string{}
	for _, h := range m.Headers {
		k := textproto.CanonicalMIMEHeaderKey(h.Name)
		want[k] = append(want[k], h.Value)
	}
	for k, vs := range want {
		var got []string
		for _, v := range p.header[k] {
			d, err := new(mime.WordDecoder).DecodeHeader(v)
			if err != nil {
				diffs = append(diffs, fmt.Sprintf("%s: %v", k, err))
			}
			got = append(got, d)
		}
		check(k, got, vs)
	}

	// Inline parts of an HTML message come first, in the multipart/related.
	var wantAtt []Attachment
	for _, a := range m.Attachments {
		if m.HTML != "" && a.Inline && a.ContentID != "" {
			wantAtt = append(wantAtt, a)
		}
	}
	for _, a := range m.Attachments {
		if !(m.HTML != "" && a.Inline && a.ContentID != "") {
			wantAtt = append(wantAtt, a)
		}
	}
	check("attachment count", len(p.attachments), len(wantAtt))
	for i := range min(len(p.attachments), len(wantAtt)) {
		got, w := p.attachments[i], wantAtt[i]
		what := fmt.Sprintf("attachment %d ", i)
		wantType, wantDisp := "application/octet-stream", "attachment"
		if w.ContentType != "" {
			wantType, _, _ = mime.ParseMediaType(w.ContentType)
		}
		if w.Inline && w.ContentID != "" {
			wantDisp = "inline"
		}
		check(what+"filename", got.filename, w.Name)
		check(what+"Content-Type name", got.typeName, w.Name)
		check(what+"content type", got.contentType, wantType)
		check(what+"disposition", got.disposition, wantDisp)
		check(what+"Content-ID", got.contentID, w.ContentID)
		if !bytes.Equal(got.content, w.Content) {
			diffs = append(diffs, fmt.Sprintf("%scontent: got %d bytes %.40q, want %d bytes %.40q", what, len(got.content), got.content, len(w.Content), w.Content))
		}
	}
	return diffs
}

// checkWire checks the octets themselves: CRLF line endings only, no line
// over 998 octets, 7-bit, and no Bcc header unless opts.IncludeBcc.
func checkWire(raw []byte, opts MIMEOptions) []string {
	var problems []string
	lines := bytes.Split(raw, []byte("\r\n"))
	for i, l := range lines {
		if bytes.ContainsAny(l, "\r\n") {
			problems = append(problems, fmt.Sprintf("line %d has a bare CR or LF: %.60q", i+1, l))
		}
		if len(l) > 998 {
			problems = append(problems, fmt.Sprintf("line %d is %d octets long", i+1, len(l)))
		}
		if j := slices.IndexFunc(l, func(b byte) bool { return b >= 0x80 || b == 0 }); j >= 0 {
			problems = append(problems, fmt.Sprintf("line %d has octet %#x (not 7-bit)", i+1, l[j]))
		}
	}
	if len(lines) > 0 && len(lines[len(lines)-1]) != 0 {
		problems = append(problems, "message does not end with CRLF")
	}
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	hasBcc := bytes.HasPrefix(head, []byte("Bcc:")) || bytes.Contains(head, []byte("\r\nBcc:"))
	if hasBcc && !opts.IncludeBcc {
		problems = append(problems, "Bcc header without IncludeBcc")
	}
	return problems
}
