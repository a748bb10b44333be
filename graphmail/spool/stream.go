package spool

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// This file stores and reads messages without holding them in memory
// whole: EnqueueFrom writes a message to its file as it arrives (the SMTP
// relay's DATA), and a delivery reads it in place (Delivery.Body).

// InlineBytes is the size up to which a Delivery carries the message in
// Raw as well as in Body.
const InlineBytes = 4 << 20

// maxHeaderLine bounds the JSON line of a message file read in place (its
// envelope and metadata).
const maxHeaderLine = 16 << 20

// maxMessageHeader bounds the part of a message read ahead of the rest
// for its Message-ID.
const maxMessageHeader = 256 << 10

// sizePad is the room left after the JSON line's "size" for the real
// size, written once the message has been read (JSON allows the spaces).
const sizePad = 20

// EnqueueFrom is Enqueue for a message read from r to its end: it is
// written to the file as it is read, so a message of any size costs a
// small buffer, with the same durability as Enqueue. When reading r
// fails, nothing is stored and the error (wrapped) is returned.
func (s *Spool) EnqueueFrom(ctx context.Context, env Envelope, r io.Reader, meta Meta) (ID, error) {
	return s.enqueue(ctx, env, func(id ID) (Meta, error) { return s.storeFrom(id, env, r, meta) })
}

// storeFrom is store for a message read from r.
func (s *Spool) storeFrom(id ID, env Envelope, r io.Reader, meta Meta) (Meta, error) {
	br := bufio.NewReaderSize(r, maxMessageHeader)
	hdr, err := peekHeader(br)
	if err != nil {
		return meta, err
	}
	if meta.Received.IsZero() {
		meta.Received = s.now()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.Parse(hdr).MessageID()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.NewMessageID(s.host)
	}
	meta.Submitted, meta.Dead = nil, nil
	line, err := json.Marshal(header{Envelope: env, Meta: meta, Size: 0})
	if err != nil {
		return meta, err
	}
	tmp := filepath.Join(s.dir, dirTmp, string(id)+".msg")
	err = s.fs.createSync(tmp, func(f *os.File) error {
		w := bufio.NewWriterSize(f, 64<<10)
		w.WriteString(magic)
		w.Write(line)
		w.WriteString(strings.Repeat(" ", sizePad) + "\n")
		n, err := io.Copy(w, br)
		if err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err
		}
		final, err := json.Marshal(header{Envelope: env, Meta: meta, Size: int(n)})
		if err != nil {
			return err
		}
		if len(final) > len(line)+sizePad {
			return fmt.Errorf("spool: the size of the message does not fit its record")
		}
		final = append(final, strings.Repeat(" ", len(line)+sizePad-len(final))...)
		_, err = f.WriteAt(final, int64(len(magic)))
		return err
	})
	if err != nil {
		return meta, err
	}
	if err := s.fs.rename(tmp, s.path(dirQueue, id, ".msg")); err != nil {
		s.fs.remove(tmp)
		return meta, err
	}
	if err := s.fs.syncDir(filepath.Join(s.dir, dirQueue)); err != nil {
		return meta, err
	}
	return meta, nil
}

// peekHeader returns the header section at the start of br, as far as
// br's buffer holds it, without consuming it.
func peekHeader(br *bufio.Reader) ([]byte, error) {
	b, err := br.Peek(br.Size())
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	for _, end := range []string{"\n\r\n", "\n\n"} {
		if i := bytes.Index(b, []byte(end)); i >= 0 {
			b = b[:i+len(end)]
		}
	}
	return b, nil
}

// message is a message file opened for delivery.
type message struct {
	f    *os.File
	raw  []byte            // the message when within InlineBytes
	body *io.SectionReader // the message in place
}

func (m *message) Close() {
	if m != nil && m.f != nil {
		m.f.Close()
	}
}

// openMessage opens sub/ID.msg for delivery: its record, and the message
// read in place (and in memory when within InlineBytes).
func (s *Spool) openMessage(sub string, id ID) (header, *message, error) {
	h, f, off, err := s.openRecord(sub, id)
	if err != nil {
		return h, nil, err
	}
	m := &message{f: f, body: io.NewSectionReader(f, off, int64(h.Size))}
	if h.Size <= InlineBytes {
		m.raw = make([]byte, h.Size)
		if _, err := m.body.ReadAt(m.raw, 0); err != nil && !(errors.Is(err, io.EOF) && h.Size == 0) {
			f.Close()
			return h, nil, err
		}
	}
	return h, m, nil
}

// loadHeader reads the record of sub/ID.msg, not the message.
func (s *Spool) loadHeader(sub string, id ID) (header, error) {
	h, f, _, err := s.openRecord(sub, id)
	if err == nil {
		f.Close()
	}
	return h, err
}

// openRecord opens sub/ID.msg and reads its record; off is where the
// message starts. The file's size is checked against the record, as
// decodeMessage does.
func (s *Spool) openRecord(sub string, id ID) (header, *os.File, int64, error) {
	var h header
	f, err := s.fs.openFile(s.path(sub, id, ".msg"))
	if errors.Is(err, fs.ErrNotExist) {
		return h, nil, 0, ErrNotFound
	}
	if err != nil {
		return h, nil, 0, err
	}
	fail := func(err error) (header, *os.File, int64, error) {
		f.Close()
		return h, nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(io.LimitReader(f, int64(len(magic))+maxHeaderLine), 64<<10)
	readLine := func() ([]byte, error) {
		var line []byte
		for {
			frag, err := br.ReadSlice('\n')
			line = append(line, frag...)
			switch {
			case errors.Is(err, bufio.ErrBufferFull):
				continue
			case err != nil:
				return nil, errCorrupt
			}
			return line, nil
		}
	}
	first, err := readLine()
	if err != nil || string(first) != magic {
		return fail(errCorrupt)
	}
	rest, err := readLine()
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(rest, &h); err != nil {
		return fail(fmt.Errorf("%w: %v", errCorrupt, err))
	}
	off := int64(len(magic) + len(rest))
	if int64(h.Size) != fi.Size()-off {
		return fail(fmt.Errorf("%w: %d bytes, header says %d", errCorrupt, fi.Size()-off, h.Size))
	}
	return h, f, off, nil
}
