package spool

import (
	"slices"
	"time"
)

// Health reports whether the spool can record deliveries: nil when it
// can, a *RecordError naming the cause (for example "no space left on
// device") while the outcome of some attempt is known only in memory
// because its record could not be written. While it is non-nil no
// delivery starts; Run retries the records every RunOptions.ScanInterval
// (RunOnce when it starts and before it returns) and resumes by itself
// once they are written. A daemon reports it on its readiness probe and
// as a gauge.
func (s *Spool) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.blocked {
		return nil
	}
	n := 0
	for _, e := range s.index {
		if e.pending != nil {
			n++
		}
	}
	return &RecordError{Unrecorded: n, Since: s.blockedSince, Err: s.writeErr}
}

// WriteErrors counts the failures to write an attempt's record since Open,
// each retry included, for a counter such as
// graphmail_spool_write_errors_total.
func (s *Spool) WriteErrors() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeErrors
}

// isBlocked reports whether an attempt's record waits to be written.
func (s *Spool) isBlocked() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.blocked
}

// settle records the outcome m of the attempt on id, which the calling
// worker holds in flight, and lets go of the message (see record). When
// the record cannot be written, the message stays in flight with m
// pending: nobody delivers it or reads its old record back, no delivery
// starts, and flush writes m later. settle returns the metadata recorded.
func (s *Spool) settle(id ID, m Meta, write bool) Meta {
	m, err := s.record(id, m, write)
	if err != nil {
		s.unrecorded(id, m, err)
	}
	return m
}

// unrecorded keeps m, the outcome of the attempt on id that could not be
// written, and blocks deliveries.
func (s *Spool) unrecorded(id ID, m Meta, err error) {
	s.mu.Lock()
	s.writeErrors++
	s.writeErr = err
	if !s.blocked {
		s.blocked, s.blockedSince = true, s.now()
	}
	e, ok := s.index[id]
	if !ok {
		// Nothing takes an entry in flight out of the index; should it
		// be gone all the same, the outcome is not lost.
		e = &entry{meta: m, inflight: true}
		s.index[id] = e
	}
	first := e.pending == nil
	e.pending = &m
	s.mu.Unlock()
	if first {
		s.log.Error("spool: cannot record the outcome of an attempt; it is kept in memory and no delivery starts until it is written",
			"id", id, "message_id", m.MessageID, "outcome", outcomeOf(m), "error", err.Error())
	}
}

// outcomeOf names the outcome a record holds.
func outcomeOf(m Meta) Outcome {
	switch {
	case m.Submitted != nil:
		return OutcomeSubmitted
	case m.Dead != nil:
		return OutcomeDead
	}
	return OutcomeDeferred
}

// flush writes the records that could not be written (pending), oldest
// first, and lets deliveries start again once none is left. Run calls it
// every ScanInterval, RunOnce when it starts and before it returns: a
// failure costs one write per pending message per scan, never a loop.
// Only the scheduler calls it; the entries it writes are in flight, so
// nothing else writes their records meanwhile.
func (s *Spool) flush() {
	s.mu.Lock()
	if !s.blocked {
		s.mu.Unlock()
		return
	}
	var ids []ID
	for id, e := range s.index {
		if e.pending != nil {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	slices.Sort(ids)
	written := 0
	for _, id := range ids {
		s.mu.Lock()
		var m Meta
		e, ok := s.index[id]
		ok = ok && e.pending != nil
		if ok {
			m = *e.pending
		}
		s.mu.Unlock()
		if !ok {
			continue
		}
		m, err := s.record(id, m, true)
		if err != nil {
			s.mu.Lock()
			s.writeErrors++
			s.writeErr = err
			if e, ok := s.index[id]; ok && e.pending != nil {
				e.pending = &m
			}
			s.mu.Unlock()
			s.log.Debug("spool: still cannot record an attempt", "id", id, "error", err.Error())
			continue
		}
		written++
	}
	s.mu.Lock()
	left := 0
	for _, e := range s.index {
		if e.pending != nil {
			left++
		}
	}
	resumed := left == 0
	since := s.blockedSince
	if resumed {
		s.blocked, s.writeErr = false, nil
	}
	s.mu.Unlock()
	if resumed {
		s.log.Warn("spool: records written again; deliveries resume", "recorded", written, "blocked_for", s.now().Sub(since).Round(time.Millisecond))
	}
}
