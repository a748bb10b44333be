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

// errRetry makes updateState read the record again and call f again.
var errRetry = errors.New("retry")

// getState reads id's state; a message never attempted has none (zero).
func (q *Queue) getState(ctx context.Context, id spool.ID) (state, uint64, error) {
	rctx, cancel := context.WithTimeout(ctx, kvTimeout)
	defer cancel()
	e, err := q.state.Get(rctx, string(id))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return state{}, 0, nil
	}
	if err != nil {
		return state{}, 0, err
	}
	var st state
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		// A damaged record must not stop delivery: start afresh (the
		// message goes out at least once).
		q.log.Warn("nats queue: unreadable state record; starting afresh", "id", id, "error", err)
		return state{}, e.Revision(), nil
	}
	return st, e.Revision(), nil
}

// updateState applies f to id's state with a compare-and-set, reading it
// again and calling f again when another process changed it meanwhile.
// f returning an error leaves the record as it was (errRetry: read again).
func (q *Queue) updateState(ctx context.Context, id spool.ID, f func(*state) error) (state, error) {
	for {
		st, rev, err := q.getState(ctx, id)
		if err != nil {
			return st, err
		}
		if err := f(&st); err != nil {
			if errors.Is(err, errRetry) {
				continue
			}
			return st, err
		}
		data, err := json.Marshal(st)
		if err != nil {
			return st, err
		}
		wctx, cancel := context.WithTimeout(ctx, kvTimeout)
		if rev == 0 {
			_, err = q.state.Create(wctx, string(id), data)
		} else {
			_, err = q.state.Update(wctx, string(id), data, rev)
		}
		cancel()
		switch {
		case err == nil:
			return st, nil
		case errors.Is(err, jetstream.ErrKeyExists), errors.Is(err, jetstream.ErrKeyRevisionMismatch):
			if err := ctx.Err(); err != nil {
				return st, err
			}
			continue
		default:
			return st, err
		}
	}
}

// meta merges a stream message's metadata at enqueue with its state.
func (r *record) metaWith(st state) spool.Meta {
	m := r.meta
	m.Attempts, m.NextAttempt, m.LastAttempt = st.Attempts, st.NextAttempt, st.LastAttempt
	m.Requeued, m.LastError, m.Pending = st.Requeued, st.LastError, st.Pending
	m.Submitted, m.Dead = st.Submitted, st.Dead
	return m
}
