package natsspool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/spool"
)

// consumer returns the durable pull consumer every relay shares.
func (q *Queue) consumer(ctx context.Context) (jetstream.Consumer, error) {
	return q.js.CreateOrUpdateConsumer(ctx, q.o.Stream, jetstream.ConsumerConfig{
		Durable:       consumerName,
		Description:   "graphmail: every relay delivers from here",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       q.o.AckWait,
		MaxDeliver:    q.o.MaxDeliver,
		MaxAckPending: 1 << 20, // deferred messages wait here, naked with a delay
		FilterSubject: q.o.Stream + ".q.>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
}

// Run delivers messages from the stream with d until ctx ends, with
// RunOptions.Workers deliveries at once, alongside every other relay on
// the stream; then deliveries in flight get RunOptions.Grace to finish.
// While the servers cannot be reached it waits for them.
func (q *Queue) Run(ctx context.Context, d spool.Deliverer, o spool.RunOptions) error {
	o = o.WithDefaults()
	hard, stop := graceContext(ctx, o.Grace)
	defer stop()
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() { q.worker(ctx, hard, d, o, nil) })
	}
	wg.Wait()
	return nil
}

// graceContext returns a context that ends Grace after ctx ends.
func graceContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-hard.Done():
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-hard.Done():
		}
	}()
	return hard, cancel
}

// onceTries is how many failures in a row RunOnce's worker rides out
// (a consumer being created, a leader being elected) before it gives up.
const onceTries = 5

// worker fetches and handles one message at a time until ctx ends. With
// stats set (RunOnce) it returns when nothing is due.
func (q *Queue) worker(ctx, hard context.Context, d spool.Deliverer, o spool.RunOptions, stats *onceStats) {
	var cons jetstream.Consumer
	wait, failures := o.ScanInterval, 0
	if stats != nil {
		wait = 100 * time.Millisecond
	}
	// failed handles an error of the consumer: it waits and reports whether
	// to go on. Run goes on until ctx ends; RunOnce gives up after
	// onceTries failures in a row.
	failed := func(err error) bool {
		cons = nil
		if failures++; stats != nil && failures >= onceTries {
			stats.fail(err)
			return false
		}
		q.log.Debug("nats queue: the stream's consumer failed; trying again", "error", err, "failures", failures)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(wait*2, 30*time.Second)
		return true
	}
	for ctx.Err() == nil {
		if cons == nil {
			c, err := q.consumer(ctx)
			if err != nil {
				if failures == 0 && stats == nil {
					q.log.Warn("nats queue: cannot reach the stream's consumer; trying again", "error", err)
				}
				if !failed(err) {
					return
				}
				continue
			}
			cons = c
		}
		var batch jetstream.MessageBatch
		var err error
		if stats != nil {
			batch, err = cons.FetchNoWait(1)
		} else {
			batch, err = cons.Fetch(1, jetstream.FetchMaxWait(max(o.ScanInterval, 2*time.Second)))
		}
		if err != nil {
			if !failed(err) {
				return
			}
			continue
		}
		got := false
		for m := range batch.Messages() {
			got = true
			q.handle(ctx, hard, m, d, o, stats)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
			if !failed(err) {
				return
			}
			continue
		}
		failures = 0
		if stats == nil {
			wait = o.ScanInterval
		}
		if !got && stats != nil {
			return
		}
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// holder names this process in claims.
func (q *Queue) holder() string { return q.o.Name }

// handle is one delivery of one stream message.
func (q *Queue) handle(ctx, hard context.Context, m jetstream.Msg, d spool.Deliverer, o spool.RunOptions, stats *onceStats) {
	rec, err := parseRecord(m.Headers())
	if err != nil {
		// Not one of ours, or damaged: keep it out of the way, once.
		q.log.Warn("nats queue: dropping a stream message that is not a graphmail message", "subject", m.Subject(), "error", err)
		m.TermWithReason("graphmail: " + err.Error())
		q.event(o, spool.Event{Outcome: spool.OutcomeQuarantined, File: m.Subject(), Err: err}, stats)
		return
	}
	md, _ := m.Metadata()
	var delivered uint64
	if md != nil {
		delivered = md.NumDelivered
	}
	// Claim the message, or step aside.
	var skip func() // what to do instead of an attempt
	st, err := q.updateState(hard, rec.id, func(st *state) error {
		skip = nil
		now := q.now()
		switch {
		case st.Purged:
			skip = func() { m.TermWithReason("purged"); q.dropBody(rec) }
		case rec.gen < st.Gen:
			skip = func() { m.TermWithReason("superseded by a retry") }
		case st.Submitted != nil:
			skip = func() { q.ack(hard, m); q.dropBody(rec) }
		case st.Dead != nil && rec.gen <= st.Gen:
			skip = func() { m.TermWithReason("in the dead letters") }
		case st.Claim != nil && st.Claim.Holder != q.holder() && st.Claim.Until.After(now):
			wait := st.Claim.Until.Sub(now) + time.Second
			skip = func() { m.NakWithDelay(wait) }
		case st.NextAttempt.After(now.Add(time.Second)) && rec.gen <= st.Gen:
			wait := st.NextAttempt.Sub(now)
			skip = func() { m.NakWithDelay(wait) }
		}
		if skip != nil {
			return errSkip
		}
		if rec.gen > st.Gen {
			// A retry's copy whose state change did not land: it is the
			// current one now.
			if st.Dead != nil {
				st.Dead, st.Attempts, st.Requeued = nil, 0, now
			}
			st.Gen, st.NextAttempt = rec.gen, time.Time{}
		}
		st.Claim = &claim{Holder: q.holder(), Until: now.Add(q.o.AckWait)}
		return nil
	})
	if errors.Is(err, errSkip) {
		skip()
		return
	}
	if err != nil {
		// The state cannot be read or written: the message comes back.
		q.wErrors.Add(1)
		q.log.Warn("nats queue: cannot claim a message; it is delivered later", "id", rec.id, "error", err)
		m.NakWithDelay(o.ScanInterval)
		if stats != nil {
			stats.notAttempted++
		}
		return
	}
	if ctx.Err() != nil {
		q.release(hard, rec.id)
		m.Nak()
		if stats != nil {
			stats.notAttempted++
		}
		return
	}

	// Heartbeats: the stream's ack wait and the claim's lease.
	beat, stopBeat := context.WithCancel(hard)
	var beats sync.WaitGroup
	beats.Go(func() { q.heartbeat(beat, m, rec.id) })
	defer func() { stopBeat(); beats.Wait() }()

	del, cleanup, err := q.delivery(hard, rec, st, m.Data())
	if err != nil {
		stopBeat()
		beats.Wait()
		q.release(hard, rec.id)
		q.log.Warn("nats queue: cannot read a message's body; it is delivered later", "id", rec.id, "error", err)
		m.NakWithDelay(o.ScanInterval)
		if stats != nil {
			stats.notAttempted++
		}
		return
	}
	defer cleanup()
	start := q.now()
	dctx, cancel := context.WithTimeout(hard, o.Timeout)
	rc, derr := d.Deliver(dctx, del)
	cancel()
	stopBeat()
	beats.Wait()
	q.settle(hard, m, rec, st, rc, derr, delivered, start, o, stats)
}

var errSkip = errors.New("skip")

// heartbeat tells the stream the message is in progress and renews the
// claim, every third of the ack wait, until ctx ends.
func (q *Queue) heartbeat(ctx context.Context, m jetstream.Msg, id spool.ID) {
	t := time.NewTicker(q.o.AckWait / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.InProgress()
		q.updateState(ctx, id, func(st *state) error {
			if st.Claim == nil || st.Claim.Holder != q.holder() {
				return errSkip
			}
			st.Claim.Until = q.now().Add(q.o.AckWait)
			return nil
		})
	}
}

// release gives up this process's claim without an attempt.
func (q *Queue) release(ctx context.Context, id spool.ID) {
	q.updateState(ctx, id, func(st *state) error {
		if st.Claim == nil || st.Claim.Holder != q.holder() {
			return errSkip
		}
		st.Claim = nil
		return nil
	})
}

// delivery builds the attempt: the body in memory, or from the object
// store through a scratch file.
func (q *Queue) delivery(ctx context.Context, rec *record, st state, data []byte) (spool.Delivery, func(), error) {
	env := rec.env
	if len(st.Pending) > 0 {
		env.To = st.Pending
	}
	del := spool.Delivery{ID: rec.id, Envelope: env, Mailbox: rec.meta.Mailbox, MessageID: rec.meta.MessageID, Attempt: st.Attempts + 1}
	if rec.object == "" {
		del.Raw = data
		del.Body = io.NewSectionReader(bytes.NewReader(data), 0, int64(len(data)))
		return del, func() {}, nil
	}
	obj, err := q.bodies.Get(ctx, rec.object)
	if err != nil {
		return del, nil, fmt.Errorf("reading %s from %s_BODIES: %w", rec.object, q.o.Stream, err)
	}
	defer obj.Close()
	f, err := os.CreateTemp(q.o.ScratchDir, "graphmail-nats-*.eml")
	if err != nil {
		return del, nil, err
	}
	cleanup := func() { f.Close(); os.Remove(f.Name()) }
	n, err := io.Copy(f, obj)
	if err != nil {
		cleanup()
		return del, nil, err
	}
	if n != int64(rec.size) {
		cleanup()
		return del, nil, fmt.Errorf("object %s holds %d bytes, the message %d", rec.object, n, rec.size)
	}
	del.Body = io.NewSectionReader(f, 0, n)
	if n <= spool.InlineBytes {
		del.Raw = make([]byte, n)
		if _, err := f.ReadAt(del.Raw, 0); err != nil {
			cleanup()
			return del, nil, err
		}
	}
	return del, cleanup, nil
}

// settle records an attempt's outcome, then acknowledges, naks or
// terminates the stream message.
func (q *Queue) settle(ctx context.Context, m jetstream.Msg, rec *record, st state, rc spool.Receipt, derr error, delivered uint64, start time.Time, o spool.RunOptions, stats *onceStats) {
	now := q.now()
	ev := spool.Event{ID: rec.id, MessageID: rec.meta.MessageID, Duration: now.Sub(start)}
	if derr != nil && ctx.Err() != nil && errors.Is(derr, context.Canceled) {
		// Stopping: not an attempt; another relay takes it at once.
		q.release(context.WithoutCancel(ctx), rec.id)
		m.Nak()
		ev.Outcome, ev.Err, ev.Attempt = spool.OutcomeInterrupted, derr, st.Attempts
		q.event(o, ev, stats)
		return
	}
	// The records must be written whatever happens to ctx: a submitted
	// message whose record is lost would go out again.
	wctx := context.WithoutCancel(ctx)
	switch {
	case derr == nil && len(rc.Deferred) == 0:
		final, err := q.persist(wctx, rec.id, func(st *state) error {
			st.Attempts++
			st.LastAttempt, st.LastError, st.Claim = now, "", nil
			st.Submitted = &spool.Submitted{At: now, Receipt: rc}
			return nil
		})
		if err != nil {
			// Not acknowledged: the stream hands it out again after the
			// ack wait — the at-least-once window.
			q.log.Error("nats queue: submitted, but the record could not be written; the message may go out twice", "id", rec.id, "message_id", rec.meta.MessageID, "error", err)
		} else {
			q.ack(wctx, m)
			q.dropBody(rec)
		}
		ev.Outcome, ev.Receipt, ev.Attempt = spool.OutcomeSubmitted, rc, final.Attempts
		q.log.Info("spool: submitted", "id", rec.id, "message_id", rec.meta.MessageID, "attempt", final.Attempts, "path", rc.Path, "request_id", rc.RequestID)
	default:
		if derr == nil {
			derr = &partialError{rec: rc}
			ev.Receipt = rc
		}
		ev.Err = derr
		var final state
		dead := false
		reason := ""
		final, err := q.persist(wctx, rec.id, func(st *state) error {
			st.Attempts++
			st.LastAttempt, st.LastError, st.Claim = now, derr.Error(), nil
			if len(rc.Deferred) > 0 {
				st.Pending = rc.Deferred
			}
			received := rec.meta.Received
			if !st.Requeued.IsZero() {
				received = st.Requeued
			}
			reason = ""
			switch {
			case !spool.Temporary(derr):
				reason = "permanent error"
			case now.Sub(received) >= o.MaxAge:
				reason = fmt.Sprintf("max age %s exceeded", o.MaxAge)
			case delivered >= uint64(q.o.MaxDeliver):
				reason = fmt.Sprintf("delivered %d times (the consumer's limit)", delivered)
			}
			dead = reason != ""
			if dead {
				st.NextAttempt = time.Time{}
				return nil
			}
			st.NextAttempt = now.Add(o.Backoff(st.Attempts))
			return nil
		})
		if err != nil {
			q.log.Warn("nats queue: the attempt could not be recorded; the message is tried again", "id", rec.id, "error", err)
			m.NakWithDelay(o.Backoff(st.Attempts + 1))
			ev.Outcome, ev.Attempt = spool.OutcomeDeferred, st.Attempts+1
			break
		}
		ev.Attempt = final.Attempts
		if dead {
			if err := q.bury(wctx, rec, m.Data(), final, reason, now); err != nil {
				q.log.Warn("nats queue: cannot move the message to the dead letters; it is tried again", "id", rec.id, "error", err)
				m.NakWithDelay(o.ScanInterval)
				ev.Outcome = spool.OutcomeDeferred
				break
			}
			m.TermWithReason(reason)
			ev.Outcome = spool.OutcomeDead
			q.log.Warn("spool: gave up", "id", rec.id, "message_id", rec.meta.MessageID, "attempts", final.Attempts, "reason", reason, "error", derr)
			break
		}
		m.NakWithDelay(max(final.NextAttempt.Sub(now), 0))
		ev.Outcome = spool.OutcomeDeferred
		q.log.Info("spool: deferred", "id", rec.id, "message_id", rec.meta.MessageID, "attempt", final.Attempts, "next", final.NextAttempt, "error", derr)
	}
	q.event(o, ev, stats)
}

// persist is updateState for an outcome, tried until it is written or a
// minute has passed: the servers may be electing a leader.
func (q *Queue) persist(ctx context.Context, id spool.ID, f func(*state) error) (state, error) {
	wait := 100 * time.Millisecond
	deadline := q.now().Add(time.Minute)
	for {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		st, err := q.updateState(wctx, id, f)
		cancel()
		if err == nil {
			return st, nil
		}
		q.wErrors.Add(1)
		if q.nc.IsClosed() || q.now().After(deadline) || !sleep(ctx, wait) {
			return st, err
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// ack acknowledges m and waits for the server to confirm, a few times.
func (q *Queue) ack(ctx context.Context, m jetstream.Msg) {
	for range 3 {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := m.DoubleAck(actx)
		cancel()
		if err == nil {
			return
		}
		q.log.Debug("nats queue: ack not confirmed", "error", err)
	}
	// The submitted record is written: a redelivery is only acknowledged.
}

// bury copies a message to the dead letters and records it dead.
func (q *Queue) bury(ctx context.Context, rec *record, data []byte, st state, reason string, now time.Time) error {
	st.Dead = &spool.Dead{At: now, Reason: reason}
	h, err := rec.header()
	if err != nil {
		return err
	}
	sj, err := json.Marshal(st)
	if err != nil {
		return err
	}
	h.Set(hdrState, string(sj))
	msg := &nats.Msg{Subject: q.deadSubject(rec.meta.Mailbox, rec.id), Header: h, Data: data}
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := q.js.PublishMsg(pctx, msg, jetstream.WithMsgID("dead."+msgID(rec.id, rec.gen)), jetstream.WithExpectStream(q.o.Stream+"_DEAD"), jetstream.WithRetryAttempts(5)); err != nil {
		return err
	}
	_, err = q.persist(ctx, rec.id, func(s *state) error {
		s.Dead = st.Dead
		return nil
	})
	return err
}

// dropBody deletes a delivered or purged message's object, if it has one.
func (q *Queue) dropBody(rec *record) {
	if rec.object == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := q.bodies.Delete(ctx, rec.object); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		q.log.Warn("nats queue: cannot delete a delivered message's body", "id", rec.id, "error", err)
	}
}

func (q *Queue) event(o spool.RunOptions, ev spool.Event, stats *onceStats) {
	if stats != nil {
		stats.count(ev)
	}
	if o.OnEvent != nil {
		o.OnEvent(ev)
	}
}

// partialError is a delivery that reached some recipients and must be
// retried for the others.
type partialError struct{ rec spool.Receipt }

func (e *partialError) Error() string {
	return fmt.Sprintf("delivered to some recipients; %d deferred", len(e.rec.Deferred))
}

func (e *partialError) Temporary() bool { return true }

// onceStats counts what RunOnce did.
type onceStats struct {
	mu           sync.Mutex
	st           spool.RunStats
	notAttempted int
	err          error
}

func (s *onceStats) count(ev spool.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch ev.Outcome {
	case spool.OutcomeSubmitted:
		s.st.Submitted++
	case spool.OutcomeDeferred:
		s.st.Deferred++
	case spool.OutcomeDead:
		s.st.Dead++
	case spool.OutcomeInterrupted:
		s.st.Interrupted++
	case spool.OutcomeQuarantined:
		s.st.Quarantined++
	}
}

func (s *onceStats) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

// RunOnce delivers the messages that are due now, once each, and returns
// (graphmail queue run). Other relays may deliver at the same time.
func (q *Queue) RunOnce(ctx context.Context, d spool.Deliverer, o spool.RunOptions) (spool.RunStats, error) {
	o = o.WithDefaults()
	hard, stop := graceContext(ctx, o.Grace)
	defer stop()
	stats := &onceStats{}
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Go(func() { q.worker(ctx, hard, d, o, stats) })
	}
	wg.Wait()
	stats.mu.Lock()
	defer stats.mu.Unlock()
	st := stats.st
	st.NotAttempted += stats.notAttempted
	if depth, _, err := q.Stats(); err == nil {
		st.Queued = depth
	}
	if stats.err != nil {
		return st, &Error{Op: "run", Err: stats.err}
	}
	return st, nil
}
