package graphmailtest

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// mailState is the fake's mailbox-side state: drafts, upload sessions and
// the Graph requests in flight per mailbox.
type mailState struct {
	limit int // requests in flight per mailbox; negative is unlimited

	mu        sync.Mutex
	latency   time.Duration
	gate      chan struct{}          // when set, admitted requests wait for it to close
	inFlight  map[string]int         // lower-case mailbox → requests now
	highWater map[string]int         // lower-case mailbox → most at once
	arrivals  map[string][]time.Time // lower-case mailbox → when each send request arrived
	throttled int                    // 429 MailboxConcurrency answers
	requests  map[string]int         // "METHOD op" → count; "" → all Graph API requests
	drafts    map[string]*draft
	sessions  map[string]*uploadSession
	deleted   int
}

func newMailState(limit int) *mailState {
	if limit == 0 {
		limit = 4
	}
	st := &mailState{limit: limit}
	st.reset()
	return st
}

func (st *mailState) reset() {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.inFlight, st.highWater = map[string]int{}, map[string]int{}
	st.arrivals = map[string][]time.Time{}
	st.requests = map[string]int{}
	st.drafts, st.sessions = map[string]*draft{}, map[string]*uploadSession{}
	st.throttled, st.deleted = 0, 0
}

// count records a Graph API request.
func (st *mailState) count(r *http.Request) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.requests[""]++
	st.requests[r.Method+" "+lastSegment(r.URL.Path)]++
}

func lastSegment(p string) string {
	p = strings.TrimRight(p, "/")
	return strings.ToLower(p[strings.LastIndex(p, "/")+1:])
}

// enter admits one more request for mailbox, or reports false when the
// mailbox already has the limit in flight.
func (st *mailState) enter(mailbox string) (release func(), ok bool) {
	k := strings.ToLower(mailbox)
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.limit > 0 && st.inFlight[k] >= st.limit {
		st.throttled++
		return nil, false
	}
	st.inFlight[k]++
	st.highWater[k] = max(st.highWater[k], st.inFlight[k])
	var once sync.Once
	return func() {
		once.Do(func() {
			st.mu.Lock()
			st.inFlight[k]--
			st.mu.Unlock()
		})
	}, true
}

// arrive records that a request sending a message (sendMail, or a
// draft's send) for mailbox was admitted now.
func (st *mailState) arrive(mailbox string) {
	k := strings.ToLower(mailbox)
	now := time.Now()
	st.mu.Lock()
	defer st.mu.Unlock()
	st.arrivals[k] = append(st.arrivals[k], now)
}

// hold keeps an admitted request in flight while HoldGraph holds them and
// for the configured latency.
func (st *mailState) hold(r *http.Request) {
	st.mu.Lock()
	d, gate := st.latency, st.gate
	st.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

// SetLatency makes every admitted Graph request (and upload chunk) take at
// least d, like a busy service, so that concurrent requests overlap.
func (s *Server) SetLatency(d time.Duration) {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	s.mail.latency = d
}

// HoldGraph keeps every Graph request (and upload chunk) admitted from now
// on in flight until release is called: a test can then make requests
// overlap for certain, however slowly a loaded machine starts them, and
// watch MaxInFlight and Throttled while they do. release lets the held
// requests and all later ones go on; calling it again does nothing.
func (s *Server) HoldGraph() (release func()) {
	gate := make(chan struct{})
	s.mail.mu.Lock()
	s.mail.gate = gate
	s.mail.mu.Unlock()
	return sync.OnceFunc(func() {
		s.mail.mu.Lock()
		if s.mail.gate == gate {
			s.mail.gate = nil
		}
		s.mail.mu.Unlock()
		close(gate)
	})
}

// MaxInFlight returns the most Graph requests (upload chunks included) the
// mailbox had in flight at once since the start or Reset.
func (s *Server) MaxInFlight(mailbox string) int {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return s.mail.highWater[strings.ToLower(mailbox)]
}

// MaxPerWindow returns the most requests sending a message (sendMail, or
// a draft's send: each is a message as Exchange counts them) that arrived
// for the mailbox within any window of length window — any [t, t+window)
// — since the start or Reset. Requests turned away with 429
// MailboxConcurrency did not arrive; those that failed later did.
func (s *Server) MaxPerWindow(mailbox string, window time.Duration) int {
	s.mail.mu.Lock()
	times := slices.Clone(s.mail.arrivals[strings.ToLower(mailbox)])
	s.mail.mu.Unlock()
	return mostInWindow(times, window)
}

// mostInWindow returns the most of times within any [t, t+window).
func mostInWindow(times []time.Time, window time.Duration) int {
	if window <= 0 {
		return 0
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most := 0
	for i, j := 0, 0; j < len(times); j++ {
		for times[j].Sub(times[i]) >= window {
			i++
		}
		most = max(most, j-i+1)
	}
	return most
}

// Throttled returns how many requests got 429 MailboxConcurrency.
func (s *Server) Throttled() int {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return s.mail.throttled
}

// GraphRequests returns how many requests reached the Graph API (not
// counting upload chunks), whatever their outcome, including injected
// failures. With op ("sendMail", "messages", "send", "attachments",
// "createUploadSession", a draft id…, matched against the last path
// segment without regard to case) and a method, it counts only those:
// GraphRequests("POST sendMail").
func (s *Server) GraphRequests(methodOp string) int {
	if m, op, ok := strings.Cut(methodOp, " "); ok {
		methodOp = strings.ToUpper(m) + " " + strings.ToLower(op)
	}
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return s.mail.requests[methodOp]
}

// Drafts returns how many drafts exist (created and neither sent nor
// deleted), in every mailbox.
func (s *Server) Drafts() int {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return len(s.mail.drafts)
}

// DeletedDrafts returns how many drafts were deleted with DELETE.
func (s *Server) DeletedDrafts() int {
	s.mail.mu.Lock()
	defer s.mail.mu.Unlock()
	return s.mail.deleted
}
