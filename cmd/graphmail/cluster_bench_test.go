package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
)

// BenchmarkServeBackends compares graphmail serve on the directory spool
// with 1 relay, and on a NATS JetStream stream with 1 and 3 relays (each a
// process of its own) on one NATS server and on a 3-node cluster
// (nats.replicas 3), against the sandbox answering every Graph request
// after 50 ms. Eight SMTP clients submit round-robin to the relays,
// messages from 8 mailboxes (serve.mailbox: from), so that the per-mailbox
// limit of 4 requests in flight is not what is measured; it reports
// messages per second accepted (stored before the 250: fsynced, or in the
// stream) and delivered, in the same run.
//
//	go test -run '^$' -bench BenchmarkServeBackends -benchtime 400x ./cmd/graphmail
func BenchmarkServeBackends(b *testing.B) {
	for _, tt := range []struct {
		name   string
		nats   int // NATS servers (replicas); 0: the directory spool
		relays int
	}{
		{"dir/relays=1", 0, 1},
		{"nats-R1/relays=1", 1, 1},
		{"nats-R1/relays=3", 1, 3},
		{"nats-R3/relays=3", 3, 3},
	} {
		b.Run(tt.name, func(b *testing.B) {
			srv, err := graphmailtest.NewServer(graphmailtest.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Close()
			srv.SetLatency(50 * time.Millisecond)
			_, domain, _ := strings.Cut(srv.Mailboxes()[0], "@")
			var froms []string
			for i := range 8 {
				f := fmt.Sprintf("scanner%d@%s", i+1, domain)
				srv.AddMailbox(f)
				froms = append(froms, f)
			}
			extra := map[string]any{
				"smtp.fallback":              "never",
				"limits.messages_per_minute": 0,
				"serve.mailbox":              "from",
			}
			var relays []*relayProc
			if tt.nats > 0 {
				nc := natstest.StartCluster(b, tt.nats, natstest.Options{Binary: natstest.BuildServer(b)})
				extra["nats.replicas"] = tt.nats
				relays = startRelays(b, srv, nc.URL(), tt.relays, extra)
			} else {
				extra["spool.backend"] = "dir"
				relays = startRelays(b, srv, "", tt.relays, extra)
			}
			measureRelay(b, srv, 8, func(i int) error {
				from := froms[i%len(froms)]
				msg := []byte(fmt.Sprintf("From: <%s>\r\nTo: <ops@example.com>\r\nSubject: bench %d\r\n\r\nbody\r\n", from, i))
				if ok, err := submit(relays[i%len(relays)].addr, from, "ops@example.com", msg); !ok {
					return err
				}
				return nil
			})
		})
	}
}
