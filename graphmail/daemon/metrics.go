package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// latencyBuckets are the upper bounds (seconds) of the delivery latency
// histograms.
var latencyBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// Metrics are the daemon's counters, exposed in the Prometheus text format.
// They are written by hand: a few counters do not need a client library.
// It is safe for concurrent use.
type Metrics struct {
	mu        sync.Mutex
	received  int64
	delivered map[string]int64 // by path
	failed    map[string]int64 // by outcome: deferred, dead
	// quarantined counts spool files moved to corrupt/.
	quarantined int64
	// dead counts messages given up, by failure class; bounces counts the
	// notifications queued for them.
	dead    map[string]int64
	bounces int64
	// refused counts recipients a partial delivery failed for good (the
	// others received the message), by failure class.
	refused   map[string]int64
	latency   map[string]*histogram
	listening atomic.Bool
}

type histogram struct {
	counts []int64 // per bucket, cumulative at exposition
	sum    float64
	n      int64
}

// NewMetrics returns zeroed counters.
func NewMetrics() *Metrics {
	return &Metrics{delivered: map[string]int64{}, failed: map[string]int64{}, latency: map[string]*histogram{}, dead: map[string]int64{}, refused: map[string]int64{}}
}

// ReceivedOne counts a message accepted and spooled.
func (m *Metrics) ReceivedOne() {
	m.mu.Lock()
	m.received++
	m.mu.Unlock()
}

func (m *Metrics) deadOne(class string) {
	m.mu.Lock()
	m.dead[class]++
	m.mu.Unlock()
}

func (m *Metrics) failedRecipient(class string) {
	m.mu.Lock()
	m.refused[class]++
	m.mu.Unlock()
}

func (m *Metrics) bounceOne() {
	m.mu.Lock()
	m.bounces++
	m.mu.Unlock()
}

// Observe records a finished delivery attempt (spool.RunOptions.OnEvent).
func (m *Metrics) Observe(e spool.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch e.Outcome {
	case spool.OutcomeSubmitted:
		path := e.Receipt.Path
		if path == "" {
			path = "graph"
		}
		m.delivered[path]++
		h := m.latency[path]
		if h == nil {
			h = &histogram{counts: make([]int64, len(latencyBuckets))}
			m.latency[path] = h
		}
		s := e.Duration.Seconds()
		for i, b := range latencyBuckets {
			if s <= b {
				h.counts[i]++
				break
			}
		}
		h.sum += s
		h.n++
	case spool.OutcomeDeferred, spool.OutcomeDead:
		m.failed[string(e.Outcome)]++
	case spool.OutcomeQuarantined:
		m.quarantined++
	}
}

// TokenSource is what /readyz and /metrics need of the token provider.
type TokenSource interface {
	Token(ctx context.Context, scope string, forceRefresh bool) (auth.Token, error)
}

// serveMetrics is the HTTP handler for /healthz, /readyz and /metrics.
type serveMetrics struct {
	m      *Metrics
	sp     spool.Queue
	dir    string
	tokens *tokenWatch
	creds  *credWatch
}

// handler serves /healthz (the process runs), /readyz (the listener is
// up, the last token check succeeded, the spool in dir is writable) and
// /metrics (Prometheus text format) for the daemon around sp.
func (m *Metrics) handler(sp spool.Queue, dir string, tokens *tokenWatch, creds *credWatch) http.Handler {
	return (&serveMetrics{m: m, sp: sp, dir: dir, tokens: tokens, creds: creds}).routes()
}

func (s *serveMetrics) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /metrics", s.metrics)
	return mux
}

// readyz: the listener is up, the last token check succeeded (the daemon
// checks every TokenWatchInterval; a request never asks for a token), the
// spool is writable and it can record deliveries (spool.Spool.Health: on
// a full or failing disk it stops delivering).
func (s *serveMetrics) readyz(w http.ResponseWriter, r *http.Request) {
	var problems []string
	if !s.m.listening.Load() {
		problems = append(problems, "smtp listener not up")
	}
	// The first check runs at start; a readiness probe that comes before
	// it ends waits for it (it does not start another).
	wait, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	select {
	case <-s.tokens.checkedCh:
	case <-wait.Done():
	}
	cancel()
	switch checked, _, err := s.tokens.state(); {
	case !checked:
		problems = append(problems, "credential not checked yet")
	case err != nil:
		problems = append(problems, "no token at the last check: "+err.Error())
	}
	if s.dir != "" {
		f, err := os.CreateTemp(filepath.Join(s.dir, "tmp"), ".readyz-*")
		if err != nil {
			problems = append(problems, "spool not writable: "+err.Error())
		} else {
			f.Close()
			os.Remove(f.Name())
		}
	}
	if err := s.sp.Health(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, p := range problems {
			fmt.Fprintln(w, p)
		}
		return
	}
	io.WriteString(w, "ready\n")
}

func (s *serveMetrics) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	depth, oldest, _ := s.sp.Stats()
	blocked, writeErrors := 0, s.sp.WriteErrors()
	if s.sp.Health() != nil {
		blocked = 1
	}
	var expiry float64
	if checked, exp, err := s.tokens.state(); checked && err == nil {
		expiry = time.Until(exp).Seconds()
	}
	s.m.mu.Lock()
	defer s.m.mu.Unlock()
	fmt.Fprintf(w, "# HELP graphmail_messages_received_total Messages accepted and spooled.\n# TYPE graphmail_messages_received_total counter\ngraphmail_messages_received_total %d\n", s.m.received)
	fmt.Fprintf(w, "# HELP graphmail_messages_delivered_total Messages handed to Microsoft 365, by path.\n# TYPE graphmail_messages_delivered_total counter\n")
	for _, p := range sortedKeys(s.m.delivered) {
		fmt.Fprintf(w, "graphmail_messages_delivered_total{path=%q} %d\n", p, s.m.delivered[p])
	}
	fmt.Fprintf(w, "# HELP graphmail_delivery_failures_total Failed delivery attempts, by outcome (deferred: retried later; dead: given up).\n# TYPE graphmail_delivery_failures_total counter\n")
	for _, o := range []string{"deferred", "dead"} {
		fmt.Fprintf(w, "graphmail_delivery_failures_total{outcome=%q} %d\n", o, s.m.failed[o])
	}
	fmt.Fprintf(w, "# HELP graphmail_retries_total Delivery attempts that will be retried.\n# TYPE graphmail_retries_total counter\ngraphmail_retries_total %d\n", s.m.failed["deferred"])
	fmt.Fprintf(w, "# HELP graphmail_spool_quarantined_total Spool files that could not be used and were moved to corrupt/.\n# TYPE graphmail_spool_quarantined_total counter\ngraphmail_spool_quarantined_total %d\n", s.m.quarantined)
	fmt.Fprintf(w, "# HELP graphmail_spool_blocked 1 while deliveries are stopped because the spool cannot record them (a full or failing disk).\n# TYPE graphmail_spool_blocked gauge\ngraphmail_spool_blocked %d\n", blocked)
	fmt.Fprintf(w, "# HELP graphmail_spool_write_errors_total Failed writes of delivery records (each retry counts).\n# TYPE graphmail_spool_write_errors_total counter\ngraphmail_spool_write_errors_total %d\n", writeErrors)
	deadNow, _ := s.sp.DeadLetters()
	fmt.Fprintf(w, "# HELP graphmail_dead_letters Messages in the dead letters now (read from the spool, so it survives restarts).\n# TYPE graphmail_dead_letters gauge\ngraphmail_dead_letters %d\n", deadNow)
	fmt.Fprintf(w, "# HELP graphmail_dead_letters_total Messages given up since start, by failure class.\n# TYPE graphmail_dead_letters_total counter\n")
	for _, c := range sortedKeys(s.m.dead) {
		fmt.Fprintf(w, "graphmail_dead_letters_total{class=%q} %d\n", c, s.m.dead[c])
	}
	fmt.Fprintf(w, "# HELP graphmail_recipients_failed_total Recipients refused for good while the message's other recipients received it, by failure class.\n# TYPE graphmail_recipients_failed_total counter\n")
	for _, c := range sortedKeys(s.m.refused) {
		fmt.Fprintf(w, "graphmail_recipients_failed_total{class=%q} %d\n", c, s.m.refused[c])
	}
	fmt.Fprintf(w, "# HELP graphmail_bounces_total Delivery status notifications queued for dead letters and refused recipients.\n# TYPE graphmail_bounces_total counter\ngraphmail_bounces_total %d\n", s.m.bounces)
	fmt.Fprintf(w, "# HELP graphmail_queue_depth Messages waiting in the spool.\n# TYPE graphmail_queue_depth gauge\ngraphmail_queue_depth %d\n", depth)
	fmt.Fprintf(w, "# HELP graphmail_queue_oldest_seconds Age of the oldest waiting message.\n# TYPE graphmail_queue_oldest_seconds gauge\ngraphmail_queue_oldest_seconds %g\n", oldest.Seconds())
	fmt.Fprintf(w, "# HELP graphmail_token_expiry_seconds Seconds until the current access token expires.\n# TYPE graphmail_token_expiry_seconds gauge\ngraphmail_token_expiry_seconds %g\n", expiry)
	fmt.Fprintf(w, "# HELP graphmail_credential_expiry_timestamp_seconds When each client secret or certificate expires (Unix time), by kind and id: the certificate's thumbprint or the secret's file name, never the secret. Absent when the expiry is not known.\n# TYPE graphmail_credential_expiry_timestamp_seconds gauge\n")
	if s.creds != nil {
		for _, c := range s.creds.credentials() {
			if !c.Expires.IsZero() {
				fmt.Fprintf(w, "graphmail_credential_expiry_timestamp_seconds{kind=%q,id=%q} %d\n", string(c.Kind), c.ID, c.Expires.Unix())
			}
		}
	}
	fmt.Fprintf(w, "# HELP graphmail_delivery_seconds Delivery latency, by path.\n# TYPE graphmail_delivery_seconds histogram\n")
	for _, p := range sortedKeys(s.m.latency) {
		h := s.m.latency[p]
		var cum int64
		for i, b := range latencyBuckets {
			cum += h.counts[i]
			fmt.Fprintf(w, "graphmail_delivery_seconds_bucket{path=%q,le=\"%g\"} %d\n", p, b, cum)
		}
		fmt.Fprintf(w, "graphmail_delivery_seconds_bucket{path=%q,le=\"+Inf\"} %d\n", p, h.n)
		fmt.Fprintf(w, "graphmail_delivery_seconds_sum{path=%q} %g\ngraphmail_delivery_seconds_count{path=%q} %d\n", p, h.sum, p, h.n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
