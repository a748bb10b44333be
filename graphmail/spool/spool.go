package spool

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Subdirectories of a spool.
const (
	dirTmp        = "tmp"
	dirQueue      = "queue"
	dirDone       = "done"
	dirDeadletter = "deadletter"
	dirCorrupt    = "corrupt"
	dirMaildrop   = "maildrop"
)

// ID names a spooled message. IDs sort by the time they were enqueued.
type ID string

// Envelope is the SMTP envelope: the return path and every recipient,
// including Bcc recipients that appear in no header.
type Envelope struct {
	// From is the envelope sender (MAIL FROM); "" is the null sender.
	From string `json:"from"`
	// To lists the envelope recipients (RCPT TO); at least one.
	To []string `json:"to"`
}

// Submitted records that a message was handed over: Graph answered 202,
// or the SMTP server accepted it. Once it is on disk the message is never
// delivered again.
type Submitted struct {
	// At is when the Deliverer returned.
	At time.Time `json:"at"`
	// Receipt is what the Deliverer reported.
	Receipt Receipt `json:"receipt"`
}

// Dead records why a message was moved to the dead letters.
type Dead struct {
	// At is when the message was given up.
	At time.Time `json:"at"`
	// Reason is "permanent error" or "max age exceeded".
	Reason string `json:"reason"`
}

// Meta is what the spool keeps about a message besides its bytes.
type Meta struct {
	// MessageID is the Message-ID (without angle brackets) that every
	// attempt must reuse, so a message that reaches Graph twice can be
	// recognised as one. Enqueue takes it from the message's Message-ID
	// header (unfolded), or makes a new one with Options.Hostname, which
	// the Deliverer then adds to the message.
	MessageID string `json:"message_id"`
	// Received is when the message was accepted; zero means now.
	Received time.Time `json:"received"`
	// Client says who submitted it, for example "192.0.2.1 user=app".
	Client string `json:"client,omitempty"`
	// Mailbox is the mailbox the message is to be sent through; "" means
	// the deliverer's default (the sender mailbox).
	Mailbox string `json:"mailbox,omitempty"`
	// Attempts counts delivery attempts that have finished.
	Attempts int `json:"attempts,omitempty"`
	// NextAttempt is when the message is next due; zero means now.
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	// LastAttempt is when the last attempt finished.
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	// Requeued is when the message was last taken back from the dead
	// letters by Retry; MaxAge then counts from it.
	Requeued time.Time `json:"requeued,omitzero"`
	// LastError is the last attempt's error.
	LastError string `json:"last_error,omitempty"`
	// Pending, when set, lists the recipients still to deliver to after a
	// partial delivery: later attempts go to them alone.
	Pending []string `json:"pending,omitempty"`
	// Submitted is set once the message was delivered.
	Submitted *Submitted `json:"submitted,omitempty"`
	// Dead is set once the message was given up.
	Dead *Dead `json:"dead,omitempty"`
}

// Options configure a Spool.
type Options struct {
	// DeleteDone removes delivered messages instead of moving them to done/.
	DeleteDone bool
	// Hostname is the right-hand side of Message-IDs the spool makes up;
	// "" means os.Hostname.
	Hostname string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per delivery outcome and per quarantined
	// file; nil discards.
	Logger *slog.Logger
	// MaxDropSize is the largest message Run and RunOnce take from
	// maildrop/, in bytes; 0 means DefaultMaxDropSize. A larger one is
	// quarantined.
	MaxDropSize int
	// MaxDropRecipients is the most envelope recipients of a message taken
	// from maildrop/; 0 means DefaultMaxDropRecipients.
	MaxDropRecipients int

	fs fileSystem // nil means the real file system (tests record calls)
}

// Spool is a durable message queue in a directory, laid out like this:
//
//	tmp/         files being written
//	queue/       ID.msg (envelope, metadata at enqueue, message) and
//	             ID.meta (metadata after the first attempt)
//	done/        delivered messages, with their submitted record
//	deadletter/  messages given up, with the last error
//	corrupt/     files that could not be used, kept for an administrator
//	maildrop/    submissions from any local user (Drop), taken into
//	             queue/ by Run and RunOnce
//	lock, daemon.lock  the locks of Run and RunOnce
//
// Every step that must survive a crash is written to a temporary file,
// fsynced, renamed into place and made durable by fsyncing the directory.
// A Spool is safe for concurrent use; Enqueue is also safe from several
// processes sharing the directory, while Run takes a lock so that only one
// process delivers.
type Spool struct {
	dir  string
	opts Options
	fs   fileSystem
	own  *owner // nil where files have no owners
	now  func() time.Time
	log  *slog.Logger
	host string

	mu      sync.Mutex
	index   map[ID]*entry // queued messages known to Run
	wake    chan struct{}
	running bool
	onEvent func(Event)     // the running Run's or RunOnce's RunOptions.OnEvent
	stuck   map[string]bool // files that could not be moved to corrupt/, reported once

	// While blocked, an attempt's record could not be written and some
	// entry holds it (pending): no delivery starts. See health.go.
	blocked      bool
	blockedSince time.Time
	writeErr     error  // the last failure to write a record
	writeErrors  uint64 // failures to write a record since Open
}

// entry is a queued message as the scheduler sees it. Only the goroutine
// that set inflight or held writes the message's record; due and scan
// leave such an entry alone.
type entry struct {
	meta     Meta
	stamp    string // meta file modification stamp when last read
	gen      uint64 // counts changes by attempts and Retry, so scan never puts back what it read before one
	inflight bool   // a worker is delivering the message
	held     bool   // Retry is rewriting the message's record
	retry    bool   // Retry came while inflight; the attempt's end applies it
	// pending is the outcome of a finished attempt whose record could not
	// be written yet (a full or failing disk): the entry stays inflight,
	// so the message is never delivered again nor read back from disk by
	// scan, until flush writes the record.
	pending *Meta
}

// Open opens the spool in dir, creating its directories (mode 0700) when
// needed: a new spool is its owner's alone. To let other users submit
// through maildrop/, its administrator opens it up (see the package
// documentation); Open leaves the modes of existing directories alone.
// When the calling process runs as root and the spool directory belongs to
// another user, the directories and files it makes are given to that
// user.
func Open(dir string, opts Options) (*Spool, error) {
	s := &Spool{dir: dir, opts: opts, fs: opts.fs, now: opts.Now, log: opts.Logger, host: opts.Hostname,
		index: map[ID]*entry{}, wake: make(chan struct{}, 1), stuck: map[string]bool{}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		s.host = h
	}
	if s.opts.MaxDropSize <= 0 {
		s.opts.MaxDropSize = DefaultMaxDropSize
	}
	if s.opts.MaxDropRecipients <= 0 {
		s.opts.MaxDropRecipients = DefaultMaxDropRecipients
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	own, err := processOwner(dir)
	if err != nil {
		return nil, &Error{Op: "open", Err: err}
	}
	s.own = own
	if s.fs == nil {
		s.fs = osFS{own: own}
	}
	for _, d := range []string{dirTmp, dirQueue, dirDone, dirDeadletter, dirCorrupt, dirMaildrop} {
		if err := s.fs.mkdirAll(filepath.Join(dir, d)); err != nil {
			return nil, &Error{Op: "open", Err: err}
		}
	}
	return s, nil
}

// Dir returns the spool's directory.
func (s *Spool) Dir() string { return s.dir }

// newID returns a new ID: the time in nanoseconds and 4 random bytes, in hex.
func newID(now time.Time) ID {
	var b [4]byte
	rand.Read(b[:])
	return ID(fmt.Sprintf("%016x%s", now.UnixNano(), hex.EncodeToString(b[:])))
}

// validID reports whether id looks like one newID made (and so cannot
// escape the spool directory).
func validID(id ID) bool {
	if len(id) != 24 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Enqueue stores a message and returns its ID. It returns only after the
// message, its envelope and its metadata are written and fsynced, renamed
// into queue/ and the directory fsynced: once it returns nil the message
// survives a crash or power loss (on a file system that honours fsync), so
// an SMTP server may answer 250. raw is stored unchanged.
func (s *Spool) Enqueue(ctx context.Context, env Envelope, raw []byte, meta Meta) (ID, error) {
	return s.enqueue(ctx, env, func(id ID) (Meta, error) { return s.store(id, env, raw, meta, string(id)+".msg") })
}

// enqueue is Enqueue and EnqueueFrom around write, which stores the
// message under its new ID durably.
func (s *Spool) enqueue(ctx context.Context, env Envelope, write func(id ID) (Meta, error)) (ID, error) {
	if len(env.To) == 0 {
		return "", &Error{Op: "enqueue", Err: errNoRecipients}
	}
	if err := ctx.Err(); err != nil {
		return "", &Error{Op: "enqueue", Err: err}
	}
	id := newID(s.now())
	meta, err := write(id)
	if err != nil {
		return "", &Error{Op: "enqueue", ID: id, Err: err}
	}
	s.mu.Lock()
	if _, known := s.index[id]; s.running && !known {
		// Run's scan may have found it in queue/ first, and may be
		// delivering it already.
		s.index[id] = &entry{meta: meta}
	}
	s.mu.Unlock()
	s.poke()
	return id, nil
}

// store writes queue/ID.msg durably through tmp/tmpName and returns the
// metadata it recorded: Received and MessageID are filled in when empty.
func (s *Spool) store(id ID, env Envelope, raw []byte, meta Meta, tmpName string) (Meta, error) {
	if meta.Received.IsZero() {
		meta.Received = s.now()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.Parse(raw).MessageID()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.NewMessageID(s.host)
	}
	meta.Submitted, meta.Dead = nil, nil
	data, err := encodeMessage(env, meta, raw)
	if err != nil {
		return meta, err
	}
	tmp := filepath.Join(s.dir, dirTmp, tmpName)
	if err := s.fs.writeFileSync(tmp, data); err != nil {
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

// poke wakes the scheduler.
func (s *Spool) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Spool) path(sub string, id ID, ext string) string {
	return filepath.Join(s.dir, sub, string(id)+ext)
}

// magic starts every message file, naming the format version.
const magic = "graphmail-spool 1\n"

// header is the first JSON line of a message file.
type header struct {
	Envelope Envelope `json:"envelope"`
	Meta     Meta     `json:"meta"`
	Size     int      `json:"size"`
}

func encodeMessage(env Envelope, meta Meta, raw []byte) ([]byte, error) {
	h, err := json.Marshal(header{Envelope: env, Meta: meta, Size: len(raw)})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(magic)+len(h)+1+len(raw))
	out = append(out, magic...)
	out = append(out, h...)
	out = append(out, '\n')
	return append(out, raw...), nil
}

func decodeMessage(data []byte) (header, []byte, error) {
	var h header
	rest, ok := bytes.CutPrefix(data, []byte(magic))
	if !ok {
		return h, nil, errCorrupt
	}
	line, raw, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return h, nil, errCorrupt
	}
	if err := json.Unmarshal(line, &h); err != nil {
		return h, nil, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if h.Size != len(raw) {
		return h, nil, fmt.Errorf("%w: %d bytes, header says %d", errCorrupt, len(raw), h.Size)
	}
	return h, raw, nil
}
