package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// BenchmarkServe measures graphmail serve end to end against the sandbox:
// messages per second accepted (spooled and fsynced before the 250) and
// delivered through Graph, with 1 and with 8 concurrent SMTP clients.
//
//	go test -run '^$' -bench BenchmarkServe -benchtime 500x ./cmd/graphmail
func BenchmarkServe(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			dir := b.TempDir()
			ln := freeAddrB(b)
			config := sandboxConfig(b, srv, map[string]any{
				"smtp.fallback":              "never",
				"token_cache.path":           "none",
				"limits.messages_per_minute": 0,
				"serve.listen":               ln,
				"spool.dir":                  filepath.Join(dir, "spool"),
				"log.level":                  "error",
			})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan int)
			go func() { done <- runEnv(ctx, []string{"serve", "--config", config}, testEnv(io.Discard, io.Discard)) }()
			waitAddr(b, ln)
			msg := []byte("From: <" + srv.Mailboxes()[0] + ">\r\nTo: <ops@example.com>\r\nSubject: bench\r\n\r\nbody\r\n")

			measureRelay(b, srv, clients, func(int) error {
				return plainSend(ln, srv.Mailboxes()[0], []string{"ops@example.com"}, msg)
			})
			cancel()
			<-done
		})
	}
}

// measureRelay submits b.N messages with send from clients concurrent
// SMTP clients, waits until srv has received them all, and reports
// messages per second accepted (the last 250) and delivered.
func measureRelay(b *testing.B, srv *graphmailtest.Server, clients int, send func(i int) error) {
	b.Helper()
	b.ResetTimer()
	start := time.Now()
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := range jobs {
				if err := send(i); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for i := range b.N {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	accepted := time.Since(start)
	// Delivery has no other signal than the sandbox's record of it; the
	// deadline only bounds a hang.
	for len(srv.Messages()) < b.N && time.Since(start) < 10*time.Minute {
		time.Sleep(5 * time.Millisecond)
	}
	delivered := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/accepted.Seconds(), "accepted/s")
	b.ReportMetric(float64(len(srv.Messages()))/delivered.Seconds(), "delivered/s")
}

func freeAddrB(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitAddr(b *testing.B, addr string) {
	b.Helper()
	poll(b, func() string { return "daemon did not listen on " + addr }, func(deadline time.Time) bool {
		c, err := (&net.Dialer{Deadline: deadline}).Dial("tcp", addr)
		if err != nil {
			return false
		}
		c.Close()
		return true
	})
}
