package graphmail

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"slices"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// This file cuts a raw MIME message that is too large for one Graph request
// into a draft small enough for one (the message without its largest
// attachment parts, boundaries intact) and those parts, which go to the
// draft afterwards, decoded on the fly from the message (upload.go). The
// message is read in place through an io.ReaderAt (a spool file); nothing
// but the draft is held in memory.

// errNotCuttable: no set of attachment parts takes the message under the
// limit (a large text body, a single-part text message, a message whose
// structure could not be followed).
var errNotCuttable = errors.New("graphmail: the message has no attachment parts to take out that bring it within Graph's request limit")

// draftPlan is a message cut in two: the draft MIME and the parts taken
// out of it.
type draftPlan struct {
	draft []byte
	cut   []*rawPart   // in message order
	atts  []Attachment // the cut parts, decoded (planLargeMIME)
	root  *rawPart
}

// cuttable reports whether a leaf part may leave the draft: an attachment
// or an inline part that is not a text body. Text parts without a file
// name that are not marked attachment are the body and stay.
func cuttable(p *rawPart) bool {
	if p.opaque || p.multipart() || p.end <= p.body {
		return false
	}
	if p.disp == "attachment" {
		return true
	}
	if p.params["name"] != "" || strings.Contains(strings.ToLower(p.dispRaw), "filename") {
		return true
	}
	return !strings.HasPrefix(p.mediaType, "text/") && !strings.HasPrefix(p.mediaType, "multipart/")
}

// planDraft reads the message in r and takes out the fewest largest
// attachment parts that bring the base64 of the draft within limit bytes.
// It fails with errNotCuttable when no choice does.
func planDraft(r io.ReaderAt, size, limit int64) (*draftPlan, error) {
	root, err := scanMIME(r, size)
	if errors.Is(err, errMIMEStructure) {
		return nil, errNotCuttable
	}
	if err != nil {
		return nil, err
	}
	var cands []*rawPart
	root.walkLeaves(func(p *rawPart) {
		if cuttable(p) {
			cands = append(cands, p)
		}
	})
	// Largest first; the order of equals is the message's.
	slices.SortStableFunc(cands, func(a, b *rawPart) int {
		return int((b.end - b.cutStart) - (a.end - a.cutStart))
	})
	cut := map[*rawPart]bool{}
	n, i := size, 0
	for {
		for ; i < len(cands) && base64Len(n) > limit; i++ {
			cut[cands[i]] = true
			n -= cands[i].end - cands[i].cutStart
		}
		if len(cut) == 0 || base64Len(n) > limit {
			return nil, errNotCuttable
		}
		draft, err := buildDraft(r, root, cut)
		if err != nil {
			return nil, err
		}
		if base64Len(int64(len(draft))) <= limit {
			plan := &draftPlan{root: root, draft: draft}
			root.walkLeaves(func(p *rawPart) {
				if cut[p] {
					plan.cut = append(plan.cut, p)
				}
			})
			return plan, nil
		}
		// The empty parts kept for multiparts left without any took it
		// over: cut one more.
		if i == len(cands) {
			return nil, errNotCuttable
		}
		cut[cands[i]] = true
		n = int64(len(draft)) - (cands[i].end - cands[i].cutStart)
		i++
	}
}

// edit is a change to the message for the draft: [from, to) replaced by
// insert.
type edit struct {
	from, to int64
	insert   string
}

// buildDraft copies r without the cut parts. A multipart whose parts are
// all cut keeps an empty one; a single-part message that is cut keeps its
// header, with a text/plain Content-Type, and an empty body.
func buildDraft(r io.ReaderAt, root *rawPart, cut map[*rawPart]bool) ([]byte, error) {
	var edits []edit
	if cut[root] {
		hdr := make([]byte, root.body)
		if _, err := r.ReadAt(hdr, 0); err != nil {
			return nil, err
		}
		return emptiedHeader(hdr), nil
	}
	var walk func(p *rawPart)
	walk = func(p *rawPart) {
		all := len(p.children) > 0
		for _, c := range p.children {
			if cut[c] {
				edits = append(edits, edit{from: c.cutStart, to: c.end})
			} else {
				all = false
				walk(c)
			}
		}
		if all {
			// Keep one empty part where the first one was.
			first := p.children[0]
			e := &edits[len(edits)-len(p.children)]
			pre := ""
			if first.cutStart < first.end && first.cutStart != first.body && isEOLAt(r, first.cutStart) {
				pre = first.eol
			}
			e.insert = pre + "--" + p.boundary + first.eol + first.eol
		}
	}
	walk(root)
	slices.SortFunc(edits, func(a, b edit) int { return int(a.from - b.from) })
	var out []byte
	var off int64
	for _, e := range edits {
		if e.from < off {
			return nil, fmt.Errorf("graphmail: overlapping MIME parts at offset %d", e.from)
		}
		b, err := readRange(r, off, e.from)
		if err != nil {
			return nil, err
		}
		out = append(append(out, b...), e.insert...)
		off = e.to
	}
	b, err := readRange(r, off, root.end)
	if err != nil {
		return nil, err
	}
	return append(out, b...), nil
}

// isEOLAt reports whether the byte at off starts a line break.
func isEOLAt(r io.ReaderAt, off int64) bool {
	var b [1]byte
	_, err := r.ReadAt(b[:], off)
	return err == nil && (b[0] == '\r' || b[0] == '\n')
}

// readRange reads [from, to) of r.
func readRange(r io.ReaderAt, from, to int64) ([]byte, error) {
	b := make([]byte, to-from)
	if _, err := r.ReadAt(b, from); err != nil && !(errors.Is(err, io.EOF) && len(b) == 0) {
		return nil, fmt.Errorf("graphmail: reading the message at %d: %w", from, err)
	}
	return b, nil
}

// emptiedHeader returns the header of a single-part message whose body was
// cut, with its content fields replaced by an empty text/plain body's.
func emptiedHeader(hdr []byte) []byte {
	h := rfc5322.Parse(hdr)
	out := rfc5322.Rewrite(hdr, func(f *rfc5322.Field) (string, bool) {
		for _, n := range []string{"Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Content-ID", "Content-Description"} {
			if f.Is(n) {
				return "", true
			}
		}
		return "", false
	})
	h2 := rfc5322.Parse(out)
	line := "Content-Type: text/plain; charset=us-ascii" + h.EOL
	res := make([]byte, 0, len(out)+len(line))
	res = append(res, out[:h2.End]...)
	res = append(res, line...)
	return append(res, out[h2.End:]...)
}

// partAttachment describes the cut part p of r as an Attachment that decodes
// p's body whenever it is opened. Size is its decoded size, counted by
// reading it once.
func partAttachment(r io.ReaderAt, p *rawPart) (Attachment, error) {
	open := func() (io.ReadCloser, error) {
		return io.NopCloser(partDecoder(io.NewSectionReader(r, p.body, p.end-p.body), p.encoding)), nil
	}
	rc, _ := open()
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		return Attachment{}, fmt.Errorf("graphmail: decoding a %s part: %w", p.mediaType, err)
	}
	a := Attachment{Name: partName(p), ContentType: p.mediaType, Size: n, Open: open}
	if p.contentID != "" && p.disp != "attachment" {
		a.Inline, a.ContentID = true, p.contentID
	}
	return a, nil
}

// partDecoder decodes a body in the transfer encoding enc.
func partDecoder(r io.Reader, enc string) io.Reader {
	switch enc {
	case "base64":
		return &base64Reader{r: r}
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	}
	return r
}

// base64Reader decodes base64 as RFC 2045 tells decoders to: characters
// outside the alphabet (line breaks, white space, stray bytes) are
// ignored, the data ends at the first '=', and a short last group yields
// the whole bytes it holds. It never fails on what it reads.
type base64Reader struct {
	r    io.Reader
	in   []byte
	q    []byte // alphabet characters not decoded yet
	out  []byte // decoded, not returned yet
	buf  []byte // out's backing array
	done bool
}

func (d *base64Reader) Read(p []byte) (int, error) {
	for len(d.out) == 0 {
		if d.done {
			return 0, io.EOF
		}
		if d.in == nil {
			d.in = make([]byte, 32<<10)
			d.buf = make([]byte, 0, len(d.in))
		}
		n, err := d.r.Read(d.in)
		for _, c := range d.in[:n] {
			if c == '=' {
				d.done = true
				break
			}
			if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' {
				d.q = append(d.q, c)
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			d.done = true
		case err != nil:
			return 0, err
		}
		full := len(d.q) / 4 * 4
		d.out = d.buf[:base64.StdEncoding.DecodedLen(full)+2]
		w, _ := base64.StdEncoding.Decode(d.out, d.q[:full]) // whole groups without padding: no error
		if rest := d.q[full:]; d.done && len(rest) >= 2 {
			k, _ := base64.RawStdEncoding.Decode(d.out[w:], rest)
			w += k
		}
		d.out = d.out[:w]
		d.q = append(d.q[:0], d.q[full:]...)
	}
	n := copy(p, d.out)
	d.out = d.out[n:]
	return n, nil
}

// partName is the file name of a cut part: Content-Disposition's filename
// (RFC 2231 parameters, as the mime package reads them, and RFC 2047
// encoded words, as mail software in the field writes them), else
// Content-Type's name, else "attachment" with an extension for the media
// type. Directory parts are dropped.
func partName(p *rawPart) string {
	var name string
	if p.dispRaw != "" {
		if _, params, err := mime.ParseMediaType(p.dispRaw); err == nil {
			name = params["filename"]
		}
	}
	if name == "" {
		name = p.params["name"]
	}
	if strings.Contains(name, "=?") {
		if d, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
			name = d
		}
	}
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		name = "attachment" + extensions[p.mediaType]
	}
	return name
}

// extensions name a nameless part's file by its media type.
var extensions = map[string]string{
	"application/pdf": ".pdf", "image/jpeg": ".jpg", "image/png": ".png", "image/tiff": ".tif",
	"image/gif": ".gif", "application/zip": ".zip", "message/rfc822": ".eml", "text/plain": ".txt",
	"text/html": ".html", "text/csv": ".csv",
}
