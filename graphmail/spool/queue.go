package spool

import (
	"context"
	"io"
	"time"
)

// Queue is what a relay and the queue commands need of a durable queue.
// The directory Spool implements it, and so does the NATS JetStream
// backend (package natsspool), which several relays share; both keep the
// same contract: a message is stored durably before Enqueue returns, it
// leaves the queue only once delivered or given up, and every attempt
// reuses its Message-ID.
type Queue interface {
	// Enqueue stores a message durably and returns its ID.
	Enqueue(ctx context.Context, env Envelope, raw []byte, meta Meta) (ID, error)
	// EnqueueFrom is Enqueue for a message read from r to its end.
	EnqueueFrom(ctx context.Context, env Envelope, r io.Reader, meta Meta) (ID, error)
	// Run delivers queued messages until ctx ends.
	Run(ctx context.Context, d Deliverer, o RunOptions) error
	// RunOnce delivers what is due once and returns.
	RunOnce(ctx context.Context, d Deliverer, o RunOptions) (RunStats, error)
	// List returns the queued and dead messages, oldest first.
	List() ([]Item, error)
	// Show returns a message and its bytes.
	Show(id ID) (Item, []byte, error)
	// Retry makes a queued message due now, or takes a dead one back.
	Retry(id ID) error
	// RetryAll retries every queued and dead message and returns how many.
	RetryAll() (int, error)
	// Purge deletes a queued or dead message without delivering it.
	Purge(id ID) error
	// Stats returns the queue's depth and the age of its oldest message.
	Stats() (depth int, oldest time.Duration, err error)
	// DeadLetters counts the dead letters.
	DeadLetters() (int, error)
	// Health is nil while the queue can accept and record deliveries.
	Health() error
	// WriteErrors counts the failures to record an attempt's outcome.
	WriteErrors() uint64
	// Dir says where the queue lives, for people: a directory, or the
	// NATS stream.
	Dir() string
	// Close releases what the queue holds open (a connection).
	Close() error
}

var _ Queue = (*Spool)(nil)

// NewID returns a new message ID, as Enqueue makes them: IDs sort by the
// time they were made. Other Queue implementations use it so that IDs
// look the same whatever the backend.
func NewID(now time.Time) ID { return newID(now) }

// ValidID reports whether id has the form NewID gives (24 lower-case
// hexadecimal digits).
func ValidID(id ID) bool { return validID(id) }

// ReadHeader reads what List and Show report (Message-ID, From, Subject,
// the header's size) from a message's header section, with the parser
// delivery uses.
func ReadHeader(raw []byte) HeaderInfo { return readHeader(raw) }

// Close does nothing: a Spool holds nothing open between calls. It is
// there for Queue.
func (s *Spool) Close() error { return nil }

// WithDefaults returns o with its zero fields set to the defaults Run
// uses, for other Queue implementations that follow Run's rules.
func (o RunOptions) WithDefaults() RunOptions {
	o.defaults()
	return o
}

// Temporary reports whether a Deliverer's error is retried, by Run's rule:
// an error whose chain has a Temporary() bool method decides; any other
// is retried.
func Temporary(err error) bool { return temporary(err) }
