package spool

import (
	"context"
	"sync"
	"time"
)

// RunStats counts what one RunOnce did.
type RunStats struct {
	// PickedUp counts submissions taken from maildrop/ into the queue.
	PickedUp int
	// Submitted, Deferred and Dead count attempts by outcome.
	Submitted, Deferred, Dead int
	// Interrupted counts attempts cut short when ctx ended and
	// RunOptions.Grace ran out; those messages stay queued as they were.
	Interrupted int
	// NotAttempted counts messages that were due but not started: ctx
	// ended first, a Run asked for the spool (Yielded), or an attempt's
	// record could not be written (RunOnce then returns a *RecordError).
	// They stay queued.
	NotAttempted int
	// Quarantined counts files moved to corrupt/ (OutcomeQuarantined).
	Quarantined int
	// Queued is the number of messages in the queue when RunOnce returned:
	// deferred, not yet due, not attempted or interrupted.
	Queued int
	// Yielded reports that RunOnce stopped early because a Run (graphmail
	// serve) started and waits for the spool; it delivers the rest.
	Yielded bool
}

// RunOnce delivers, once each, the messages that are due when it starts,
// and returns: for a command that empties the queue from cron or a
// systemd timer when no daemon runs, or a bounded flush before a program
// exits. It takes what is in maildrop/ into the queue first, finishes what
// a crash interrupted and quarantines files it cannot use, like Run; each
// attempt follows Run's rules (RunOptions.Backoff, MaxAge and Timeout, the
// dead letters, OnEvent, at most Workers at once), and a message deferred
// during the call is not tried again in it.
//
// When the record of an attempt cannot be written (a full or failing
// disk), RunOnce starts nothing more, tries the write once more before it
// returns, and returns the stats with an *Error wrapping a *RecordError
// (Temporary: try again later) if it still fails. The outcome stays in
// this Spool's memory: a later Run or RunOnce of the same process writes
// it before it delivers anything, and never delivers such a submitted
// message again. Once the process exits, the next run delivers it again
// (the at-least-once window of the package documentation).
//
// RunOnce takes the same lock as Run but never waits for it: while Run (or
// another RunOnce) delivers from the directory, it returns ErrLocked at
// once, and the caller can rely on that Run to deliver (it takes
// maildrop/ and re-reads queue/ every RunOptions.ScanInterval). When a Run
// starts while RunOnce delivers, RunOnce starts nothing more, lets the
// deliveries in flight finish and returns with Yielded set; the Run waits
// for it. So a message is never delivered by both. A caller that may not
// write the spool gets an error that wraps fs.ErrPermission.
//
// When ctx ends (its deadline passes), RunOnce starts no further delivery
// and no further pickup; deliveries in flight get RunOptions.Grace to
// finish and are then cancelled (OutcomeInterrupted, not counted as an
// attempt). Everything not attempted stays queued. The time RunOnce takes
// is thus bounded by ctx's deadline plus Grace (and the Deliverer's
// prompt return once its context is cancelled).
func (s *Spool) RunOnce(ctx context.Context, d Deliverer, o RunOptions) (RunStats, error) {
	o.defaults()
	var st RunStats
	if err := ctx.Err(); err != nil {
		return st, &Error{Op: "run", Err: err}
	}
	unlock, waiting, err := s.lockOnce()
	if err != nil {
		return st, &Error{Op: "run", Err: err}
	}
	defer unlock()
	var smu sync.Mutex
	count := func(e Event) {
		smu.Lock()
		switch e.Outcome {
		case OutcomeSubmitted:
			st.Submitted++
		case OutcomeDeferred:
			st.Deferred++
		case OutcomeDead:
			st.Dead++
		case OutcomeInterrupted:
			st.Interrupted++
		case OutcomeQuarantined:
			st.Quarantined++
		}
		smu.Unlock()
		if o.OnEvent != nil {
			o.OnEvent(e)
		}
	}
	if err := s.start(count); err != nil {
		return st, err
	}
	defer s.stop()
	if err := s.recover(); err != nil {
		return st, &Error{Op: "run", Err: err}
	}
	s.flush() // what an earlier run of this process could not record
	if !s.isBlocked() {
		st.PickedUp = s.pickup(ctx)
	}
	if err := s.scan(); err != nil {
		return st, &Error{Op: "run", Err: err}
	}

	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	ids := s.dueNow()
	slots := make(chan struct{}, o.Workers)
	var wg sync.WaitGroup
	for i, id := range ids {
		if ctx.Err() == nil {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
			}
		}
		ended, yielded := ctx.Err() != nil, false
		if !ended {
			yielded = waiting()
		}
		if ended || yielded || s.isBlocked() {
			smu.Lock()
			st.NotAttempted += len(ids) - i
			st.Yielded = yielded
			smu.Unlock()
			break
		}
		if !s.begin(id) {
			<-slots // Retry holds it, or it left the queue: not due any more
			continue
		}
		wg.Go(func() {
			defer func() { <-slots }()
			s.attempt(ctx, dctx, d, id, &o)
		})
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		select {
		case <-stopped:
		case <-time.After(o.Grace):
			cancel()
			<-stopped
		}
	}
	s.flush()
	msgs, _, err := s.listIDs(dirQueue)
	if err != nil {
		return st, &Error{Op: "run", Err: err}
	}
	smu.Lock()
	defer smu.Unlock()
	st.Queued = len(msgs)
	if err := s.Health(); err != nil {
		return st, &Error{Op: "run", Err: err}
	}
	return st, nil
}

// dueNow returns the messages due now, oldest first, without marking them.
func (s *Spool) dueNow() []ID {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []ID
	for id, e := range s.index {
		if !e.busy() && !e.meta.NextAttempt.After(now) {
			ids = append(ids, id)
		}
	}
	sortDue(s.index, ids)
	return ids
}

// begin marks id in flight if it is still queued, due and free.
func (s *Spool) begin(id ID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.index[id]
	if !ok || e.busy() || e.meta.NextAttempt.After(s.now()) {
		return false
	}
	e.inflight = true
	return true
}
