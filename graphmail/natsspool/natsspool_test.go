package natsspool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// open opens a Queue on c's servers, closed when the test ends.
func open(t *testing.T, c *natstest.Cluster, o Options) *Queue {
	t.Helper()
	o.URL = c.URL()
	if o.Name == "" {
		o.Name = t.Name()
	}
	q, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { q.Close() })
	return q
}

func message(subject string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: app@contoso.com\r\nTo: ops@contoso.com\r\nSubject: %s\r\nMessage-ID: <%s@test>\r\n\r\n", subject, strings.ReplaceAll(subject, " ", "-"))
	for b.Len() < size {
		b.WriteString("line of the message body, long enough to fill the size asked for.\r\n")
	}
	return b.Bytes()
}

// recorder is a Deliverer that records every attempt and answers with
// fail's verdict.
type recorder struct {
	mu       sync.Mutex
	attempts []spool.Delivery
	bodies   [][]byte
	fail     func(d spool.Delivery) error
	got      chan spool.Delivery
}

func newRecorder(fail func(spool.Delivery) error) *recorder {
	return &recorder{fail: fail, got: make(chan spool.Delivery, 1000)}
}

func (r *recorder) Deliver(ctx context.Context, d spool.Delivery) (spool.Receipt, error) {
	body, err := io.ReadAll(d.Body)
	if err != nil {
		return spool.Receipt{}, err
	}
	var ferr error
	if r.fail != nil {
		ferr = r.fail(d)
	}
	r.mu.Lock()
	r.attempts = append(r.attempts, d)
	r.bodies = append(r.bodies, body)
	r.mu.Unlock()
	r.got <- d
	if ferr != nil {
		return spool.Receipt{}, ferr
	}
	return spool.Receipt{Path: "graph", RequestID: "req-" + string(d.ID)}, nil
}

// events collects OnEvent's events on a channel.
func events() (chan spool.Event, func(spool.Event)) {
	ch := make(chan spool.Event, 1000)
	return ch, func(e spool.Event) { ch <- e }
}

// run starts q.Run in the background until the test ends.
func run(t *testing.T, q *Queue, d spool.Deliverer, o spool.RunOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); q.Run(ctx, d, o) }()
	t.Cleanup(func() { cancel(); <-done })
}

// next waits for the next event.
func next(t *testing.T, ch chan spool.Event) spool.Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(2 * time.Minute):
		t.Fatal("no event within 2 minutes")
		return spool.Event{}
	}
}

func TestEnqueueAndDeliver(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{Hostname: "relay.test"})
	ctx := context.Background()
	var ids []spool.ID
	for i := range 3 {
		raw := message(fmt.Sprintf("report %d", i), 100)
		id, err := q.Enqueue(ctx, spool.Envelope{From: "app@contoso.com", To: []string{"ops@contoso.com", "bcc@contoso.com"}}, raw, spool.Meta{Client: "192.0.2.7", Mailbox: "app@contoso.com"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	items, err := q.List()
	if err != nil || len(items) != 3 {
		t.Fatalf("List = %d items, %v; want 3", len(items), err)
	}
	if it := items[0]; it.ID != ids[0] || it.State != spool.StateQueued || it.Header.Subject != "report 0" || it.Meta.Client != "192.0.2.7" || it.Meta.MessageID != "report-0@test" || len(it.Envelope.To) != 2 {
		t.Errorf("first item = %+v", it)
	}
	if depth, _, err := q.Stats(); err != nil || depth != 3 {
		t.Errorf("Stats = %d, %v; want 3", depth, err)
	}
	rec := newRecorder(nil)
	evs, on := events()
	run(t, q, rec, spool.RunOptions{OnEvent: on})
	seen := map[spool.ID]bool{}
	for range 3 {
		e := next(t, evs)
		if e.Outcome != spool.OutcomeSubmitted || e.Attempt != 1 || e.Receipt.RequestID != "req-"+string(e.ID) {
			t.Errorf("event = %+v", e)
		}
		seen[e.ID] = true
	}
	for _, id := range ids {
		if !seen[id] {
			t.Errorf("%s not delivered", id)
		}
	}
	rec.mu.Lock()
	for i, d := range rec.attempts {
		if d.Mailbox != "app@contoso.com" || len(d.Envelope.To) != 2 || !bytes.HasPrefix(rec.bodies[i], []byte("From: app@contoso.com")) || !bytes.Equal(d.Raw, rec.bodies[i]) {
			t.Errorf("delivery %d = %+v", i, d)
		}
	}
	rec.mu.Unlock()
	st, _, err := q.getState(ctx, ids[0])
	if err != nil || st.Submitted == nil || st.Submitted.Receipt.RequestID != "req-"+string(ids[0]) {
		t.Errorf("state = %+v, %v; want the submitted record", st, err)
	}
	waitFor(t, "the stream to be empty", func() bool { d, _, _ := q.Stats(); return d == 0 })
	if items, err := q.List(); err != nil || len(items) != 0 {
		t.Errorf("List after delivery = %v, %v", items, err)
	}
}

// waitFor polls cond (a state the system reaches by itself, such as an
// acknowledgement arriving) until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		<-tick.C
	}
}

type tempErr struct{}

func (tempErr) Error() string   { return "graph: 503 service unavailable" }
func (tempErr) Temporary() bool { return true }

func TestDeferredThenDelivered(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	id, err := q.Enqueue(context.Background(), spool.Envelope{To: []string{"ops@contoso.com"}}, message("retry me", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(func(d spool.Delivery) error {
		if d.Attempt == 1 {
			return tempErr{}
		}
		return nil
	})
	evs, on := events()
	run(t, q, rec, spool.RunOptions{OnEvent: on, Backoff: func(int) time.Duration { return 50 * time.Millisecond }})
	if e := next(t, evs); e.Outcome != spool.OutcomeDeferred || e.Attempt != 1 || e.ID != id {
		t.Fatalf("first event = %+v", e)
	}
	if e := next(t, evs); e.Outcome != spool.OutcomeSubmitted || e.Attempt != 2 {
		t.Fatalf("second event = %+v", e)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.attempts) != 2 || rec.attempts[0].MessageID != rec.attempts[1].MessageID {
		t.Errorf("attempts = %+v; want two with one Message-ID", rec.attempts)
	}
}

func TestPermanentFailureDeadLetterAndRetry(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	id, err := q.Enqueue(context.Background(), spool.Envelope{To: []string{"nobody@contoso.com"}}, message("doomed", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	refuse := true
	rec := newRecorder(func(spool.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		if refuse {
			return spool.Permanent(errors.New("graph: 400 ErrorInvalidRecipients"))
		}
		return nil
	})
	evs, on := events()
	run(t, q, rec, spool.RunOptions{OnEvent: on})
	if e := next(t, evs); e.Outcome != spool.OutcomeDead {
		t.Fatalf("event = %+v, want dead", e)
	}
	if n, err := q.DeadLetters(); err != nil || n != 1 {
		t.Fatalf("DeadLetters = %d, %v", n, err)
	}
	items, err := q.List()
	if err != nil || len(items) != 1 || items[0].State != spool.StateDeadletter || items[0].Meta.Dead == nil || !strings.Contains(items[0].Meta.LastError, "ErrorInvalidRecipients") {
		t.Fatalf("List = %+v, %v; want the dead letter", items, err)
	}
	it, raw, err := q.Show(id)
	if err != nil || it.State != spool.StateDeadletter || !bytes.Contains(raw, []byte("Subject: doomed")) {
		t.Fatalf("Show = %+v, %q, %v", it, raw, err)
	}
	mu.Lock()
	refuse = false
	mu.Unlock()
	if err := q.Retry(id); err != nil {
		t.Fatal(err)
	}
	if e := next(t, evs); e.Outcome != spool.OutcomeSubmitted || e.ID != id || e.Attempt != 1 {
		t.Fatalf("after Retry: event = %+v, want submitted on a fresh first attempt", e)
	}
	waitFor(t, "the dead letter to go", func() bool { n, _ := q.DeadLetters(); return n == 0 })
	if items, err := q.List(); err != nil || len(items) != 0 {
		t.Errorf("List = %+v, %v; want empty", items, err)
	}
}

func TestLargeMessageGoesThroughTheObjectStore(t *testing.T) {
	c := natstest.Start(t, natstest.Options{MaxPayload: 128 << 10})
	q := open(t, c, Options{ScratchDir: t.TempDir()})
	for _, size := range []int{100 << 10, 3 << 20, 6 << 20} {
		raw := message(fmt.Sprintf("scan %d", size), size)
		id, err := q.EnqueueFrom(context.Background(), spool.Envelope{To: []string{"ops@contoso.com"}}, bytes.NewReader(raw), spool.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		it, got, err := q.Show(id)
		if err != nil || !bytes.Equal(got, raw) || it.Size != len(raw) {
			t.Fatalf("Show(%d bytes) = %d bytes, size %d, %v", len(raw), len(got), it.Size, err)
		}
	}
	rec := newRecorder(nil)
	evs, on := events()
	run(t, q, rec, spool.RunOptions{OnEvent: on})
	for range 3 {
		if e := next(t, evs); e.Outcome != spool.OutcomeSubmitted {
			t.Fatalf("event = %+v", e)
		}
	}
	rec.mu.Lock()
	for i, d := range rec.attempts {
		if n := len(rec.bodies[i]); (d.Raw == nil) != (n > spool.InlineBytes) || d.Raw != nil && !bytes.Equal(d.Raw, rec.bodies[i]) {
			t.Errorf("delivery of %d bytes: Raw %d bytes", n, len(d.Raw))
		}
		if !bytes.Contains(rec.bodies[i], []byte("Subject: scan ")) {
			t.Errorf("body %d is not the message", i)
		}
	}
	rec.mu.Unlock()
	waitFor(t, "the bodies to be deleted", func() bool {
		objs, err := q.bodies.List(context.Background())
		return errors.Is(err, jetstream.ErrNoObjectsFound) || err == nil && len(objs) == 0
	})
}

func TestSubmittedRecordIsNotSentAgain(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	ctx := context.Background()
	id, err := q.Enqueue(ctx, spool.Envelope{To: []string{"ops@contoso.com"}}, message("crashed after 202", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// A relay died after Graph's 202 and the record, before the ack.
	if _, err := q.updateState(ctx, id, func(st *state) error {
		st.Attempts = 1
		st.Submitted = &spool.Submitted{At: time.Now(), Receipt: spool.Receipt{Path: "graph", RequestID: "r1"}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(nil)
	run(t, q, rec, spool.RunOptions{})
	waitFor(t, "the message to be acknowledged", func() bool { d, _, _ := q.Stats(); return d == 0 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.attempts) != 0 {
		t.Errorf("a submitted message was delivered again: %+v", rec.attempts)
	}
}

func TestManyRelaysDeliverEachMessageOnce(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	relays := []*Queue{open(t, c, Options{Name: "relay-a"}), open(t, c, Options{Name: "relay-b"}), open(t, c, Options{Name: "relay-c"})}
	const n = 60
	rec := newRecorder(nil)
	for _, q := range relays {
		run(t, q, rec, spool.RunOptions{Workers: 4})
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := relays[i%3].Enqueue(context.Background(), spool.Envelope{To: []string{"ops@contoso.com"}}, message(fmt.Sprintf("m%d", i), 10), spool.Meta{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got := map[string]int{}
	for range n {
		select {
		case d := <-rec.got:
			got[d.MessageID]++
		case <-time.After(2 * time.Minute):
			t.Fatalf("only %d of %d delivered", len(got), n)
		}
	}
	waitFor(t, "the stream to be empty", func() bool { d, _, _ := relays[0].Stats(); return d == 0 })
	if len(got) != n {
		t.Errorf("%d distinct messages delivered, want %d", len(got), n)
	}
	for id, k := range got {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
}

// blocker is a Deliverer that holds every attempt until released.
type blocker struct {
	started chan spool.Delivery
	release chan struct{}
}

func (b *blocker) Deliver(ctx context.Context, d spool.Delivery) (spool.Receipt, error) {
	b.started <- d
	select {
	case <-b.release:
		return spool.Receipt{Path: "graph"}, nil
	case <-ctx.Done():
		return spool.Receipt{}, ctx.Err()
	}
}

func TestDeadRelaysMessageGoesToAnother(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	const ackWait = 2 * time.Second
	a := open(t, c, Options{Name: "relay-a", AckWait: ackWait})
	b := open(t, c, Options{Name: "relay-b", AckWait: ackWait})
	id, err := a.Enqueue(context.Background(), spool.Envelope{To: []string{"ops@contoso.com"}}, message("in flight when the relay died", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	stuck := &blocker{started: make(chan spool.Delivery, 1), release: make(chan struct{})}
	run(t, a, stuck, spool.RunOptions{Workers: 1})
	if d := <-stuck.started; d.ID != id {
		t.Fatalf("relay a got %s", d.ID)
	}
	// Relay a loses the servers for good (as if SIGKILLed): no heartbeat,
	// no record, no ack.
	a.nc.Close()
	rec := newRecorder(nil)
	evs, on := events()
	run(t, b, rec, spool.RunOptions{OnEvent: on})
	if e := next(t, evs); e.Outcome != spool.OutcomeSubmitted || e.ID != id {
		t.Fatalf("relay b: event = %+v", e)
	}
	close(stuck.release)
}

func TestPurgeAndRunOnce(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	ctx := context.Background()
	keep, err := q.Enqueue(ctx, spool.Envelope{To: []string{"ops@contoso.com"}}, message("keep", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	drop, err := q.Enqueue(ctx, spool.Envelope{To: []string{"ops@contoso.com"}}, message("drop", 10), spool.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Purge(drop); err != nil {
		t.Fatal(err)
	}
	if err := q.Purge(drop); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("second Purge = %v, want ErrNotFound", err)
	}
	if _, _, err := q.Show(spool.ID("../../etc/passwd")); !errors.Is(err, spool.ErrNotFound) {
		t.Errorf("Show of a bad ID = %v", err)
	}
	rec := newRecorder(nil)
	stats, err := q.RunOnce(ctx, rec, spool.RunOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.Submitted != 1 || stats.Queued != 0 {
		t.Errorf("RunOnce stats = %+v; want 1 submitted, 0 queued", stats)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.attempts) != 1 || rec.attempts[0].ID != keep {
		t.Errorf("attempts = %+v; want only %s", rec.attempts, keep)
	}
}

func TestHealth(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	if err := q.Health(); err != nil {
		t.Fatalf("Health = %v", err)
	}
	c.Stop(0)
	waitFor(t, "Health to report the lost server", func() bool {
		var he *HealthError
		return errors.As(q.Health(), &he)
	})
	c.Restart(0)
	waitFor(t, "Health to recover", func() bool { return q.Health() == nil })
}

func TestOpenFailsClearly(t *testing.T) {
	_, err := Open(context.Background(), Options{URL: "nats://user:hunter2@127.0.0.1:1", ConnectTimeout: 2 * time.Second})
	var e *Error
	if !errors.As(err, &e) || e.Op != "open" || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Open = %v; want an open error naming the server without the password", err)
	}
}
