package rfc5322

import (
	"bytes"
	"fmt"
	"strings"
)

// Kind names a defect of a header section.
type Kind string

// The defects Parse reports.
const (
	// BareCR is a CR that is not followed by LF. Some readers end the line
	// there and others do not, so the fields that follow are ambiguous.
	BareCR Kind = "bare CR"
	// NUL is a NUL byte, which RFC 5322 does not allow anywhere.
	NUL Kind = "NUL byte"
	// NotAField is a line that is neither a field, a continuation line nor
	// empty. The header section ends before it, and Header.Body points at
	// it: sendmail treats the rest as the body, a strict reader refuses the
	// message.
	NotAField Kind = "line that is not a header field"
)

// Defect is a flaw in a header section, found at Offset (a byte offset in
// the message). It implements error.
type Defect struct {
	Kind   Kind
	Offset int
}

// Error returns "rfc5322: <kind> at offset <offset>".
func (d *Defect) Error() string {
	return fmt.Sprintf("rfc5322: %s at offset %d", d.Kind, d.Offset)
}

// Field is one header field with its continuation lines.
type Field struct {
	// Name is the field name as written, without white space before the
	// colon.
	Name string
	// Start and End delimit the field in the message: raw[Start:End] is the
	// field with all its lines, including the final line break (if any).
	Start, End int
	// SpaceBeforeColon reports white space between the name and the colon
	// ("Subject :"), obsolete syntax (RFC 5322 section 4.5) that readers
	// disagree on: some see the field, some ignore it.
	SpaceBeforeColon bool

	valueStart int    // offset just past the colon
	value      []byte // raw[valueStart:End]
}

// Is reports whether the field's name is name, ignoring case.
func (f *Field) Is(name string) bool { return strings.EqualFold(f.Name, name) }

// Value returns the field's value unfolded (each line break that is
// followed by white space removed) and without leading and trailing white
// space. Encoded words (RFC 2047) are not decoded.
func (f *Field) Value() string {
	v := f.value
	var b strings.Builder
	b.Grow(len(v))
	for len(v) > 0 {
		i := bytes.IndexByte(v, '\n')
		if i < 0 {
			b.Write(v)
			break
		}
		line := v[:i]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		b.Write(line)
		v = v[i+1:]
	}
	return strings.Trim(b.String(), " \t")
}

// Header is the parsed header section of a message.
type Header struct {
	// Fields are the header fields in order.
	Fields []Field
	// End is the offset just past the last field: raw[:End] is the header
	// section without the empty line that ends it.
	End int
	// Body is the offset of the body: just past the empty line that ends
	// the header section, else where a NotAField defect stopped it, else
	// len(raw) (a message that is all header).
	Body int
	// EOL is the line ending of the message's first line, "\r\n" or "\n";
	// "\r\n" when it has none. Edits use it.
	EOL string
	// Defects lists the flaws found in the header section, by offset.
	Defects []Defect
}

// Parse reads the header section of raw. It never fails; see Defects for
// what a strict reader would refuse.
func Parse(raw []byte) *Header {
	h := &Header{EOL: "\r\n", Body: len(raw)}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 && (i == 0 || raw[i-1] != '\r') {
		h.EOL = "\n"
	}
	for off := 0; off < len(raw); {
		end := len(raw) // past the line and its line break
		if i := bytes.IndexByte(raw[off:], '\n'); i >= 0 {
			end = off + i + 1
		}
		line := raw[off:end] // without its line break
		if n := len(line); line[n-1] == '\n' {
			line = bytes.TrimSuffix(line[:n-1], []byte("\r"))
		}
		switch {
		case len(line) == 0:
			h.Body = end
			return h
		case line[0] == ' ' || line[0] == '\t':
			if len(h.Fields) == 0 {
				h.stop(off)
				return h
			}
			f := &h.Fields[len(h.Fields)-1]
			f.End = end
			f.value = raw[f.valueStart:end]
		default:
			name, space, colon, ok := fieldName(line)
			if !ok {
				h.stop(off)
				return h
			}
			vs := off + colon + 1
			h.Fields = append(h.Fields, Field{Name: name, Start: off, End: end, SpaceBeforeColon: space, valueStart: vs, value: raw[vs:end]})
		}
		h.End = end
		h.scan(line, off)
		off = end
	}
	return h
}

// stop ends the header section at a line that is not a field.
func (h *Header) stop(off int) {
	h.Body = off
	h.Defects = append(h.Defects, Defect{Kind: NotAField, Offset: off})
}

// scan records the bare CRs and NULs of a line (without its line break)
// that starts at off.
func (h *Header) scan(line []byte, off int) {
	for i, c := range line {
		switch c {
		case '\r':
			h.Defects = append(h.Defects, Defect{Kind: BareCR, Offset: off + i})
		case 0:
			h.Defects = append(h.Defects, Defect{Kind: NUL, Offset: off + i})
		}
	}
}

// fieldName reads the name of a field line: printable ASCII other than the
// colon, then optional white space, then the colon at offset colon.
func fieldName(line []byte) (name string, space bool, colon int, ok bool) {
	colon = bytes.IndexByte(line, ':')
	if colon <= 0 {
		return "", false, 0, false
	}
	n := bytes.TrimRight(line[:colon], " \t")
	if len(n) == 0 {
		return "", false, 0, false
	}
	for _, c := range n {
		if c < '!' || c > '~' {
			return "", false, 0, false
		}
	}
	return string(n), len(n) < colon, colon, true
}

// Get returns the first field named name (ignoring case).
func (h *Header) Get(name string) (Field, bool) {
	for _, f := range h.Fields {
		if f.Is(name) {
			return f, true
		}
	}
	return Field{}, false
}

// All returns every field named name (ignoring case), in order.
func (h *Header) All(name string) []Field {
	var out []Field
	for _, f := range h.Fields {
		if f.Is(name) {
			out = append(out, f)
		}
	}
	return out
}

// Err returns the first defect, or nil.
func (h *Header) Err() error {
	if len(h.Defects) == 0 {
		return nil
	}
	return &h.Defects[0]
}

// Defect returns the first defect of kind k.
func (h *Header) Defect(k Kind) (Defect, bool) {
	for _, d := range h.Defects {
		if d.Kind == k {
			return d, true
		}
	}
	return Defect{}, false
}

// MessageID returns the identifier of the first Message-ID field without
// angle brackets, white space or comments, or "" when there is none.
func (h *Header) MessageID() string {
	f, ok := h.Get("Message-ID")
	if !ok {
		return ""
	}
	return messageID(f.Value())
}

// messageID reads a msg-id: the text between the first "<" and the next
// ">" (or the whole value without brackets), without the white space that
// unfolding may have left in it.
func messageID(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	return strings.Join(strings.Fields(v), "")
}
