package graphmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// minUploadBytes is the smallest attachment Graph takes through an upload
// session (smaller ones get ErrorAttachmentSizeShouldNotBeLessThanMinimumSize);
// the parts cut from a raw message below it are posted whole, which Graph
// takes up to about 3 MB.
const minUploadBytes = 2 << 20

// SendEnvelopeFile is SendEnvelope for a message read in place from src
// (size bytes, for example a spool file) rather than held in memory, with
// the same envelope semantics.
//
// With Config.LargeMessages set to LargeUploadSession, a message over
// Graph's request limit is never read into memory whole: its header is
// read and rewritten for the envelope, the body stays in src, and the
// message goes as a draft created from its MIME with its largest
// attachment parts taken out, those parts then uploaded to the draft
// through upload sessions, decoded a chunk at a time from src (see
// SendMIME). Any other message is read into memory and sent with
// SendEnvelope; so is one that then goes to the fallback.
//
// src must not change until SendEnvelopeFile returns.
func (c *Client) SendEnvelopeFile(ctx context.Context, env Envelope, src io.ReaderAt, size int64) (Result, error) {
	if c.large != LargeUploadSession || c.policy == PolicyOnly || base64Len(size) <= MaxRequestBytes {
		return c.sendEnvelopeRead(ctx, env, src, size)
	}
	hdr, ok, err := readHeaderAt(src, size)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		// A header over 1 MB: nothing to gain from streaming the rest.
		return c.sendEnvelopeRead(ctx, env, src, size)
	}
	body := io.NewSectionReader(src, int64(len(hdr)), size-int64(len(hdr)))
	return c.sendEnvelope(ctx, env, func(to []string) (*outgoing, error) {
		o, err := prepareEnvelope(hdr, to)
		if err != nil {
			return nil, err
		}
		o.body = body
		return o, nil
	})
}

// sendEnvelopeRead reads src into memory and calls SendEnvelope.
func (c *Client) sendEnvelopeRead(ctx context.Context, env Envelope, src io.ReaderAt, size int64) (Result, error) {
	raw, err := readRange(src, 0, size)
	if err != nil {
		return Result{}, err
	}
	return c.SendEnvelope(ctx, env, raw)
}

// readHeaderAt reads the header section of the message in src, with the
// empty line that ends it. ok is false when the header is longer than
// maxTopHeaderBytes. A header with a line that is not a field is returned
// up to the limit, for prepareEnvelope to refuse.
func readHeaderAt(src io.ReaderAt, size int64) (hdr []byte, ok bool, err error) {
	buf, err := readRange(src, 0, min(size, maxTopHeaderBytes))
	if err != nil {
		return nil, false, err
	}
	h := rfc5322.Parse(buf)
	if _, bad := h.Defect(rfc5322.NotAField); bad {
		return buf, true, nil
	}
	if h.Body == len(buf) && int64(len(buf)) < size && !endsWithEmptyLine(buf) {
		return nil, false, nil
	}
	return buf[:h.Body], true, nil
}

// endsWithEmptyLine reports whether b ends with an empty line.
func endsWithEmptyLine(b []byte) bool {
	return bytes.HasSuffix(b, []byte("\n\n")) || bytes.HasSuffix(b, []byte("\n\r\n")) ||
		string(b) == "\n" || string(b) == "\r\n"
}

// graphSource returns o's message as Graph gets it (with the added Bcc),
// and its size: o.graph, or the rewritten header followed by the body
// read in place.
func (o *outgoing) graphSource() (io.ReaderAt, int64) {
	if o.body == nil {
		return bytes.NewReader(o.graph), int64(len(o.graph))
	}
	return &headedReader{hdr: o.graph, body: o.body}, int64(len(o.graph)) + o.body.Size()
}

// whole returns header followed by o's body, read into memory (only the
// fallback and a small sendMail need it), or header alone for a message
// held in memory.
func (o *outgoing) whole(header []byte) ([]byte, error) {
	if o.body == nil {
		return header, nil
	}
	b, err := readRange(o.body, 0, o.body.Size())
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(header)+len(b)), header...), b...), nil
}

// bodySize is the size of o's body read in place, 0 for a message held
// in memory.
func (o *outgoing) bodySize() int64 {
	if o.body == nil {
		return 0
	}
	return o.body.Size()
}

// headedReader is a message whose header was rewritten in memory and
// whose body is read in place.
type headedReader struct {
	hdr  []byte
	body *io.SectionReader
}

// ReadAt implements io.ReaderAt.
func (r *headedReader) ReadAt(p []byte, off int64) (int, error) {
	h := int64(len(r.hdr))
	if off >= h {
		return r.body.ReadAt(p, off-h)
	}
	n := copy(p, r.hdr[off:])
	if n == len(p) {
		return n, nil
	}
	m, err := r.body.ReadAt(p[n:], 0)
	return n + m, err
}

// sendLargeMIME sends a raw message over Graph's request limit as a draft
// created from its MIME without the parts plan took out, which are then
// added to the draft: through upload sessions, decoded from the message a
// chunk at a time, or posted whole when under minUploadBytes.
func (c *Client) sendLargeMIME(ctx context.Context, o *outgoing, plan *draftPlan) (Result, error) {
	res := Result{Path: "graph", MessageID: o.id, UploadSession: true}
	if err := checkUploadable(plan.atts); err != nil {
		return res, err
	}
	if c.api.adapter == nil {
		return res, errNoCredential
	}
	body := []byte(base64.StdEncoding.EncodeToString(plan.draft))
	c.log.Info("sending as a draft with its large parts uploaded", "message_id", o.id, "parts", len(plan.atts), "draft_bytes", len(plan.draft))
	return c.sendViaDraft(ctx, res, body, "text/plain", plan.atts, uploadsCut)
}

// uploadsCut says which parts cut from a raw message go through an upload
// session: those of at least minUploadBytes.
func uploadsCut(a Attachment) bool { return a.Len() >= minUploadBytes }

// planLargeMIME cuts o's message for sendLargeMIME; errNotCuttable when no
// cut brings it within the limit.
func (c *Client) planLargeMIME(o *outgoing) (*draftPlan, error) {
	src, size := o.graphSource()
	plan, err := planDraft(src, size, MaxRequestBytes)
	if err != nil {
		return nil, err
	}
	for _, p := range plan.cut {
		a, err := partAttachment(src, p)
		if err != nil {
			c.log.Info("a part of the message cannot be decoded; not cutting it", "message_id", o.id, "error", err)
			return nil, errNotCuttable
		}
		plan.atts = append(plan.atts, a)
	}
	return plan, nil
}
