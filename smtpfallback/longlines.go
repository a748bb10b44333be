package smtpfallback

import (
	"bytes"
	"mime"
	"strings"
)

// maxLine is the longest line SMTP carries, in octets without the CRLF
// (RFC 5321 §4.5.3.1.6, RFC 5322 §2.1.1).
const maxLine = 998

// qpLine is the longest quoted-printable or base64 line written, in octets
// without the CRLF (RFC 2045 §6.7, §6.8).
const qpLine = 76

// hasLongLine reports whether a line of msg is over maxLine octets. Lines
// end with LF; a CR before the LF (or at the very end, where the wire adds
// the LF) is not counted.
func hasLongLine(msg []byte) bool {
	for len(msg) > 0 {
		i := bytes.IndexByte(msg, '\n')
		if i < 0 {
			i = len(msg)
		}
		n := i
		if n > 0 && msg[n-1] == '\r' {
			n--
		}
		if n > maxLine {
			return true
		}
		msg = msg[min(i+1, len(msg)):]
	}
	return false
}

// reencode returns msg ready for SMTP: msg itself when no line is over
// maxLine octets, else a copy in which every such line has been dealt with
// the way an MTA downgrades a message (see the package documentation,
// "Long lines"). It returns a [*LineLengthError] for a message it cannot
// re-encode without changing its meaning.
func reencode(msg []byte) (out []byte, changed bool, err error) {
	if !hasLongLine(msg) {
		return msg, false, nil
	}
	r := &reencoder{in: msg, out: make([]byte, 0, len(msg)+len(msg)/8+256)}
	if err := r.entity(true, false); err != nil {
		return nil, false, err
	}
	return r.out, true, nil
}

// reencoder walks a message's MIME tree in one pass over its lines, copying
// to out what needs no change and re-encoding what does.
type reencoder struct {
	in  []byte
	pos int // start of the next line to read
	out []byte
	// bounds are the boundaries of the enclosing multiparts, innermost
	// last: a delimiter line of any of them ends the current part.
	bounds []string
	// signed counts the enclosing multipart/signed entities: nothing inside
	// one may change.
	signed int
}

// line returns the line starting at pos without its line ending, and the
// position after the line ending.
func (r *reencoder) line(pos int) (text []byte, next int) {
	rest := r.in[pos:]
	i := bytes.IndexByte(rest, '\n')
	if i < 0 {
		text, next = rest, len(r.in)
	} else {
		text, next = rest[:i], pos+i+1
	}
	if n := len(text); n > 0 && text[n-1] == '\r' {
		text = text[:n-1]
	}
	return text, next
}

// delimiter reports whether text is a delimiter line ("--boundary" or
// "--boundary--", then optional white space) of an enclosing multipart: the
// index in r.bounds, or -1.
func (r *reencoder) delimiter(text []byte) (level int, closing bool) {
	if len(r.bounds) == 0 || !bytes.HasPrefix(text, []byte("--")) {
		return -1, false
	}
	for i := len(r.bounds) - 1; i >= 0; i-- {
		b := r.bounds[i]
		if !bytes.HasPrefix(text[2:], []byte(b)) {
			continue
		}
		rest := text[2+len(b):]
		closing := bytes.HasPrefix(rest, []byte("--"))
		if closing {
			rest = rest[2:]
		}
		if len(bytes.TrimLeft(rest, " \t")) == 0 {
			return i, closing
		}
	}
	return -1, false
}

// boundaryPrefix reports whether text starts with "--" and the boundary of
// an enclosing multipart: whatever follows, some MIME readers would take
// such a line for a delimiter.
func (r *reencoder) boundaryPrefix(text []byte) bool {
	for _, b := range r.bounds {
		if len(text) >= 2+len(b) && text[0] == '-' && text[1] == '-' && string(text[2:2+len(b)]) == b {
			return true
		}
	}
	return false
}

// errAt returns a *LineLengthError for the line starting at pos.
func (r *reencoder) errAt(pos int, reason string) error {
	text, _ := r.line(pos)
	return &LineLengthError{Line: bytes.Count(r.in[:pos], []byte("\n")) + 1, Length: len(text), Reason: reason}
}

// header is an entity's parsed header block.
type header struct {
	fields    [][2]int // byte ranges of the fields, continuation lines included
	end       int      // end of the last field
	bodyStart int      // after the empty line, if any
	longAt    int      // start of the first line over maxLine, or -1

	mediaType string // lower case; "" if absent or unparsable
	boundary  string
	cte       string // lower case, first word; "" if absent
	cteFields []int  // indexes in fields of Content-Transfer-Encoding
	mimeVer   bool
}

// readHeader reads the header block at r.pos, up to and including the
// empty line, or up to a delimiter line or the end.
func (r *reencoder) readHeader() *header {
	h := &header{longAt: -1}
	for r.pos < len(r.in) {
		text, next := r.line(r.pos)
		if len(text) == 0 {
			h.end, h.bodyStart = r.pos, next
			r.pos = next
			break
		}
		if lvl, _ := r.delimiter(text); lvl >= 0 {
			break
		}
		if len(text) > maxLine && h.longAt < 0 {
			h.longAt = r.pos
		}
		if (text[0] == ' ' || text[0] == '\t') && len(h.fields) > 0 {
			h.fields[len(h.fields)-1][1] = next
		} else {
			h.fields = append(h.fields, [2]int{r.pos, next})
		}
		r.pos = next
		h.end, h.bodyStart = r.pos, r.pos
	}
	for i, f := range h.fields {
		name, value, ok := bytes.Cut(r.in[f[0]:f[1]], []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(bytes.TrimRight(name, " \t"))) {
		case "content-type":
			if h.mediaType == "" {
				v := unfold(value)
				mt, params, err := mime.ParseMediaType(v)
				if err == nil || err == mime.ErrInvalidMediaParameter {
					h.mediaType, h.boundary = mt, params["boundary"]
				} else if t, _, _ := strings.Cut(v, ";"); strings.Contains(t, "/") {
					// Unparsable: keep the type, so that a multipart whose
					// boundary cannot be read is not taken for text.
					h.mediaType = strings.ToLower(strings.TrimSpace(t))
				}
			}
		case "content-transfer-encoding":
			if len(h.cteFields) == 0 {
				v := strings.ToLower(strings.TrimLeft(unfold(value), " \t"))
				h.cte, _, _ = strings.Cut(v, " ")
				h.cte, _, _ = strings.Cut(h.cte, "(")
			}
			h.cteFields = append(h.cteFields, i)
		case "mime-version":
			h.mimeVer = true
		}
	}
	return h
}

// unfold joins the lines of a header field value.
func unfold(v []byte) string {
	v = bytes.ReplaceAll(v, []byte("\r\n"), nil)
	v = bytes.ReplaceAll(v, []byte("\n"), nil)
	return strings.TrimSpace(string(v))
}

// entity re-encodes one entity (header and body), up to the next delimiter
// line of an enclosing multipart or the end. top is true for a message
// (the whole one or one inside message/rfc822); digest is true inside
// multipart/digest, where the default type is message/rfc822.
func (r *reencoder) entity(top, digest bool) error {
	h := r.readHeader()
	mt := h.mediaType
	if mt == "" {
		mt = "text/plain"
		if digest {
			mt = "message/rfc822"
		}
	}
	identity := h.cte == "" || h.cte == "7bit" || h.cte == "8bit" || h.cte == "binary"
	switch {
	case strings.HasPrefix(mt, "multipart/") && h.boundary != "":
		if err := r.writeHeader(h, "", top); err != nil {
			return err
		}
		if mt == "multipart/signed" {
			r.signed++
			defer func() { r.signed-- }()
		}
		return r.multipart(h.boundary, mt == "multipart/digest")
	case (mt == "message/rfc822" || mt == "message/global") && identity:
		if err := r.writeHeader(h, "", top); err != nil {
			return err
		}
		return r.entity(true, false)
	}
	return r.leaf(h, mt, identity, top)
}

// leaf re-encodes the body of a single part if a line of it is too long.
func (r *reencoder) leaf(h *header, mediaType string, identity, top bool) error {
	start, longAt := r.pos, -1
	for r.pos < len(r.in) {
		text, next := r.line(r.pos)
		if lvl, _ := r.delimiter(text); lvl >= 0 {
			break
		}
		if len(text) > maxLine && longAt < 0 {
			longAt = r.pos
		}
		r.pos = next
	}
	body := r.in[start:r.pos]
	if longAt < 0 {
		if err := r.writeHeader(h, "", top); err != nil {
			return err
		}
		r.out = append(r.out, body...)
		return nil
	}
	switch {
	case r.signed > 0:
		return r.errAt(longAt, "it is inside multipart/signed, whose signature re-encoding would break")
	case strings.HasPrefix(mediaType, "multipart/"):
		return r.errAt(longAt, "it is in a multipart part without a boundary")
	case !identity && h.cte != "base64" && h.cte != "quoted-printable":
		return r.errAt(longAt, "it is in a part with the unknown Content-Transfer-Encoding "+h.cte)
	}

	// The line ending before a delimiter line belongs to the delimiter
	// (RFC 2046 §5.1.1); keep it, and at the end keep it too.
	content, eol := body, []byte(nil)
	if n := len(content); n > 0 && content[n-1] == '\r' {
		// A CR that ends the message: the wire adds its LF.
		content, eol = content[:n-1], content[n-1:]
	} else if n > 0 && content[n-1] == '\n' {
		content, eol = content[:n-1], content[n-1:]
		if n := len(content); n > 0 && content[n-1] == '\r' {
			content, eol = content[:n-1], body[n-1:]
		}
	}
	var err error
	switch {
	case identity && strings.HasPrefix(mediaType, "text/"):
		if err = r.writeHeader(h, "quoted-printable", top); err == nil {
			r.out = appendQP(r.out, content)
		}
	case identity:
		if err = r.writeHeader(h, "base64", top); err == nil {
			r.out = appendBase64(r.out, content)
		}
	case h.cte == "base64":
		if err = r.writeHeader(h, "", top); err == nil {
			r.out = rewrapBase64(r.out, content)
		}
	default:
		if err = r.writeHeader(h, "", top); err == nil {
			r.out = rewrapQP(r.out, content)
		}
	}
	r.out = append(r.out, eol...)
	return err
}

// multipart re-encodes the body of a multipart entity: preamble, parts and
// epilogue.
func (r *reencoder) multipart(boundary string, digest bool) error {
	r.bounds = append(r.bounds, boundary)
	own := len(r.bounds) - 1
	defer func() { r.bounds = r.bounds[:own] }()
	if err := r.filler(); err != nil {
		return err
	}
	for r.pos < len(r.in) {
		text, next := r.line(r.pos)
		lvl, closing := r.delimiter(text)
		if lvl != own {
			return nil // an enclosing multipart goes on: this one was not closed
		}
		if len(text) > maxLine {
			// Transport padding; drop it.
			if r.signed > 0 {
				return r.errAt(r.pos, "it is inside multipart/signed, whose signature re-encoding would break")
			}
			r.out = append(r.out, "--"+boundary...)
			if closing {
				r.out = append(r.out, "--"...)
			}
			r.out = append(r.out, r.in[r.pos+len(bytes.TrimRight(r.in[r.pos:next], "\r\n")):next]...)
		} else {
			r.out = append(r.out, r.in[r.pos:next]...)
		}
		r.pos = next
		if closing {
			r.bounds = r.bounds[:own]
			return r.filler()
		}
		if err := r.entity(false, digest); err != nil {
			return err
		}
	}
	return nil
}

// filler copies a preamble or epilogue up to the next delimiter line of an
// enclosing multipart. MIME readers ignore this text (RFC 2046 §5.1.1), so a
// line over maxLine is split wherever the new line cannot be taken for a
// delimiter.
func (r *reencoder) filler() error {
	for r.pos < len(r.in) {
		text, next := r.line(r.pos)
		if lvl, _ := r.delimiter(text); lvl >= 0 {
			return nil
		}
		if len(text) <= maxLine {
			r.out = append(r.out, r.in[r.pos:next]...)
			r.pos = next
			continue
		}
		if r.signed > 0 {
			return r.errAt(r.pos, "it is inside multipart/signed, whose signature re-encoding would break")
		}
		eol := r.in[r.pos+len(text) : next]
		for len(text) > maxLine {
			cut := maxLine
			for cut > 0 && r.boundaryPrefix(text[cut:]) {
				cut--
			}
			if cut == 0 {
				return r.errAt(r.pos, "it cannot be split without making a MIME boundary")
			}
			r.out = append(r.out, text[:cut]...)
			r.out = append(r.out, "\r\n"...)
			text = text[cut:]
		}
		r.out = append(r.out, text...)
		r.out = append(r.out, eol...)
		r.pos = next
	}
	return nil
}

// writeHeader copies h, folding lines over maxLine octets at white space
// and, if cte is not "", replacing the Content-Transfer-Encoding field with
// one that says cte (adding MIME-Version to a message that lacks it).
func (r *reencoder) writeHeader(h *header, cte string, top bool) error {
	if h.longAt < 0 && cte == "" {
		r.out = append(r.out, r.in[h.fields0():h.bodyStart]...)
		return nil
	}
	if r.signed > 0 {
		at := h.longAt
		if at < 0 {
			at = h.fields0()
		}
		return r.errAt(at, "it is inside multipart/signed, whose signature re-encoding would break")
	}
	wrote := false
	for i, f := range h.fields {
		if cte != "" && containsInt(h.cteFields, i) {
			if !wrote {
				r.out = append(r.out, "Content-Transfer-Encoding: "+cte+"\r\n"...)
				wrote = true
			}
			continue
		}
		for pos := f[0]; pos < f[1]; {
			text, next := r.line(pos)
			if len(text) <= maxLine {
				r.out = append(r.out, r.in[pos:next]...)
				pos = next
				continue
			}
			var ok bool
			if r.out, ok = appendFolded(r.out, text); !ok {
				return r.errAt(pos, "it is a header field line with no white space to fold it at")
			}
			r.out = append(r.out, r.in[pos+len(text):next]...)
			pos = next
		}
	}
	if cte != "" {
		if top && !h.mimeVer {
			r.out = append(r.out, "MIME-Version: 1.0\r\n"...)
		}
		if !wrote {
			r.out = append(r.out, "Content-Transfer-Encoding: "+cte+"\r\n"...)
		}
	}
	r.out = append(r.out, r.in[h.end:h.bodyStart]...)
	return nil
}

// fields0 is where the header block starts.
func (h *header) fields0() int {
	if len(h.fields) > 0 {
		return h.fields[0][0]
	}
	return h.end
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
