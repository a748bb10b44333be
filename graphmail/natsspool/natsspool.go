package natsspool

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// Options configure Open.
type Options struct {
	// URL lists the NATS servers, comma-separated (nats.url).
	URL string
	// CredsFile is a NATS credentials file (nats.creds_file).
	CredsFile string
	// CAFile, TLSCert and TLSKey configure TLS (nats.ca_file,
	// nats.tls_cert, nats.tls_key).
	CAFile, TLSCert, TLSKey string
	// Stream names the stream (nats.stream); "" means DefaultStream.
	Stream string
	// Replicas of the stream, buckets and object store (nats.replicas);
	// 0 means 1.
	Replicas int
	// Name is the connection's name as the servers show it, and the
	// holder of this process's claims; "" means "graphmail <host> <pid>".
	Name string
	// Hostname is the right-hand side of Message-IDs made up for messages
	// without one; "" means os.Hostname.
	Hostname string
	// ScratchDir holds a message from the object store while it is being
	// delivered; "" means os.TempDir().
	ScratchDir string
	// AckWait is how long a delivery may go without a heartbeat before the
	// stream gives the message to another relay, and how long a claim
	// lasts without renewal; 0 means DefaultAckWait.
	AckWait time.Duration
	// MaxDeliver is the consumer's delivery limit; a message is given up
	// (dead letters) on its last delivery. 0 means DefaultMaxDeliver.
	MaxDeliver int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives one line per outcome; nil discards.
	Logger *slog.Logger
	// ConnectTimeout bounds the first connection and the setup of the
	// stream; 0 means 10 seconds.
	ConnectTimeout time.Duration
}

// Defaults of Options.
const (
	DefaultStream     = "GRAPHMAIL"
	DefaultAckWait    = 60 * time.Second
	DefaultMaxDeliver = 10000
	// PublishTimeout bounds the wait for the stream to store a message
	// (Enqueue): the relay answers 451 when it passes.
	PublishTimeout = 15 * time.Second
	// StateTTL is how long a message's state record is kept after its
	// last change; delivered messages' submitted records go with it.
	StateTTL = 14 * 24 * time.Hour
)

// consumerName is the durable pull consumer every relay shares.
const consumerName = "deliver"

// Headers of the stream messages.
const (
	hdrID       = "Graphmail-Id"
	hdrGen      = "Graphmail-Gen"
	hdrEnvelope = "Graphmail-Envelope"
	hdrMeta     = "Graphmail-Meta"
	hdrInfo     = "Graphmail-Header"
	hdrSize     = "Graphmail-Size"
	hdrObject   = "Graphmail-Object"
	hdrState    = "Graphmail-State"
)

// Queue is a spool.Queue on a NATS JetStream stream. It is safe for
// concurrent use, and any number of processes may use one stream.
type Queue struct {
	o       Options
	nc      *nats.Conn
	js      jetstream.JetStream
	stream  jetstream.Stream
	dead    jetstream.Stream
	state   jetstream.KeyValue
	budget  jetstream.KeyValue
	bodies  jetstream.ObjectStore
	log     *slog.Logger
	now     func() time.Time
	host    string
	inline  int64 // the largest message published inline
	wErrors atomic.Uint64
}

var _ spool.Queue = (*Queue)(nil)

// Error is a queue operation that failed, like spool.Error: Op is
// "open", "enqueue", "show", "retry", "purge", "list", "stats" or "run".
type Error struct {
	Op  string
	ID  spool.ID
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	if e.ID != "" {
		return fmt.Sprintf("nats queue: %s %s: %v", e.Op, e.ID, e.Err)
	}
	return fmt.Sprintf("nats queue: %s: %v", e.Op, e.Err)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports true: the NATS servers may come back.
func (e *Error) Temporary() bool { return true }

// Open connects to the NATS servers and creates (or updates) the stream,
// the dead letters, the buckets and the object store. It returns an error
// when no server can be reached within Options.ConnectTimeout; once open,
// the connection reconnects by itself for as long as the Queue lives.
func Open(ctx context.Context, o Options) (*Queue, error) {
	if o.Stream == "" {
		o.Stream = DefaultStream
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = DefaultMaxDeliver
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ScratchDir == "" {
		o.ScratchDir = os.TempDir()
	}
	host := o.Hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	if o.Name == "" {
		o.Name = fmt.Sprintf("graphmail %s %d", host, os.Getpid())
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{o: o, log: log, now: o.Now, host: host}
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		// No publish is buffered while disconnected: a message the relay
		// answered 451 for must not reach the stream later behind its
		// back (the client sends it again).
		nats.ReconnectBufSize(-1),
		nats.Timeout(o.ConnectTimeout),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats: disconnected", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("nats: reconnected", "server", c.ConnectedUrlRedacted()) }),
	}
	if o.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	}
	if o.CAFile != "" {
		opts = append(opts, nats.RootCAs(o.CAFile))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	nc, err := nats.Connect(o.URL, opts...)
	if err != nil {
		return nil, &Error{Op: "open", Err: fmt.Errorf("connecting to %s: %w", redactURL(o.URL), err)}
	}
	q.nc = nc
	if q.js, err = jetstream.New(nc); err != nil {
		nc.Close()
		return nil, &Error{Op: "open", Err: err}
	}
	sctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := q.setup(sctx); err != nil {
		nc.Close()
		return nil, &Error{Op: "open", Err: err}
	}
	// Headers and framing take some room; the rest of a NATS message
	// carries the body.
	q.inline = max(nc.MaxPayload()-64<<10, 16<<10)
	return q, nil
}

// redactURL drops user information from the server list, for messages.
func redactURL(urls string) string {
	var out []string
	for _, u := range strings.Split(urls, ",") {
		u = strings.TrimSpace(u)
		if at := strings.LastIndex(u, "@"); at >= 0 {
			scheme := ""
			if i := strings.Index(u, "://"); i >= 0 && i < at {
				scheme = u[:i+3]
			}
			u = scheme + "***@" + u[at+1:]
		}
		out = append(out, u)
	}
	return strings.Join(out, ",")
}

// setup creates or updates the stream, the dead letters, the buckets and
// the object store.
func (q *Queue) setup(ctx context.Context) error {
	s, r := q.o.Stream, q.o.Replicas
	var err error
	if q.stream, err = q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s,
		Description: "graphmail: queued mail",
		Subjects:    []string{s + ".q.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("stream %s: %w", s, err)
	}
	if q.dead, err = q.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        s + "_DEAD",
		Description: "graphmail: dead letters",
		Subjects:    []string{s + ".dead.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    r,
		Duplicates:  2 * time.Minute,
	}); err != nil {
		return fmt.Errorf("stream %s_DEAD: %w", s, err)
	}
	if q.state, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s + "_STATE", Description: "graphmail: delivery state", History: 1,
		TTL: StateTTL, Storage: jetstream.FileStorage, Replicas: r,
	}); err != nil {
		return fmt.Errorf("bucket %s_STATE: %w", s, err)
	}
	if q.budget, err = q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: s + "_BUDGET", Description: "graphmail: per-mailbox budget", History: 1,
		Storage: jetstream.FileStorage, Replicas: r,
	}); err != nil {
		return fmt.Errorf("bucket %s_BUDGET: %w", s, err)
	}
	if q.bodies, err = q.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: s + "_BODIES", Description: "graphmail: large messages",
		Storage: jetstream.FileStorage, Replicas: r,
	}); err != nil {
		return fmt.Errorf("object store %s_BODIES: %w", s, err)
	}
	return nil
}

// Close drains and closes the connection.
func (q *Queue) Close() error {
	if q.nc == nil {
		return nil
	}
	q.nc.Close()
	return nil
}

// Dir names the stream and its servers.
func (q *Queue) Dir() string {
	return "nats stream " + q.o.Stream + " on " + redactURL(q.o.URL)
}

// mailboxToken is the subject token of a mailbox: a short hash, since
// an address holds dots.
func mailboxToken(mailbox string) string {
	if mailbox == "" {
		return "default"
	}
	sum := sha256.Sum256([]byte(strings.ToLower(mailbox)))
	return hex.EncodeToString(sum[:8])
}

func (q *Queue) subject(mailbox string, id spool.ID) string {
	return q.o.Stream + ".q." + mailboxToken(mailbox) + "." + string(id)
}

func (q *Queue) deadSubject(mailbox string, id spool.ID) string {
	return q.o.Stream + ".dead." + mailboxToken(mailbox) + "." + string(id)
}

// record is what a stream message's headers say.
type record struct {
	id     spool.ID
	gen    int
	env    spool.Envelope
	meta   spool.Meta
	info   spool.HeaderInfo
	size   int
	object string
}

func (r *record) header() (nats.Header, error) {
	env, err := json.Marshal(r.env)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(r.meta)
	if err != nil {
		return nil, err
	}
	info, err := json.Marshal(r.info)
	if err != nil {
		return nil, err
	}
	h := nats.Header{}
	h.Set(hdrID, string(r.id))
	h.Set(hdrGen, strconv.Itoa(r.gen))
	h.Set(hdrEnvelope, string(env))
	h.Set(hdrMeta, string(meta))
	h.Set(hdrInfo, string(info))
	h.Set(hdrSize, strconv.Itoa(r.size))
	if r.object != "" {
		h.Set(hdrObject, r.object)
	}
	return h, nil
}

// parseRecord reads a stream message's headers; an error means the
// message is not one of ours or is damaged.
func parseRecord(h nats.Header) (*record, error) {
	r := &record{id: spool.ID(h.Get(hdrID)), object: h.Get(hdrObject)}
	if !spool.ValidID(r.id) {
		return nil, fmt.Errorf("no valid %s header", hdrID)
	}
	var err error
	if r.gen, err = strconv.Atoi(h.Get(hdrGen)); err != nil || r.gen < 0 {
		return nil, fmt.Errorf("bad %s header", hdrGen)
	}
	if r.size, err = strconv.Atoi(h.Get(hdrSize)); err != nil || r.size < 0 {
		return nil, fmt.Errorf("bad %s header", hdrSize)
	}
	if err := json.Unmarshal([]byte(h.Get(hdrEnvelope)), &r.env); err != nil || len(r.env.To) == 0 {
		return nil, fmt.Errorf("bad %s header", hdrEnvelope)
	}
	if err := json.Unmarshal([]byte(h.Get(hdrMeta)), &r.meta); err != nil {
		return nil, fmt.Errorf("bad %s header", hdrMeta)
	}
	if v := h.Get(hdrInfo); v != "" {
		if err := json.Unmarshal([]byte(v), &r.info); err != nil {
			return nil, fmt.Errorf("bad %s header", hdrInfo)
		}
	}
	if r.object != "" && r.object != string(r.id) {
		return nil, fmt.Errorf("bad %s header", hdrObject)
	}
	return r, nil
}

var errNoRecipients = errors.New("no recipients")

// prepare fills in what Enqueue records for every message: Received, the
// Message-ID, and what the header section says.
func (q *Queue) prepare(env spool.Envelope, head []byte, meta spool.Meta) (*record, error) {
	if len(env.To) == 0 {
		return nil, errNoRecipients
	}
	if meta.Received.IsZero() {
		meta.Received = q.now()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.Parse(head).MessageID()
	}
	if meta.MessageID == "" {
		meta.MessageID = rfc5322.NewMessageID(q.host)
	}
	meta.Submitted, meta.Dead = nil, nil
	meta.Attempts, meta.NextAttempt, meta.LastAttempt, meta.LastError, meta.Pending = 0, time.Time{}, time.Time{}, "", nil
	return &record{id: spool.NewID(q.now()), env: env, meta: meta, info: spool.ReadHeader(head)}, nil
}

// Enqueue publishes a message and returns its ID once the stream stored
// it (with nats.replicas > 1, once a quorum did): then the relay may
// answer 250. A message larger than the servers' max payload goes to the
// object store first.
func (q *Queue) Enqueue(ctx context.Context, env spool.Envelope, raw []byte, meta spool.Meta) (spool.ID, error) {
	return q.EnqueueFrom(ctx, env, bytes.NewReader(raw), meta)
}

// EnqueueFrom is Enqueue for a message read from r to its end: a message
// within the max payload is read into memory, a larger one streamed to
// the object store in chunks.
func (q *Queue) EnqueueFrom(ctx context.Context, env spool.Envelope, r io.Reader, meta spool.Meta) (spool.ID, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var buf bytes.Buffer
	n, err := io.Copy(&buf, io.LimitReader(br, q.inline+1))
	if err != nil {
		return "", &Error{Op: "enqueue", Err: err}
	}
	rec, err := q.prepare(env, headOf(buf.Bytes()), meta)
	if err != nil {
		return "", &Error{Op: "enqueue", Err: err}
	}
	msg := &nats.Msg{Subject: q.subject(rec.meta.Mailbox, rec.id)}
	if n <= q.inline {
		rec.size = int(n)
		msg.Data = buf.Bytes()
	} else {
		// Too large for one NATS message: the object store first, so that
		// the stream never references a body that is not stored.
		cr := &countingReader{r: io.MultiReader(&buf, br)}
		if _, err := q.bodies.Put(ctx, jetstream.ObjectMeta{Name: string(rec.id)}, cr); err != nil {
			return "", &Error{Op: "enqueue", ID: rec.id, Err: fmt.Errorf("storing the message in %s_BODIES: %w", q.o.Stream, err)}
		}
		rec.size, rec.object = int(cr.n), string(rec.id)
	}
	if msg.Header, err = rec.header(); err != nil {
		return "", &Error{Op: "enqueue", ID: rec.id, Err: err}
	}
	// A client waits for the answer: while no server takes the publish
	// (a lost quorum), it gets a 451 after PublishTimeout, not a hang.
	pctx, cancel := context.WithTimeout(ctx, PublishTimeout)
	defer cancel()
	if _, err := q.js.PublishMsg(pctx, msg, jetstream.WithMsgID(msgID(rec.id, rec.gen)), jetstream.WithExpectStream(q.o.Stream), jetstream.WithRetryAttempts(5)); err != nil {
		if rec.object != "" {
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			q.bodies.Delete(dctx, rec.object)
			cancel()
		}
		return "", &Error{Op: "enqueue", ID: rec.id, Err: fmt.Errorf("publishing to stream %s: %w", q.o.Stream, err)}
	}
	return rec.id, nil
}

// msgID is the Nats-Msg-Id of generation gen of a message.
func msgID(id spool.ID, gen int) string {
	if gen == 0 {
		return string(id)
	}
	return string(id) + ".g" + strconv.Itoa(gen)
}

// headOf returns the header section at the start of raw (all of raw when
// it has no end within it).
func headOf(raw []byte) []byte {
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		return raw[:i+4]
	}
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		return raw[:i+2]
	}
	return raw
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
