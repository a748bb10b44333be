package main

import (
	"context"
	"fmt"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/natsspool"
	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
)

// relayProc is one graphmail serve process of a cluster test.
type relayProc struct {
	t      testing.TB
	bin    string
	config string
	addr   string
	log    string
	mu     sync.Mutex
	cmd    *exec.Cmd
}

func (r *relayProc) start() {
	r.t.Helper()
	logf, err := os.OpenFile(r.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		r.t.Fatal(err)
	}
	cmd := exec.Command(r.bin, "serve", "--config", r.config)
	cmd.SysProcAttr = dieWithTest()
	cmd.Env = []string{"HOME=" + filepath.Dir(r.config), "PATH=" + os.Getenv("PATH")}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	logf.Close()
	r.mu.Lock()
	r.cmd = cmd
	r.mu.Unlock()
	waitListening(r.t, r.addr)
}

// kill SIGKILLs the relay: no shutdown, no grace, no ack.
func (r *relayProc) kill() {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func (r *relayProc) stop() {
	r.mu.Lock()
	cmd := r.cmd
	r.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
}

// startRelays starts n graphmail serve processes on one NATS stream,
// sending through srv, each with its own listener and scratch directory.
func startRelays(t testing.TB, srv *graphmailtest.Server, natsURL string, n int, extra map[string]any) []*relayProc {
	t.Helper()
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	var relays []*relayProc
	for i := range n {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("relay%d", i+1))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		r := &relayProc{t: t, bin: bin, config: filepath.Join(dir, "graphmail.yaml"), addr: freeAddr(t), log: filepath.Join(dir, "serve.log")}
		values := map[string]any{
			"token_cache.path": "none",
			"serve.listen":     r.addr,
			"spool.dir":        filepath.Join(dir, "spool"),
			"spool.backend":    "nats",
			"nats.url":         natsURL,
			"log.level":        "info",
		}
		for k, v := range extra {
			values[k] = v
		}
		if err := writeSandboxFiles(srv, r.config, values); err != nil {
			t.Fatal(err)
		}
		r.start()
		relays = append(relays, r)
		t.Cleanup(func() {
			r.stop()
			if t.Failed() {
				if b, err := os.ReadFile(r.log); err == nil {
					t.Logf("relay %d log (tail):\n%s", i+1, tail(string(b), 3000))
					if dump := os.Getenv("GRAPHMAIL_CLUSTER_LOGS"); dump != "" {
						os.WriteFile(filepath.Join(dump, fmt.Sprintf("relay%d.log", i+1)), b, 0o600)
					}
				}
			}
		})
	}
	return relays
}

// submit sends one message over SMTP and reports whether the relay
// answered 250 to its data (accepted), whatever happens after.
func submit(addr, from, to string, data []byte) (accepted bool, err error) {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return false, err
	}
	// A client gives up on a session that hangs, as an MTA does.
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return false, err
	}
	defer c.Close()
	if err := c.Hello("app.test"); err != nil {
		return false, err
	}
	if err := c.Mail(from); err != nil {
		return false, err
	}
	if err := c.Rcpt(to); err != nil {
		return false, err
	}
	w, err := c.Data()
	if err != nil {
		return false, err
	}
	if _, err := w.Write(data); err != nil {
		return false, err
	}
	if err := w.Close(); err != nil {
		return false, err
	}
	_ = c.Quit()
	return true, nil
}

// TestClusterChaos runs 3 graphmail serve processes on one stream of a
// 3-node NATS JetStream cluster (real servers, embedded) and submits 1,000
// messages round-robin over SMTP while one relay is SIGKILLed and started
// again and one NATS node is stopped and started again. Every message a
// relay accepted (250) is delivered; a message whose 250 was lost is sent
// again by the client to the next relay, so a handful may arrive twice,
// each with its one Message-ID. The fake Graph counts, per mailbox, the
// requests in flight and the messages in any sliding minute: with
// limits.messages_per_minute 600 across 3 relays, never more than 4 at
// once and never more than 600 in a minute.
func TestClusterChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node NATS cluster and 3 relays for about two minutes")
	}
	const (
		n      = 1000
		budget = 600
	)
	// The NATS servers are processes of their own, like the relays: not
	// slowed by this test binary's race detector.
	nc := natstest.StartCluster(t, 3, natstest.Options{Binary: natstest.BuildServer(t)})
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	relays := startRelays(t, srv, nc.URL(), 3, map[string]any{
		"nats.replicas":              3,
		"limits.messages_per_minute": budget,
		"smtp.fallback":              "never",
	})
	from := srv.Mailboxes()[0]

	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // Message-ID → accepted
		resent   atomic.Int64
		next     atomic.Int64
		turn     atomic.Int64
	)
	// The chaos runs on the test's goroutine when the submissions reach
	// these points.
	chaos := []struct {
		at int64
		do func()
	}{
		{250, func() { relays[1].kill(); relays[1].start() }},
		{500, func() { nc.Stop(2) }},
		{750, func() { nc.Restart(2) }},
	}
	reached := map[int64]chan struct{}{}
	for _, c := range chaos {
		reached[c.at] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > n {
					return
				}
				if ch, ok := reached[i]; ok {
					close(ch)
				}
				id := fmt.Sprintf("cluster-%04d@app.test", i)
				msg := []byte(fmt.Sprintf("From: <%s>\r\nTo: <ops@example.com>\r\nSubject: message %d\r\nMessage-ID: <%s>\r\n\r\nbody %d\r\n", from, i, id, i))
				// A client that gets no 250 tries the next relay, as an
				// MTA's queue would; the deadline only bounds a hang.
				deadline := time.Now().Add(4 * time.Minute)
				for tries := 0; ; tries++ {
					r := relays[turn.Add(1)%int64(len(relays))]
					ok, err := submit(r.addr, from, "ops@example.com", msg)
					if ok {
						mu.Lock()
						accepted[id] = true
						mu.Unlock()
						break
					}
					if tries > 0 {
						resent.Add(1)
					}
					if time.Now().After(deadline) {
						t.Errorf("%s: no relay accepted it within 4 minutes: %v", id, err)
						return
					}
				}
			}
		})
	}
	for _, c := range chaos {
		<-reached[c.at]
		c.do()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if len(accepted) != n {
		t.Fatalf("%d of %d messages accepted", len(accepted), n)
	}

	// Delivery has no other signal than the fake tenant's record of it;
	// the deadline only bounds a hang (1,000 messages at 600 a minute
	// take at least 100 s).
	deadline := time.Now().Add(5 * time.Minute)
	var delivered map[string]int
	for {
		delivered = map[string]int{}
		for _, m := range srv.Messages() {
			delivered[strings.Trim(m.MessageID, "<>")]++
		}
		missing := 0
		for id := range accepted {
			if delivered[id] == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			var ids []string
			for id := range accepted {
				if delivered[id] == 0 {
					ids = append(ids, id)
				}
			}
			t.Errorf("%d accepted messages were never delivered (%d deliveries): %v", missing, len(srv.Messages()), ids)
			if q, err := natsspool.Open(context.Background(), natsspool.Options{URL: nc.URL()}); err == nil {
				items, err := q.List()
				for _, it := range items {
					t.Logf("in the stream: %s %s %s attempts=%d next=%s last_error=%q", it.ID, it.State, it.MessageID(), it.Meta.Attempts, it.Meta.NextAttempt, it.Meta.LastError)
				}
				t.Logf("%d in the stream (%v)", len(items), err)
				q.Close()
				debugCluster(t, nc.URL(), items)
			}
			for _, r := range relays {
				r.mu.Lock()
				r.cmd.Process.Signal(syscall.SIGQUIT)
				r.cmd.Wait()
				r.mu.Unlock()
			}
			t.FailNow()
		}
		time.Sleep(200 * time.Millisecond)
	}
	dups := 0
	for id, k := range delivered {
		if !accepted[id] {
			t.Errorf("delivered %s, which no relay accepted", id)
		}
		dups += k - 1
	}
	maxFlight, perMinute := srv.MaxInFlight(from), srv.MaxPerWindow(from, time.Minute)
	t.Logf("%d accepted (%d client retries), %d deliveries, %d duplicate(s), 0 lost; at most %d in flight, %d in a sliding minute; %d throttled",
		len(accepted), resent.Load(), len(srv.Messages()), dups, maxFlight, perMinute, srv.Throttled())
	if dups > 12 {
		t.Errorf("%d duplicates; at most the deliveries in flight at the kill (12) may repeat", dups)
	}
	if maxFlight > 4 || srv.Throttled() > 0 {
		t.Errorf("%d requests in flight at once for %s (%d throttled), want at most 4", maxFlight, from, srv.Throttled())
	}
	if perMinute > budget {
		t.Errorf("%d messages in one sliding minute for %s, want at most %d", perMinute, from, budget)
	}
}
