package graphmail

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// This file reads the part structure of a MIME message in place, from an
// io.ReaderAt, without holding any part's content: each part is a set of
// offsets into the message. mimecut.go uses it to cut the large parts out
// of a message that is too large for one Graph request.

// Limits of the MIME scanner, so that a hostile message costs bounded
// memory: headers beyond these sizes make a part opaque (never cut), and
// a message with more parts or deeper nesting is not cut at all.
const (
	maxTopHeaderBytes  = 1 << 20
	maxPartHeaderBytes = 64 << 10
	maxMIMEParts       = 10000
	maxMIMEDepth       = 32
	scanBufferBytes    = 64 << 10
)

// errMIMEStructure is a message whose structure the scanner will not
// follow (too many parts); it is sent whole or not at all.
var errMIMEStructure = errors.New("graphmail: the MIME structure has too many parts")

// rawPart is one part of a MIME message, located by offsets into it. For
// the message itself cutStart is 0 and end is its size.
type rawPart struct {
	// cutStart is where removing the part starts: the line break before
	// its delimiter line (which RFC 2046 attaches to the delimiter), or
	// the delimiter itself when it starts its multipart's body.
	cutStart int64
	// body is the part's body and end the end of it: the line break
	// before the next delimiter line. Removing [cutStart, end) removes the
	// part and its delimiter, and leaves the multipart well formed.
	body, end int64
	ended     bool

	mediaType string // lower case; "text/plain" when there is no Content-Type
	params    map[string]string
	disp      string // lower case Content-Disposition type, "" without one
	dispRaw   string // the Content-Disposition value as written
	encoding  string // lower case Content-Transfer-Encoding
	contentID string // without angle brackets
	boundary  string // multipart parts only
	opaque    bool   // its header could not be read: never cut
	eol       string // the line ending of its delimiter line

	children []*rawPart
}

// multipart reports whether p is a multipart whose parts were read.
func (p *rawPart) multipart() bool { return p.boundary != "" }

// walkLeaves calls fn for every part of p that is not a multipart, in
// message order.
func (p *rawPart) walkLeaves(fn func(*rawPart)) {
	if !p.multipart() {
		fn(p)
		return
	}
	for _, c := range p.children {
		c.walkLeaves(fn)
	}
}

// scanFrame is a multipart being read.
type scanFrame struct {
	part   *rawPart
	closed bool // its close delimiter was seen: the rest is epilogue
}

// mimeScanner reads a message line by line, tracking offsets.
type mimeScanner struct {
	br     *bufio.Reader
	off    int64 // offset of the next byte br returns
	size   int64
	parts  int
	stack  []*scanFrame
	cur    *rawPart // the part whose header or body is being read
	inHdr  bool
	hdr    []byte // cur's header so far
	hdrMax int
	// prevEOL is the offset of the line break that ended the previous
	// complete line, -1 before the first.
	prevEOL int64
}

// scanMIME reads the part structure of the message in r (size bytes).
func scanMIME(r io.ReaderAt, size int64) (*rawPart, error) {
	root := &rawPart{}
	s := &mimeScanner{
		br:      bufio.NewReaderSize(io.NewSectionReader(r, 0, size), scanBufferBytes),
		size:    size,
		cur:     root,
		inHdr:   true,
		hdrMax:  maxTopHeaderBytes,
		prevEOL: -1,
		parts:   1,
	}
	midLine := false
	for {
		lineStart := s.off
		frag, err := s.br.ReadSlice('\n')
		s.off += int64(len(frag))
		if len(frag) > 0 {
			complete := frag[len(frag)-1] == '\n'
			if perr := s.line(frag, lineStart, !midLine, complete); perr != nil {
				return nil, perr
			}
			midLine = !complete
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			s.finish()
			return root, nil
		default:
			return nil, err
		}
	}
}

// line handles one line, or a fragment of a line longer than the buffer
// (atStart: the fragment starts the line; complete: it ends it).
func (s *mimeScanner) line(frag []byte, at int64, atStart, complete bool) error {
	content := frag
	if complete {
		content = bytes.TrimSuffix(frag[:len(frag)-1], []byte("\r"))
	}
	if complete {
		defer func() { s.prevEOL = at + int64(len(content)) }()
	}
	if atStart && complete {
		if i, closing, ok := s.delimiter(content); ok {
			return s.onDelimiter(i, closing, at, string(frag[len(content):]))
		}
	}
	if s.inHdr {
		if len(s.hdr)+len(frag) <= s.hdrMax {
			s.hdr = append(s.hdr, frag...)
		} else {
			s.cur.opaque = true
		}
		if atStart && complete && len(content) == 0 {
			s.endHeader(at+int64(len(frag)), true)
		}
	}
	return nil
}

// delimiter reports whether line is a delimiter of an open multipart: its
// index in the stack (innermost last) and whether it closes it.
func (s *mimeScanner) delimiter(line []byte) (int, bool, bool) {
	if len(line) < 3 || line[0] != '-' || line[1] != '-' {
		return 0, false, false
	}
	line = bytes.TrimRight(line[2:], " \t")
	for i := len(s.stack) - 1; i >= 0; i-- {
		rest, ok := bytes.CutPrefix(line, []byte(s.stack[i].part.boundary))
		if !ok {
			continue
		}
		switch string(rest) {
		case "":
			return i, false, true
		case "--":
			return i, true, true
		}
	}
	return 0, false, false
}

// onDelimiter ends the parts open inside multipart i at the delimiter line
// starting at off, and starts its next part unless the delimiter closes it.
func (s *mimeScanner) onDelimiter(i int, closing bool, off int64, eol string) error {
	f := s.stack[i]
	if f.closed {
		return nil // after the close delimiter: epilogue
	}
	cut := off
	if s.prevEOL >= f.part.body {
		cut = s.prevEOL
	}
	// Whatever is open inside f ends here (a missing close delimiter of a
	// nested multipart ends it too).
	if s.cur != f.part {
		s.endPart(s.cur, cut, off)
	}
	for _, g := range s.stack[i+1:] {
		s.endPart(g.part, cut, off)
	}
	s.stack = s.stack[:i+1]
	if closing {
		f.closed = true
		s.cur, s.inHdr = f.part, false
		return nil
	}
	s.parts++
	if s.parts > maxMIMEParts {
		return errMIMEStructure
	}
	child := &rawPart{cutStart: cut, eol: eol}
	f.part.children = append(f.part.children, child)
	s.cur, s.inHdr, s.hdr, s.hdrMax = child, true, s.hdr[:0], maxPartHeaderBytes
	return nil
}

// endPart ends p's body at cut, for a delimiter line at off.
func (s *mimeScanner) endPart(p *rawPart, cut, off int64) {
	if p.ended {
		return
	}
	if s.inHdr && p == s.cur {
		// The delimiter came inside its header: no body.
		s.endHeader(off, false)
	}
	p.end, p.ended = max(cut, p.body), true
}

// endHeader parses the current part's header, read so far, whose body
// starts at body. With push, a multipart part becomes a frame whose
// delimiters are looked for.
func (s *mimeScanner) endHeader(body int64, push bool) {
	p := s.cur
	s.inHdr = false
	p.body = body
	if p.opaque {
		return
	}
	start := body - int64(len(s.hdr))
	h := rfc5322.Parse(s.hdr)
	if _, ok := h.Defect(rfc5322.NotAField); ok {
		// A line that is not a field ends the header: the body starts there.
		p.body = start + int64(h.Body)
	}
	readPartHeader(p, h)
	if !p.opaque && push && strings.HasPrefix(p.mediaType, "multipart/") && p.boundary != "" {
		if len(s.stack) >= maxMIMEDepth {
			p.boundary, p.opaque = "", true
			return
		}
		s.stack = append(s.stack, &scanFrame{part: p})
		return
	}
	p.boundary = ""
}

// readPartHeader fills p's MIME fields from its header.
func readPartHeader(p *rawPart, h *rfc5322.Header) {
	p.mediaType = "text/plain"
	if f, ok := h.Get("Content-Type"); ok {
		mt, params, err := mime.ParseMediaType(f.Value())
		switch {
		case err == nil:
			p.mediaType, p.params = strings.ToLower(mt), params
		case errors.Is(err, mime.ErrInvalidMediaParameter):
			p.mediaType = strings.ToLower(mt)
		default:
			p.mediaType, p.opaque = "application/octet-stream", true
		}
		p.boundary = p.params["boundary"]
		if len(p.boundary) > 200 {
			p.boundary, p.opaque = "", true
		}
	}
	if f, ok := h.Get("Content-Disposition"); ok {
		p.dispRaw = f.Value()
		if d, _, err := mime.ParseMediaType(p.dispRaw); err == nil || errors.Is(err, mime.ErrInvalidMediaParameter) {
			p.disp = strings.ToLower(d)
		}
	}
	if f, ok := h.Get("Content-Transfer-Encoding"); ok {
		p.encoding = strings.ToLower(f.Value())
	}
	if f, ok := h.Get("Content-ID"); ok {
		p.contentID = strings.Trim(strings.TrimSpace(f.Value()), "<>")
	}
}

// finish ends every part still open at the end of the message.
func (s *mimeScanner) finish() {
	if s.inHdr {
		// A header without an empty line after it: all header, no body.
		s.endHeader(s.size, false)
		s.cur.body = s.size
	}
	s.endPart(s.cur, s.size, s.size)
	for _, f := range s.stack {
		s.endPart(f.part, s.size, s.size)
	}
}
