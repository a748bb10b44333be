package main

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/graphmail/graphmail/graphmail/spool"
)

// debugCluster logs what the stream's consumer and state bucket say of
// the messages left, when the cluster test fails.
func debugCluster(t *testing.T, url string, items []spool.Item) {
	nc, err := nats.Connect(url)
	if err != nil {
		t.Log(err)
		return
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if c, err := js.Consumer(ctx, "GRAPHMAIL", "deliver"); err == nil {
		if ci, err := c.Info(ctx); err == nil {
			t.Logf("consumer: pending=%d ack_pending=%d redelivered=%d waiting=%d delivered=%+v ack_floor=%+v cluster=%+v", ci.NumPending, ci.NumAckPending, ci.NumRedelivered, ci.NumWaiting, ci.Delivered, ci.AckFloor, ci.Cluster)
		}
	}
	if kv, err := js.KeyValue(ctx, "GRAPHMAIL_STATE"); err == nil {
		for _, it := range items {
			if e, err := kv.Get(ctx, string(it.ID)); err == nil {
				t.Logf("state %s (rev %d, %s): %s", it.ID, e.Revision(), e.Created(), e.Value())
			} else {
				t.Logf("state %s: %v", it.ID, err)
			}
		}
	}
}
