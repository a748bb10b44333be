package budget

import (
	"slices"
	"time"
)

// Defaults of Limits.
const (
	// DefaultWindow is the sliding window of Limits.PerWindow.
	DefaultWindow = time.Minute
	// DefaultInFlight is Exchange Online's MailboxConcurrency: requests in
	// flight at once per app and mailbox.
	DefaultInFlight = 4
	// DefaultLease is how long an in-flight entry lives without renewal.
	DefaultLease = 30 * time.Second
)

// Limits are the limits of one mailbox.
type Limits struct {
	// PerWindow is the number of messages that may start per Window
	// (config limits.messages_per_minute); 0 means no rate limit.
	PerWindow int
	// Window is the sliding window of PerWindow; 0 means DefaultWindow.
	Window time.Duration
	// InFlight is the number of messages in flight at once; 0 means
	// DefaultInFlight.
	InFlight int
	// Lease is how long an in-flight entry lives without renewal; 0 means
	// DefaultLease.
	Lease time.Duration
}

// withDefaults returns l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if l.InFlight <= 0 {
		l.InFlight = DefaultInFlight
	}
	if l.Lease <= 0 {
		l.Lease = DefaultLease
	}
	if l.PerWindow < 0 {
		l.PerWindow = 0
	}
	return l
}

// Entry is one message of a mailbox, in flight or ended within the window.
type Entry struct {
	// ID is random and unique per acquisition.
	ID string `json:"id"`
	// Holder names the participant that holds the entry, such as
	// LocalHolder's "host pid 1234 start 5678": for liveness checks and
	// debugging.
	Holder string `json:"holder"`
	// Start is when the message was let start.
	Start time.Time `json:"start"`
	// End is when it ended; zero while in flight.
	End time.Time `json:"end,omitzero"`
	// Expires is the end of its lease while in flight.
	Expires time.Time `json:"expires,omitzero"`
}

// inFlight reports whether e is in flight at now: not ended, lease not lapsed.
func (e Entry) inFlight(now time.Time) bool {
	return e.End.IsZero() && e.Expires.After(now)
}

// ended returns when e counts as ended: its End, or for an entry whose
// lease lapsed its Expires; zero while in flight.
func (e Entry) ended(now time.Time) time.Time {
	if !e.End.IsZero() {
		return e.End
	}
	if !e.Expires.After(now) {
		return e.Expires
	}
	return time.Time{}
}

// State is the state of one mailbox: its entries in flight and those that
// ended within the window. Its methods never modify it; they return a new
// State.
type State struct {
	Entries []Entry `json:"entries"`
}

// prune returns the entries of s that still count at now: in flight, or
// ended after now − Window when there is a rate limit (without one an
// ended entry no longer matters).
func (s State) prune(now time.Time, l Limits) []Entry {
	cut := now.Add(-l.Window)
	out := make([]Entry, 0, len(s.Entries)+1)
	for _, e := range s.Entries {
		end := e.ended(now)
		if end.IsZero() || (l.PerWindow > 0 && end.After(cut)) {
			out = append(out, e)
		}
	}
	return out
}

// Take decides at now whether one more message may start. If so it
// returns the new state — pruned, with e added (its Start set to now, its
// lease to now+Lease, End cleared) — and true. If not it returns the state
// pruned and the earliest time worth trying again (never before now) and
// false: the earliest instant at which the count that refused it would
// drop if nothing else changes (an entry's end + Window, or the earliest
// lease end when too many are in flight). A Finish elsewhere may let a
// message start sooner; Store.Changed tells of that.
func (s State) Take(now time.Time, l Limits, e Entry) (State, bool, time.Time) {
	l = l.withDefaults()
	entries := s.prune(now, l)
	var (
		counted, inFlight int
		oldestEnd         time.Time // earliest end (or lease end) among counted entries
		firstLease        time.Time // earliest lease end among those in flight
	)
	for _, x := range entries {
		counted++
		end := x.ended(now)
		if end.IsZero() {
			inFlight++
			end = x.Expires
			if firstLease.IsZero() || x.Expires.Before(firstLease) {
				firstLease = x.Expires
			}
		}
		if oldestEnd.IsZero() || end.Before(oldestEnd) {
			oldestEnd = end
		}
	}
	rateOK := l.PerWindow == 0 || counted < l.PerWindow
	flightOK := inFlight < l.InFlight
	if rateOK && flightOK {
		e.Start = now
		e.End = time.Time{}
		e.Expires = now.Add(l.Lease)
		return State{Entries: append(entries, e)}, true, now
	}
	retry := now
	if !rateOK {
		retry = later(retry, oldestEnd.Add(l.Window))
	}
	if !flightOK {
		retry = later(retry, firstLease)
	}
	return State{Entries: entries}, false, retry
}

// Finish returns the state with entry id ended at now (or at its Start
// if the clock went back since). An entry already ended, or not there,
// is left as it is, so Finish may be called more than once.
func (s State) Finish(now time.Time, id string) State {
	i := slices.IndexFunc(s.Entries, func(e Entry) bool { return e.ID == id })
	if i < 0 || !s.Entries[i].End.IsZero() {
		return s
	}
	entries := slices.Clone(s.Entries)
	entries[i].End = later(now, entries[i].Start)
	entries[i].Expires = time.Time{}
	return State{Entries: entries}
}

// Renew returns the state with the lease of entry id, if it has not
// ended, extended to now + Lease. A lease that had already lapsed is
// renewed too: the message is still in flight, and counts again. An
// entry not there (pruned long after its lease lapsed) stays absent.
func (s State) Renew(now time.Time, l Limits, id string) State {
	l = l.withDefaults()
	i := slices.IndexFunc(s.Entries, func(e Entry) bool { return e.ID == id })
	if i < 0 || !s.Entries[i].End.IsZero() {
		return s
	}
	entries := slices.Clone(s.Entries)
	entries[i].Expires = later(entries[i].Expires, now.Add(l.Lease))
	return State{Entries: entries}
}

// clone returns a deep copy of s.
func (s State) clone() State {
	return State{Entries: slices.Clone(s.Entries)}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
