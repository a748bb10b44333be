package natsspool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/spool"
)

// adminTimeout bounds one administrative operation.
const adminTimeout = 30 * time.Second

// found is one stream message of a message ID.
type found struct {
	rec  *record
	seq  uint64
	dead bool
	st   *state // the state a dead letter was buried with
}

// scan reads every message in stream s whose subject matches filter, in
// stream order. A work-queue stream allows no second consumer, so it
// reads them with the stream's message-get API (next message on a
// subject at or after a sequence), one request per message.
func (q *Queue) scan(ctx context.Context, s jetstream.Stream, filter string, dead bool, f func(found)) error {
	seq := uint64(1)
	for {
		m, err := s.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(filter))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if rec, err := parseRecord(m.Header); err == nil {
			fd := found{rec: rec, seq: m.Sequence, dead: dead}
			if dead {
				var st state
				if json.Unmarshal([]byte(m.Header.Get(hdrState)), &st) == nil {
					fd.st = &st
				}
			}
			f(fd)
		}
		seq = m.Sequence + 1
	}
}

// states reads every state record.
func (q *Queue) states(ctx context.Context) (map[spool.ID]state, error) {
	w, err := q.state.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	out := map[spool.ID]state{}
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e := <-w.Updates():
			if e == nil {
				return out, nil
			}
			var st state
			if json.Unmarshal(e.Value(), &st) == nil {
				out[spool.ID(e.Key())] = st
			}
		}
	}
}

// List returns the queued messages (those not yet delivered) and the
// dead letters, oldest first.
func (q *Queue) List() ([]spool.Item, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	states, err := q.states(ctx)
	if err != nil {
		return nil, &Error{Op: "list", Err: err}
	}
	latest := map[spool.ID]found{}
	keep := func(fd found) {
		if old, ok := latest[fd.rec.id]; !ok || fd.rec.gen > old.rec.gen || fd.rec.gen == old.rec.gen && fd.dead && !old.dead {
			latest[fd.rec.id] = fd
		}
	}
	if err := q.scan(ctx, q.stream, q.o.Stream+".q.>", false, keep); err != nil {
		return nil, &Error{Op: "list", Err: err}
	}
	if err := q.scan(ctx, q.dead, q.o.Stream+".dead.>", true, keep); err != nil {
		return nil, &Error{Op: "list", Err: err}
	}
	var items []spool.Item
	for id, fd := range latest {
		st := states[id]
		if fd.dead && fd.st != nil && st.Dead == nil {
			st = *fd.st // the state record expired; the dead letter keeps its own
		}
		it, ok := fd.item(st)
		if ok {
			items = append(items, it)
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].ID < items[j].ID })
	return items, nil
}

// item describes fd with its state, or reports false for a copy that is
// no longer current (superseded, purged, delivered).
func (fd found) item(st state) (spool.Item, bool) {
	switch {
	case st.Purged, st.Submitted != nil && !fd.dead, fd.rec.gen < st.Gen:
		return spool.Item{}, false
	case fd.dead && st.Dead == nil && fd.rec.gen == st.Gen:
		return spool.Item{}, false // taken back by Retry
	}
	it := spool.Item{ID: fd.rec.id, State: spool.StateQueued, Envelope: fd.rec.env, Meta: fd.rec.metaWith(st), Size: fd.rec.size, Header: fd.rec.info}
	if fd.dead {
		it.State = spool.StateDeadletter
	}
	return it, true
}

// find returns the current copy of id: the newest generation in the
// stream, else its dead letter.
func (q *Queue) find(ctx context.Context, id spool.ID) (found, state, uint64, error) {
	if !spool.ValidID(id) {
		return found{}, state{}, 0, spool.ErrNotFound
	}
	st, rev, err := q.getState(ctx, id)
	if err != nil {
		return found{}, st, 0, err
	}
	var best *found
	keep := func(fd found) {
		if best == nil || fd.rec.gen > best.rec.gen || fd.rec.gen == best.rec.gen && fd.dead && !best.dead {
			best = &fd
		}
	}
	if err := q.scan(ctx, q.stream, q.o.Stream+".q.*."+string(id), false, keep); err != nil {
		return found{}, st, 0, err
	}
	if err := q.scan(ctx, q.dead, q.o.Stream+".dead.*."+string(id), true, keep); err != nil {
		return found{}, st, 0, err
	}
	if best == nil {
		return found{}, st, rev, spool.ErrNotFound
	}
	if best.dead && best.st != nil && st.Dead == nil && st.Gen <= best.rec.gen && !st.Purged {
		st = *best.st
	}
	return *best, st, rev, nil
}

// body reads the bytes of a found message.
func (q *Queue) body(ctx context.Context, fd found) ([]byte, error) {
	if fd.rec.object != "" {
		return q.bodies.GetBytes(ctx, fd.rec.object)
	}
	s := q.stream
	if fd.dead {
		s = q.dead
	}
	m, err := s.GetMsg(ctx, fd.seq)
	if err != nil {
		return nil, err
	}
	return m.Data, nil
}

// Show returns a queued or dead message and its bytes.
func (q *Queue) Show(id spool.ID) (spool.Item, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	fd, st, _, err := q.find(ctx, id)
	if err != nil {
		return spool.Item{}, nil, &Error{Op: "show", ID: id, Err: err}
	}
	it, ok := fd.item(st)
	if !ok {
		return spool.Item{}, nil, &Error{Op: "show", ID: id, Err: spool.ErrNotFound}
	}
	raw, err := q.body(ctx, fd)
	if err != nil {
		return spool.Item{}, nil, &Error{Op: "show", ID: id, Err: err}
	}
	return it, raw, nil
}

// Retry makes a queued message due now, or takes a dead letter back into
// the queue with its attempts reset: it publishes a copy of the next
// generation (older copies are then dropped when they come up) and
// deletes the old one.
func (q *Queue) Retry(id spool.ID) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	if err := q.retry(ctx, id); err != nil {
		return &Error{Op: "retry", ID: id, Err: err}
	}
	return nil
}

func (q *Queue) retry(ctx context.Context, id spool.ID) error {
	fd, st, _, err := q.find(ctx, id)
	if err != nil {
		return err
	}
	if _, ok := fd.item(st); !ok {
		return spool.ErrNotFound
	}
	data, err := q.body(ctx, fd)
	if err != nil {
		return err
	}
	if fd.rec.object != "" {
		data = nil
	}
	next := *fd.rec
	next.gen = max(fd.rec.gen, st.Gen) + 1
	h, err := next.header()
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: q.subject(next.meta.Mailbox, id), Header: h, Data: data}
	if _, err := q.js.PublishMsg(ctx, msg, jetstream.WithMsgID(msgID(id, next.gen)), jetstream.WithExpectStream(q.o.Stream)); err != nil {
		return err
	}
	now := q.now()
	if _, err := q.updateState(ctx, id, func(s *state) error {
		if s.Gen < next.gen {
			s.Gen = next.gen
		}
		s.NextAttempt = time.Time{}
		if fd.dead || s.Dead != nil {
			s.Dead, s.Attempts, s.Requeued = nil, 0, now
		}
		return nil
	}); err != nil {
		return err
	}
	s := q.stream
	if fd.dead {
		s = q.dead
	}
	if err := s.DeleteMsg(ctx, fd.seq); err != nil && !errors.Is(err, jetstream.ErrMsgNotFound) {
		q.log.Debug("nats queue: the superseded copy stays until it comes up", "id", id, "error", err)
	}
	return nil
}

// RetryAll retries every queued and dead message and returns how many.
func (q *Queue) RetryAll() (int, error) {
	items, err := q.List()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, it := range items {
		if err := q.Retry(it.ID); err != nil {
			if errors.Is(err, spool.ErrNotFound) {
				continue // delivered meanwhile
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// Purge deletes a queued or dead message without delivering it. A
// message a relay is delivering right now gives spool.ErrBusy.
func (q *Queue) Purge(id spool.ID) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	fd, st, _, err := q.find(ctx, id)
	if err == nil {
		if _, ok := fd.item(st); !ok {
			err = spool.ErrNotFound
		}
	}
	if err != nil {
		return &Error{Op: "purge", ID: id, Err: err}
	}
	if _, err := q.updateState(ctx, id, func(s *state) error {
		if s.Claim != nil && s.Claim.Until.After(q.now()) && !fd.dead {
			return spool.ErrBusy
		}
		s.Purged, s.Claim = true, nil
		return nil
	}); err != nil {
		return &Error{Op: "purge", ID: id, Err: err}
	}
	// Every copy goes; one that cannot be deleted now is dropped when it
	// comes up (Purged).
	del := func(s jetstream.Stream, filter string, dead bool) {
		q.scan(ctx, s, filter, dead, func(f found) { s.DeleteMsg(ctx, f.seq) })
	}
	del(q.stream, q.o.Stream+".q.*."+string(id), false)
	del(q.dead, q.o.Stream+".dead.*."+string(id), true)
	if fd.rec.object != "" {
		q.bodies.Delete(ctx, fd.rec.object)
	}
	return nil
}

// Stats returns the number of messages in the stream (not counting dead
// letters) and the age of the oldest.
func (q *Queue) Stats() (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := q.stream.Info(ctx)
	if err != nil {
		return 0, 0, &Error{Op: "stats", Err: err}
	}
	var oldest time.Duration
	if info.State.Msgs > 0 && !info.State.FirstTime.IsZero() {
		oldest = max(q.now().Sub(info.State.FirstTime), 0)
	}
	return int(info.State.Msgs), oldest, nil
}

// DeadLetters counts the messages in the dead letters' stream.
func (q *Queue) DeadLetters() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := q.dead.Info(ctx)
	if err != nil {
		return 0, &Error{Op: "stats", Err: err}
	}
	return int(info.State.Msgs), nil
}

// HealthError says why the queue cannot take messages now.
type HealthError struct {
	// Problem names what is wrong.
	Problem string
	// Err is the cause, when there is one.
	Err error
}

// Error implements error.
func (e *HealthError) Error() string {
	if e.Err != nil {
		return "nats queue: " + e.Problem + ": " + e.Err.Error()
	}
	return "nats queue: " + e.Problem
}

// Unwrap returns the cause.
func (e *HealthError) Unwrap() error { return e.Err }

// Temporary reports true.
func (e *HealthError) Temporary() bool { return true }

// Health is nil while the connection is up and the stream answers (it has
// a leader, so publishes are stored): a relay's readiness probe.
func (q *Queue) Health() error {
	if s := q.nc.Status(); s != nats.CONNECTED {
		return &HealthError{Problem: "not connected to a NATS server (" + s.String() + ")"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	info, err := q.stream.Info(ctx)
	if err != nil {
		return &HealthError{Problem: "stream " + q.o.Stream + " does not answer", Err: err}
	}
	if c := info.Cluster; c != nil && c.Leader == "" {
		return &HealthError{Problem: "stream " + q.o.Stream + " has no leader"}
	}
	if c := info.Cluster; c != nil && q.o.Replicas > 1 {
		current := 1 // the leader
		for _, p := range c.Replicas {
			if p.Current && !p.Offline {
				current++
			}
		}
		if current*2 <= q.o.Replicas {
			return &HealthError{Problem: fmt.Sprintf("stream %s has %d of %d replicas current: no quorum", q.o.Stream, current, q.o.Replicas)}
		}
	}
	return nil
}

// WriteErrors counts the failures to write a state record (retries
// included) since Open.
func (q *Queue) WriteErrors() uint64 { return q.wErrors.Load() }
