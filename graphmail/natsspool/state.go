package natsspool

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/spool"
)

// state is what S_STATE holds about a message, beside the immutable
// stream message: everything that changes between attempts.
type state struct {
	// Gen is the generation of the stream message that is current: a
	// retry by hand publishes a copy with the next generation, and older
	// copies are dropped when they come up.
	Gen         int       `json:"gen"`
	Attempts    int       `json:"attempts,omitempty"`
	NextAttempt time.Time `json:"next_attempt,omitzero"`
	LastAttempt time.Time `json:"last_attempt,omitzero"`
	Requeued    time.Time `json:"requeued,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	Pending     []string  `json:"pending,omitempty"`
	// Claim is held by the relay delivering the message.
	Claim     *claim           `json:"claim,omitempty"`
	Submitted *spool.Submitted `json:"submitted,omitempty"`
	Dead      *spool.Dead      `json:"dead,omitempty"`
	// Purged is set by Purge: any copy that comes up is dropped.
	Purged bool `json:"purged,omitempty"`
}

// claim is a relay's lease on a message it is delivering.
type claim struct {
	Holder string    `json:"holder"`
	Until  time.Time `json:"until"`
}

// getState reads id's state; a message never attempted has none (zero).
func (q *Queue) getState(ctx context.Context, id spool.ID) (state, uint64, error) {
	return getJSON[state](ctx, q.state, string(id), q.damaged(id))
}

// updateState applies f to id's state with a compare-and-set, reading it
// again and calling f again when another process changed it meanwhile.
// f returning an error leaves the record as it was and is returned.
func (q *Queue) updateState(ctx context.Context, id spool.ID, f func(*state) error) (state, error) {
	st, err := updateJSON(ctx, q.state, string(id), f, q.damaged(id))
	if fe, ok := errors.AsType[*fnError](err); ok {
		return st, fe.err
	}
	return st, err
}

// damaged logs a state record that cannot be read: delivery starts afresh
// rather than stop (the message goes out at least once).
func (q *Queue) damaged(id spool.ID) func(error) {
	return func(err error) {
		q.log.Warn("nats queue: unreadable state record; starting afresh", "id", id, "error", err)
	}
}

// kvTimeout bounds one request to a bucket: a request lost while a server
// stops is asked again rather than waited for until the caller's deadline.
const kvTimeout = 5 * time.Second

// getJSON reads key's JSON value and its revision: zero and 0 when the key
// has none, zero and the revision (after calling damaged) when the value
// cannot be decoded.
func getJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string, damaged func(error)) (T, uint64, error) {
	var v T
	rctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	e, err := kv.Get(rctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return v, 0, nil
	}
	if err != nil {
		return v, 0, err
	}
	if err := json.Unmarshal(e.Value(), &v); err != nil {
		if damaged != nil {
			damaged(err)
		}
		var zero T
		return zero, e.Revision(), nil
	}
	return v, e.Revision(), nil
}

// updateJSON is the compare-and-set loop of both buckets: read key, apply
// f, write the result if the revision is still the one read, else read
// again. An error of f is returned as an *fnError, with nothing written.
func updateJSON[T any](ctx context.Context, kv jetstream.KeyValue, key string, f func(*T) error, damaged func(error)) (T, error) {
	for {
		v, rev, err := getJSON[T](ctx, kv, key, damaged)
		if err != nil {
			return v, err
		}
		if err := f(&v); err != nil {
			return v, &fnError{err}
		}
		data, err := json.Marshal(v)
		if err != nil {
			return v, err
		}
		wctx, cancel := context.WithTimeout(ctx, kvTimeout)
		if rev == 0 {
			_, err = kv.Create(wctx, key, data)
		} else {
			_, err = kv.Update(wctx, key, data, rev)
		}
		cancel()
		switch {
		case err == nil:
			return v, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			if err := ctx.Err(); err != nil {
				return v, err
			}
		default:
			return v, err
		}
	}
}

// fnError carries the error of an update's own function, which is not
// retried.
type fnError struct{ err error }

func (e *fnError) Error() string { return e.err.Error() }
func (e *fnError) Unwrap() error { return e.err }

// meta merges a stream message's metadata at enqueue with its state.
func (r *record) metaWith(st state) spool.Meta {
	m := r.meta
	m.Attempts, m.NextAttempt, m.LastAttempt = st.Attempts, st.NextAttempt, st.LastAttempt
	m.Requeued, m.LastError, m.Pending = st.Requeued, st.LastError, st.Pending
	m.Submitted, m.Dead = st.Submitted, st.Dead
	return m
}
