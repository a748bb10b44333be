package spool

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Receipt is what a Deliverer reports for a message it handed over.
type Receipt struct {
	// Path is "graph" or "smtp".
	Path string `json:"path,omitempty"`
	// RequestID is Graph's request-id.
	RequestID string `json:"request_id,omitempty"`
	// Reply is the SMTP server's final reply.
	Reply string `json:"reply,omitempty"`
	// Deferred lists recipients of a partial delivery that failed for
	// now: the message stays queued for them alone (Meta.Pending) and is
	// retried on the backoff schedule.
	Deferred []string `json:"deferred,omitempty"`
	// Failed lists recipients of a partial delivery that failed for good;
	// the others received the message. Run reports them in the Event.
	Failed []Failure `json:"failed,omitempty"`
}

// Failure is one recipient that could not be delivered to.
type Failure struct {
	Address string `json:"address"`
	// Err is why; it is not stored.
	Err error `json:"-"`
	// Error is Err's text, as stored.
	Error string `json:"error,omitempty"`
}

// Delivery is one attempt to deliver a spooled message.
type Delivery struct {
	// ID is the spool's name for the message.
	ID ID
	// Envelope holds the sender and every recipient still to deliver to:
	// after a partial delivery only those that failed for now
	// (Meta.Pending). Recipients that are in no header (Bcc) must be
	// delivered too.
	Envelope Envelope
	// Raw is the message exactly as it was enqueued.
	Raw []byte
	// Mailbox is the mailbox to send through (Meta.Mailbox); "" means the
	// deliverer's default.
	Mailbox string
	// MessageID is the Message-ID to use on every attempt (Meta.MessageID);
	// a Deliverer adds it as a header when Raw has none.
	MessageID string
	// Attempt counts from 1.
	Attempt int
}

// Deliverer hands a message over, for example to Microsoft Graph with the
// SMTP fallback. It may block (a per-mailbox governor); it must return when
// ctx ends. An error with a Temporary() bool method decides for itself
// whether the message is retried (wrap with Permanent to give up at once);
// any other error is retried until RunOptions.MaxAge.
type Deliverer interface {
	Deliver(ctx context.Context, d Delivery) (Receipt, error)
}

// DelivererFunc adapts a function to Deliverer.
type DelivererFunc func(ctx context.Context, d Delivery) (Receipt, error)

// Deliver calls f.
func (f DelivererFunc) Deliver(ctx context.Context, d Delivery) (Receipt, error) { return f(ctx, d) }

// Outcome says how an attempt ended: "submitted", "deferred", "dead" or
// "interrupted" (the run was stopping; not counted as an attempt); or
// "quarantined": not an attempt, a file that could not be used.
type Outcome string

// The outcomes of an attempt.
const (
	OutcomeSubmitted   Outcome = "submitted"
	OutcomeDeferred    Outcome = "deferred"
	OutcomeDead        Outcome = "dead"
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeQuarantined reports a file in queue/ or maildrop/ that could
	// not be used (unreadable, owned by a stranger, a link, not a regular
	// file, corrupt, truncated, an invalid submission) and was moved to
	// corrupt/, or left in place when even that failed. Event.File names
	// it, Event.Err says why, Event.ID is set when the name is a message's.
	// Each file is reported once: count these events for a metric such as
	// graphmail_spool_quarantined_total.
	OutcomeQuarantined Outcome = "quarantined"
)

// Event describes one finished attempt, or one quarantined file, for logs
// and metrics.
type Event struct {
	ID        ID
	MessageID string
	Outcome   Outcome
	Attempt   int
	Receipt   Receipt
	Err       error
	Duration  time.Duration
	// File is the quarantined file, relative to the spool directory (for
	// example "maildrop/0123456789abcdef01234567.drop"); "" for an attempt.
	File string
}

// RunOptions configure Run.
type RunOptions struct {
	// Workers is the most deliveries in flight at once; 0 means 4
	// (graphmail.MailboxConcurrency).
	Workers int
	// MaxAge is how long a message is retried, counted from when it was
	// received (or retried by hand); 0 means 5 days.
	MaxAge time.Duration
	// Backoff returns the wait after the given failed attempt (1, 2, …);
	// nil means DefaultBackoff.
	Backoff func(attempt int) time.Duration
	// Timeout bounds one delivery; 0 means 10 minutes.
	Timeout time.Duration
	// Grace is how long in-flight deliveries may finish once ctx ends
	// before they are cancelled; 0 means 30 seconds.
	Grace time.Duration
	// ScanInterval is how often the queue directory is read again for
	// messages enqueued by other processes and retried by hand; 0 means
	// 1 second.
	ScanInterval time.Duration
	// OnEvent, when set, is called after each attempt (from the worker)
	// and for each quarantined file (from the scanner).
	OnEvent func(Event)
}

// DefaultBackoff waits 1 minute after the first failure and doubles each
// time up to 1 hour.
func DefaultBackoff(attempt int) time.Duration {
	return min(time.Minute<<min(max(attempt-1, 0), 10), time.Hour)
}

func (o *RunOptions) defaults() {
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 5 * 24 * time.Hour
	}
	if o.Backoff == nil {
		o.Backoff = DefaultBackoff
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.ScanInterval <= 0 {
		o.ScanInterval = time.Second
	}
}

// Run delivers queued messages with d until ctx ends, then gives in-flight
// deliveries RunOptions.Grace to finish and returns. It first finishes what
// a crash interrupted (see the package documentation for the guarantees).
// Only one Run per spool directory at a time: another gets ErrLocked. A
// Run that finds a RunOnce delivering waits for it (RunOnce stops starting
// deliveries when it notices) and returns nil if ctx ends meanwhile.
//
// After a delivery succeeds the submitted record is fsynced before the
// message leaves the queue; a permanent failure, or a temporary one past
// MaxAge, moves it to deadletter/ with the last error; any other failure
// reschedules it after Backoff. Every RunOptions.ScanInterval Run takes
// what is in maildrop/ into the queue and reads queue/ again; a file it
// cannot use is quarantined (OutcomeQuarantined), never retried in a loop.
// When an outcome cannot be recorded (a full or failing disk), Run keeps
// it in memory, starts no delivery and retries the record every
// ScanInterval until it is written (see Health).
func (s *Spool) Run(ctx context.Context, d Deliverer, o RunOptions) error {
	o.defaults()
	unlock, err := s.lockRun(ctx)
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil
		}
		return &Error{Op: "run", Err: err}
	}
	defer unlock()
	if err := s.start(o.OnEvent); err != nil {
		return err
	}
	defer s.stop()
	if err := s.recover(); err != nil {
		return &Error{Op: "run", Err: err}
	}
	s.flush()
	if !s.isBlocked() {
		s.pickup(ctx)
	}
	if err := s.scan(); err != nil {
		return &Error{Op: "run", Err: err}
	}

	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var wg sync.WaitGroup
	inflight := 0
	done := make(chan struct{}, o.Workers)
	lastScan := time.Now()
	for ctx.Err() == nil {
		for _, id := range s.due(o.Workers - inflight) {
			inflight++
			wg.Go(func() {
				s.attempt(ctx, dctx, d, id, &o)
				done <- struct{}{}
			})
		}
		wait := o.ScanInterval - time.Since(lastScan)
		// With every worker busy, a due message waits for one to finish
		// (done), not for a timer that would only spin.
		if next, ok := s.nextDue(); ok && inflight < o.Workers {
			wait = min(wait, next.Sub(s.now()))
		}
		t := time.NewTimer(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
		case <-s.wake:
		case <-done:
			inflight--
		case <-t.C:
		}
		t.Stop()
		if time.Since(lastScan) >= o.ScanInterval {
			// While a record cannot be written, nothing is delivered nor
			// taken from maildrop/ (it could not be recorded either); the
			// scan retries the records.
			s.flush()
			if !s.isBlocked() {
				s.pickup(ctx)
			}
			if err := s.scan(); err != nil {
				s.log.Error("spool: scanning the queue", "error", err)
			}
			lastScan = time.Now()
		}
		for drained := false; !drained; {
			select {
			case <-done:
				inflight--
			default:
				drained = true
			}
		}
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(o.Grace):
		cancel()
		<-stopped
	}
	return nil
}

// start marks the spool as delivering in this process (Enqueue and Retry
// then keep the index up to date) and sets where events go.
func (s *Spool) start(onEvent func(Event)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return &Error{Op: "run", Err: ErrLocked}
	}
	s.running, s.onEvent = true, onEvent
	return nil
}

// stop undoes start. The outcomes whose records could not be written
// stay, held in flight, for Health and for the next Run or RunOnce of
// this process to write before it delivers anything.
func (s *Spool) stop() {
	s.mu.Lock()
	s.running, s.onEvent = false, nil
	for id, e := range s.index {
		if e.pending == nil {
			delete(s.index, id)
		}
	}
	s.mu.Unlock()
}

// due marks up to n due messages in flight and returns them, oldest first.
func (s *Spool) due(n int) []ID {
	if n <= 0 {
		return nil
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked {
		return nil // an attempt's record waits to be written (flush)
	}
	var ids []ID
	for id, e := range s.index {
		if !e.busy() && !e.meta.NextAttempt.After(now) {
			ids = append(ids, id)
		}
	}
	sortDue(s.index, ids)
	ids = ids[:min(n, len(ids))]
	for _, id := range ids {
		s.index[id].inflight = true
	}
	return ids
}

// sortDue sorts ids by their next attempt, then by ID (the order they were
// enqueued).
func sortDue(index map[ID]*entry, ids []ID) {
	slices.SortFunc(ids, func(a, b ID) int {
		return cmp.Or(index[a].meta.NextAttempt.Compare(index[b].meta.NextAttempt), cmp.Compare(a, b))
	})
}

// nextDue returns the earliest next attempt of a message not in flight.
// A message Retry holds is left out: Retry wakes Run when it lets go.
// While deliveries are blocked there is none: the next scan retries the
// records (flush).
func (s *Spool) nextDue() (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.blocked {
		return time.Time{}, false
	}
	var t time.Time
	ok := false
	for _, e := range s.index {
		if !e.busy() && (!ok || e.meta.NextAttempt.Before(t)) {
			t, ok = e.meta.NextAttempt, true
		}
	}
	return t, ok
}

// scan brings the index up to date with queue/: new messages (from other
// processes), changed metadata (Retry from another process) and messages
// that are gone (Purge). It reads the disk without holding s.mu, so it
// changes an entry only when nobody else did meanwhile: what an attempt or
// Retry of this process put in the index is never replaced by an older
// record that scan read before.
func (s *Spool) scan() error {
	msgs, _, err := s.listIDs(dirQueue)
	if err != nil {
		return err
	}
	present := make(map[ID]bool, len(msgs))
	for _, id := range msgs {
		present[id] = true
		s.mu.Lock()
		e, known := s.index[id]
		busy := known && e.busy()
		stamp, gen := "", uint64(0)
		if known {
			stamp, gen = e.stamp, e.gen
		}
		s.mu.Unlock()
		if busy {
			continue
		}
		if known {
			fi, err := s.fs.stat(s.path(dirQueue, id, ".meta"))
			if err != nil || metaStamp(fi) == stamp {
				continue
			}
		}
		h, _, err := s.loadMessage(dirQueue, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if badFile(err) {
			s.quarantine(dirQueue, err, string(id)+".msg", string(id)+".meta")
			continue
		}
		if err != nil {
			s.log.Error("spool: reading a queued message", "id", id, "error", err.Error())
			continue
		}
		m, stamp, err := s.queuedMeta(id, h.Meta, s.quarantineMeta)
		if err != nil {
			s.log.Error("spool: reading a queued message's record", "id", id, "error", err.Error())
			continue
		}
		s.mu.Lock()
		switch cur, ok := s.index[id]; {
		case !known && !ok:
			s.index[id] = &entry{meta: m, stamp: stamp}
		case known && ok && cur == e && cur.gen == gen && !cur.busy():
			cur.meta, cur.stamp = m, stamp
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	for id, e := range s.index {
		if !present[id] && !e.busy() {
			delete(s.index, id)
		}
	}
	s.mu.Unlock()
	return nil
}

// attempt delivers one message and records the outcome.
func (s *Spool) attempt(runCtx, dctx context.Context, d Deliverer, id ID, o *RunOptions) {
	s.mu.Lock()
	m := s.index[id].meta
	s.mu.Unlock()
	ev := Event{ID: id, MessageID: m.MessageID, Attempt: m.Attempts + 1}
	h, raw, err := s.loadMessage(dirQueue, id)
	if err != nil {
		// Purged meanwhile, or unusable: nothing to deliver.
		switch {
		case badFile(err):
			s.quarantine(dirQueue, err, string(id)+".msg", string(id)+".meta")
		case !errors.Is(err, ErrNotFound):
			s.log.Error("spool: reading a queued message", "id", id, "error", err.Error())
		}
		s.forget(id)
		return
	}
	if m.Submitted != nil || m.Dead != nil {
		// Its record says it is leaving the queue (a move that failed
		// before, or a crash): finish the move, never deliver it.
		s.settle(id, m, false)
		return
	}
	ctx, cancel := context.WithTimeout(dctx, o.Timeout)
	start := time.Now()
	env := h.Envelope
	if len(m.Pending) > 0 {
		env.To = m.Pending
	}
	rec, derr := d.Deliver(ctx, Delivery{ID: id, Envelope: env, Raw: raw, Mailbox: m.Mailbox, MessageID: m.MessageID, Attempt: m.Attempts + 1})
	cancel()
	ev.Duration = time.Since(start)
	now := s.now()
	if derr == nil && len(rec.Deferred) > 0 {
		// Delivered to some recipients: the others wait, alone.
		derr = &partialError{rec: rec}
	}
	switch {
	case derr == nil:
		m.Attempts++
		m.LastAttempt, m.LastError = now, ""
		m.Submitted = &Submitted{At: now, Receipt: rec}
		ev.Outcome, ev.Receipt = OutcomeSubmitted, rec
		// The submitted record is durable before the message leaves the
		// queue: after a crash here it is finished, not sent again. When
		// it cannot be written, the fact stays in memory (settle).
		s.settle(id, m, false)
		s.log.Info("spool: submitted", "id", id, "message_id", m.MessageID, "attempt", m.Attempts, "path", rec.Path, "request_id", rec.RequestID)
	case runCtx.Err() != nil && canceled(derr):
		ev.Outcome, ev.Err = OutcomeInterrupted, derr
		m = s.settle(id, m, false)
	default:
		m.Attempts++
		m.LastAttempt, m.LastError = now, derr.Error()
		ev.Err = derr
		var pe *partialError
		if errors.As(derr, &pe) {
			m.Pending = pe.rec.Deferred
			ev.Receipt = pe.rec
			s.log.Info("spool: delivered to some recipients", "id", id, "message_id", m.MessageID, "path", pe.rec.Path,
				"request_id", pe.rec.RequestID, "deferred", len(pe.rec.Deferred), "failed", len(pe.rec.Failed))
		}
		age := now.Sub(m.Received)
		if !m.Requeued.IsZero() {
			age = now.Sub(m.Requeued)
		}
		if !temporary(derr) || age >= o.MaxAge {
			reason := "permanent error"
			if temporary(derr) {
				reason = fmt.Sprintf("max age %s exceeded", o.MaxAge)
			}
			m.Dead = &Dead{At: now, Reason: reason}
			ev.Outcome = OutcomeDead
			s.settle(id, m, false)
			s.log.Warn("spool: gave up", "id", id, "message_id", m.MessageID, "attempts", m.Attempts, "reason", reason, "error", derr)
			break
		}
		m.NextAttempt = now.Add(o.Backoff(m.Attempts))
		ev.Outcome = OutcomeDeferred
		m = s.settle(id, m, true)
		s.log.Info("spool: deferred", "id", id, "message_id", m.MessageID, "attempt", m.Attempts, "next", m.NextAttempt, "error", derr)
	}
	s.event(ev)
}

// partialError is a delivery that reached some recipients and must be
// retried for others (Receipt.Deferred).
type partialError struct{ rec Receipt }

func (e *partialError) Error() string {
	return fmt.Sprintf("delivered to some recipients; %d deferred: %s", len(e.rec.Deferred), strings.Join(e.rec.Deferred, ", "))
}

func (e *partialError) Temporary() bool { return true }

// record writes the outcome m of the attempt on id, which the caller holds
// in flight, and lets go of the message: a submitted message leaves the
// queue (its record durable first), a dead one goes to the dead letters
// (taken back at once when a Retry came meanwhile), and any other goes
// back to the scheduler with m recorded (durably when write is set; see
// requeue). On an error the message is still held in flight and nothing
// is lost: record can be called again with the returned metadata.
func (s *Spool) record(id ID, m Meta, write bool) (Meta, error) {
	switch {
	case m.Submitted != nil:
		if err := s.finish(id, m); err != nil {
			return m, err
		}
		s.forget(id)
	case m.Dead != nil:
		if err := s.bury(id, m); err != nil {
			return m, err
		}
		if s.forgetRetried(id) {
			// A Retry came during the attempt, or after the message
			// reached the dead letters: it takes the message back.
			if err := s.retry(id); err != nil {
				s.log.Error("spool: retrying a dead letter", "id", id, "error", err)
			}
			s.poke()
		}
	default:
		return s.requeue(id, m, write)
	}
	return m, nil
}

func (s *Spool) forget(id ID) {
	s.mu.Lock()
	delete(s.index, id)
	s.mu.Unlock()
}

// forgetRetried forgets id and reports whether a Retry came while it was
// in flight.
func (s *Spool) forgetRetried(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.index[id]
	delete(s.index, id)
	return ok && e.retry
}

// requeue ends an attempt that leaves the message in the queue: it
// records m (durably when write is set) and hands the message back to the
// scheduler. A Retry that came during the attempt is applied here, before
// the message is handed back, so neither overwrites the other: the message
// is then due now. requeue returns the metadata it recorded; when the
// record cannot be written it returns the error and keeps the message in
// flight.
func (s *Spool) requeue(id ID, m Meta, write bool) (Meta, error) {
	for {
		s.mu.Lock()
		e, ok := s.index[id]
		if ok && e.retry {
			e.retry = false
			m.NextAttempt = s.now()
			write = true
		}
		s.mu.Unlock()
		stamp := ""
		if write {
			if err := s.writeMeta(id, m); err != nil {
				return m, err
			}
			if fi, err := s.fs.stat(s.path(dirQueue, id, ".meta")); err == nil {
				stamp = metaStamp(fi)
			}
		}
		s.mu.Lock()
		if ok && e.retry && s.index[id] == e {
			s.mu.Unlock()
			continue // another Retry came while the record was written
		}
		if ok && s.index[id] == e {
			e.meta, e.inflight, e.pending = m, false, nil
			e.gen++
			if stamp != "" {
				e.stamp = stamp
			}
		}
		s.mu.Unlock()
		return m, nil
	}
}

// busy reports whether a worker delivers the message or Retry rewrites its
// record; either owns the record until it lets go.
func (e *entry) busy() bool { return e.inflight || e.held }
