package natsspool

import (
	"context"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

func TestEnqueueWhileDownThenReconnect(t *testing.T) {
	c := natstest.Start(t, natstest.Options{})
	q := open(t, c, Options{})
	run(t, q, newRecorder(nil), spool.RunOptions{})
	c.Stop(0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := q.Enqueue(ctx, spool.Envelope{To: []string{"a@b.c"}}, message("down", 10), spool.Meta{}); err == nil {
		t.Fatal("Enqueue with the server down succeeded")
	} else {
		t.Logf("Enqueue: %v", err)
	}
	c.Restart(0)
	start := time.Now()
	waitFor(t, "Health to recover", func() bool { err := q.Health(); return err == nil })
	t.Logf("reconnected after %s", time.Since(start))
}
