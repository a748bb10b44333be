package rfc5322

import (
	"errors"
	"fmt"
	"io"
)

// MaxHeaderAt bounds the header section EnsureMessageIDAt reads.
const MaxHeaderAt = 1 << 20

// EnsureMessageIDAt is EnsureMessageID for a message read in place from r
// (size bytes) rather than held in memory: it returns r and size unchanged
// when the message names an identifier or id is empty, else a reader of
// the message with the header section (read into memory, up to
// MaxHeaderAt) edited by EnsureMessageID and the body still read from r.
func EnsureMessageIDAt(r io.ReaderAt, size int64, id string) (io.ReaderAt, int64, error) {
	if id == "" {
		return r, size, nil
	}
	prefix := make([]byte, min(size, MaxHeaderAt))
	if _, err := r.ReadAt(prefix, 0); err != nil && !(errors.Is(err, io.EOF) && len(prefix) == 0) {
		return nil, 0, fmt.Errorf("rfc5322: reading the header: %w", err)
	}
	h := Parse(prefix)
	if h.MessageID() != "" {
		return r, size, nil
	}
	hdr := prefix[:h.Body]
	edited := EnsureMessageID(hdr, id)
	rest := io.NewSectionReader(r, int64(len(hdr)), size-int64(len(hdr)))
	return &headed{hdr: edited, rest: rest}, int64(len(edited)) + rest.Size(), nil
}

// headed is a message whose header section is in memory and whose body
// is read in place.
type headed struct {
	hdr  []byte
	rest *io.SectionReader
}

// ReadAt implements io.ReaderAt.
func (m *headed) ReadAt(p []byte, off int64) (int, error) {
	h := int64(len(m.hdr))
	if off >= h {
		return m.rest.ReadAt(p, off-h)
	}
	n := copy(p, m.hdr[off:])
	if n == len(p) {
		return n, nil
	}
	k, err := m.rest.ReadAt(p[n:], 0)
	return n + k, err
}
