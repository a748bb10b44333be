package spool

import (
	"errors"
	"mime"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// State says where a message is.
type State string

// The states of a message.
const (
	// StateQueued: waiting for its first or next attempt.
	StateQueued State = "queued"
	// StateDeadletter: given up; see Meta.Dead and Meta.LastError.
	StateDeadletter State = "deadletter"
	// StateDone: delivered; see Meta.Submitted.
	StateDone State = "done"
)

// Item describes a spooled message.
type Item struct {
	ID       ID
	State    State
	Envelope Envelope
	Meta     Meta
	// Size is the message's size in bytes.
	Size int
	// Header is what the message's header section says, read with the
	// same parser that delivery uses.
	Header HeaderInfo
}

// HeaderInfo is what List and Show read from a message's header section.
type HeaderInfo struct {
	// MessageID is the identifier of the Message-ID field (unfolded,
	// without angle brackets), or "" when the message has none.
	MessageID string
	// From and Subject are the first From and Subject fields, unfolded,
	// with RFC 2047 encoded words decoded where the charset is known and
	// control characters replaced by spaces; "" when absent.
	From, Subject string
	// Size is the length of the header section without the empty line
	// that ends it: raw[:Size] is the header.
	Size int
}

// MessageID returns the Message-ID the message is delivered with: its
// header's, or Meta.MessageID for a message without one (the Deliverer
// adds it).
func (it Item) MessageID() string {
	if it.Header.MessageID != "" {
		return it.Header.MessageID
	}
	return it.Meta.MessageID
}

// readHeader reads what HeaderInfo holds from raw.
func readHeader(raw []byte) HeaderInfo {
	h := rfc5322.Parse(raw)
	info := HeaderInfo{MessageID: h.MessageID(), Size: h.End}
	dec := new(mime.WordDecoder)
	field := func(name string) string {
		f, ok := h.Get(name)
		if !ok {
			return ""
		}
		v := f.Value()
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
		// Printed by the CLI: no control characters (an encoded word may
		// hold a line break or an escape sequence).
		return strings.Map(func(r rune) rune {
			if r < ' ' || r == 0x7f {
				return ' '
			}
			return r
		}, v)
	}
	info.From, info.Subject = field("From"), field("Subject")
	return info
}

// List returns the queued and dead messages, oldest first. Delivered
// messages in done/ are not listed (Show finds them). A message file that
// cannot be used (unreadable, foreign, a link, not a regular file, corrupt)
// is left out, and a record (.meta) that cannot be used counts as absent:
// List changes nothing, Run and RunOnce quarantine such files.
func (s *Spool) List() ([]Item, error) {
	var items []Item
	for _, sub := range []string{dirQueue, dirDeadletter} {
		ids, _, err := s.listIDs(sub)
		if err != nil {
			return nil, &Error{Op: "list", Err: err}
		}
		for _, id := range ids {
			it, _, err := s.item(sub, id)
			if errors.Is(err, ErrNotFound) || badFile(err) {
				continue // delivered or purged meanwhile, or to be quarantined
			}
			if err != nil {
				return nil, &Error{Op: "list", ID: id, Err: err}
			}
			items = append(items, it)
		}
	}
	slices.SortFunc(items, func(a, b Item) int { return a.Meta.Received.Compare(b.Meta.Received) })
	return items, nil
}

// Show returns a message and its bytes, wherever it is.
func (s *Spool) Show(id ID) (Item, []byte, error) {
	if !validID(id) {
		return Item{}, nil, &Error{Op: "show", ID: id, Err: ErrNotFound}
	}
	for _, sub := range []string{dirQueue, dirDeadletter, dirDone} {
		it, raw, err := s.item(sub, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return Item{}, nil, &Error{Op: "show", ID: id, Err: err}
		}
		return it, raw, nil
	}
	return Item{}, nil, &Error{Op: "show", ID: id, Err: ErrNotFound}
}

func (s *Spool) item(sub string, id ID) (Item, []byte, error) {
	h, raw, err := s.loadMessage(sub, id)
	if err != nil {
		return Item{}, nil, err
	}
	it := Item{ID: id, Envelope: h.Envelope, Meta: h.Meta, Size: len(raw), Header: readHeader(raw)}
	// A record that cannot be used counts as absent (ignoreMeta).
	switch sub {
	case dirQueue:
		it.State = StateQueued
		it.Meta, _, err = s.queuedMeta(id, h.Meta, ignoreMeta)
		if it.Meta.Submitted != nil {
			it.State = StateDone // finished, waiting to leave the queue
		}
	case dirDeadletter, dirDone:
		it.State = StateDeadletter
		if sub == dirDone {
			it.State = StateDone
		}
		m, _, ok, e := s.readMeta(sub, id)
		if e == nil && !ok {
			// The record follows its message (moveOut): between the two
			// renames it is still in queue/.
			q, _, qok, qe := s.readMeta(dirQueue, id)
			if qe == nil && qok && (sub == dirDone && q.Submitted != nil || sub == dirDeadletter && q.Dead != nil) {
				m, ok = q, true
			} else if qe == nil && !qok {
				m, _, ok, e = s.readMeta(sub, id) // it moved meanwhile
			}
		}
		if e != nil && !badFile(e) {
			err = e
		} else if ok {
			it.Meta = m
		}
	}
	return it, raw, err
}

// Retry makes a queued message due now, or takes a dead message back into
// the queue with its attempts reset (MaxAge counts from now). When this
// process is delivering the message right now, the request is kept and
// applied when the attempt ends: if it ends deferred, the message is due
// at once instead of after RunOptions.Backoff; if it ends in the dead
// letters, it is taken back from them; if it was delivered, nothing is
// left to do.
func (s *Spool) Retry(id ID) error {
	if !validID(id) {
		return &Error{Op: "retry", ID: id, Err: ErrNotFound}
	}
	if err := s.retry(id); err != nil {
		return &Error{Op: "retry", ID: id, Err: err}
	}
	s.poke()
	return nil
}

func (s *Spool) retry(id ID) error {
	if h, err := s.loadHeader(dirQueue, id); err == nil {
		return s.retryQueued(id, h.Meta)
	} else if !errors.Is(err, ErrNotFound) {
		return err
	}
	return s.retryDead(id)
}

// retryQueued makes a queued message due now; h is the metadata in its
// header.
func (s *Spool) retryQueued(id ID, h Meta) (err error) {
	c, mine := s.hold(id, h)
	if !mine {
		return nil // the attempt in flight, or the other Retry, makes it due
	}
	var m Meta
	written := false
	defer func() { s.unhold(c, m, written) }()
	m, _, err = s.queuedMeta(id, h, nil)
	if err != nil {
		return err
	}
	if m.Submitted != nil || m.Dead != nil || !s.exists(dirQueue, id, ".msg") {
		return nil // leaving the queue already
	}
	m.NextAttempt = s.now()
	if err := s.writeMeta(id, m); err != nil {
		return err
	}
	written = true
	return nil
}

// retryDead takes a dead message back into the queue.
func (s *Spool) retryDead(id ID) (err error) {
	h, err := s.loadHeader(dirDeadletter, id)
	if err != nil {
		return err
	}
	m, _, ok, err := s.readMeta(dirDeadletter, id)
	if err != nil {
		return err
	}
	if !ok {
		m = h.Meta
	}
	// Run must not start the message before its new record is written:
	// hold it from before it is back in queue/.
	c, mine := s.hold(id, m)
	if !mine {
		return nil // another Retry is taking it back
	}
	written := false
	defer func() { s.unhold(c, m, written) }()
	// The record goes first: a crash after it leaves a dead message
	// without a record (listed, retried again), never a queued message
	// carrying a dead record.
	dl := filepath.Join(s.dir, dirDeadletter)
	if err := s.fs.remove(s.path(dirDeadletter, id, ".meta")); err != nil {
		return err
	}
	if err := s.fs.syncDir(dl); err != nil {
		return err
	}
	if err := s.fs.rename(s.path(dirDeadletter, id, ".msg"), s.path(dirQueue, id, ".msg")); err != nil {
		return err
	}
	if err := s.fs.syncDir(dl); err != nil {
		return err
	}
	m.Dead, m.Attempts, m.NextAttempt, m.Requeued = nil, 0, time.Time{}, s.now()
	if err := s.writeMeta(id, m); err != nil {
		return err
	}
	written = true
	return nil
}

// claim is a Retry's hold on a message in the index of a running spool.
type claim struct {
	id   ID
	e    *entry
	made bool // the entry was made by hold
}

// hold gives the calling Retry the right to rewrite id's record: while it
// holds the message, Run neither starts it nor reads its record into the
// index. It returns false, after noting the request, when a worker is
// delivering the message, and false when another Retry holds it. When Run
// is not running in this process there is nothing to hold (a nil claim).
// A message the index does not know yet (enqueued by another process, or
// coming back from the dead letters) enters it, held, with metadata m.
func (s *Spool) hold(id ID, m Meta) (*claim, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.running {
		return nil, true
	}
	c := &claim{id: id}
	e, ok := s.index[id]
	switch {
	case !ok:
		e, c.made = &entry{meta: m}, true
		s.index[id] = e
	case e.inflight:
		e.retry = true
		return nil, false
	case e.held:
		return nil, false
	}
	e.held, c.e = true, e
	return c, true
}

// unhold lets go of what hold took. When written, m is the record now in
// queue/ and the scheduler takes it; otherwise the index keeps what it
// had, and an entry hold made is dropped for scan to read afresh.
func (s *Spool) unhold(c *claim, m Meta, written bool) {
	if c == nil {
		return
	}
	stamp := ""
	if written {
		if fi, err := s.fs.stat(s.path(dirQueue, c.id, ".meta")); err == nil {
			stamp = metaStamp(fi)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c.e.held = false
	if s.index[c.id] != c.e {
		return // Run stopped meanwhile
	}
	switch {
	case written:
		c.e.meta, c.e.stamp = m, stamp
		c.e.gen++
	case c.made:
		delete(s.index, c.id)
	}
}

// RetryAll retries every queued and dead message and returns how many.
func (s *Spool) RetryAll() (int, error) {
	items, err := s.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		if it.State == StateDone {
			continue
		}
		err := s.Retry(it.ID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Purge deletes a queued or dead message without delivering it.
func (s *Spool) Purge(id ID) error {
	if !validID(id) {
		return &Error{Op: "purge", ID: id, Err: ErrNotFound}
	}
	if s.busy(id) {
		return &Error{Op: "purge", ID: id, Err: ErrBusy}
	}
	for _, sub := range []string{dirQueue, dirDeadletter} {
		if !s.exists(sub, id, ".msg") {
			continue
		}
		dir := filepath.Join(s.dir, sub)
		for _, ext := range []string{".msg", ".meta"} {
			if err := s.fs.remove(s.path(sub, id, ext)); err != nil {
				return &Error{Op: "purge", ID: id, Err: err}
			}
		}
		if err := s.fs.syncDir(dir); err != nil {
			return &Error{Op: "purge", ID: id, Err: err}
		}
		s.forget(id)
		return nil
	}
	return &Error{Op: "purge", ID: id, Err: ErrNotFound}
}

// busy reports whether this process is delivering id, or retrying it,
// right now; such a message cannot be purged.
func (s *Spool) busy(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.index[id]
	return ok && e.busy()
}

// Stats returns the number of messages in the queue (not counting dead
// letters) and the age of the oldest, for metrics.
func (s *Spool) Stats() (depth int, oldest time.Duration, err error) {
	ids, _, err := s.listIDs(dirQueue)
	if err != nil {
		return 0, 0, &Error{Op: "stats", Err: err}
	}
	now := s.now()
	for _, id := range ids {
		s.mu.Lock()
		e, ok := s.index[id]
		var received time.Time
		if ok {
			received = e.meta.Received
		}
		s.mu.Unlock()
		if !ok {
			h, err := s.loadHeader(dirQueue, id)
			if err != nil {
				continue
			}
			received = h.Meta.Received
		}
		depth++
		oldest = max(oldest, now.Sub(received))
	}
	return depth, oldest, nil
}
