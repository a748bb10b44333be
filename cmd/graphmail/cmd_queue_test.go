package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/natsspool"
	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// TestQueueCommands: list, show, retry and purge on a spool that holds one
// message, as an operator uses them.
func TestQueueCommands(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := filepath.Join(t.TempDir(), "spool")
	config := sandboxConfig(t, srv, map[string]any{"spool.dir": dir})
	sp, err := spool.Open(dir, spool.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, err := sp.Enqueue(context.Background(), spool.Envelope{From: "a@example.com", To: []string{"b@example.com", "hidden@example.com"}},
		[]byte("Subject: queued\r\nMessage-ID: <q-1@example.com>\r\n\r\nbody\r\n"), spool.Meta{Client: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	runQueueSteps(t, config, []queueStep{
		{[]string{"queue", "list"}, 0, []string{string(id), "queued", "1 message(s)"}},
		{[]string{"queue", "show", string(id)}, 0, []string{"message-id:  <q-1@example.com>", "recipients:  2", "Subject: queued"}},
		{[]string{"queue", "retry", string(id)}, 0, []string{"due now"}},
		{[]string{"queue", "show", "no-such-id"}, exitDataErr, []string{"graphmail queue list"}},
		{[]string{"queue", "purge", string(id)}, 0, []string{"purged"}},
		{[]string{"queue", "list"}, 0, []string{"0 message(s)"}},
		{[]string{"queue", "show"}, exitUsage, []string{"exactly one message ID"}},
	})
}

// TestQuoteControls: queue show never writes a header's escape sequences
// to the terminal.
func TestQuoteControls(t *testing.T) {
	in := []byte("Subject: \x1b[2Jcleared\x07\r\nX-Tab:\tok\r\n\x7f")
	want := "Subject: \\x1b[2Jcleared\\x07\r\nX-Tab:\tok\r\n\\x7f"
	if got := quoteControls(in); got != want {
		t.Errorf("quoteControls = %q, want %q", got, want)
	}
}

// TestQueueCommandsOnNATS: the queue commands and sendmail -bp work the
// same on the NATS backend, against a real NATS server: list, show, retry
// (from the dead letters too), purge, and run, which delivers.
func TestQueueCommandsOnNATS(t *testing.T) {
	nc := natstest.Start(t, natstest.Options{})
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	config := sandboxConfig(t, srv, map[string]any{
		"spool.dir": filepath.Join(t.TempDir(), "spool"), "spool.backend": "nats", "nats.url": nc.URL(),
		"smtp.fallback": "never", "limits.messages_per_minute": 0,
	})
	q, err := natsspool.Open(context.Background(), natsspool.Options{URL: nc.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	from := srv.Mailboxes()[0]
	var ids []string
	for _, subject := range []string{"first", "second"} {
		id, err := q.Enqueue(context.Background(), spool.Envelope{From: from, To: []string{"ops@example.com", "hidden@example.com"}},
			[]byte("From: <"+from+">\r\nTo: <ops@example.com>\r\nSubject: "+subject+"\r\nMessage-ID: <"+subject+"@example.com>\r\n\r\nbody\r\n"), spool.Meta{Client: "192.0.2.7"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, string(id))
	}
	runQueueSteps(t, config, []queueStep{
		{[]string{"queue", "list"}, 0, []string{ids[0], ids[1], "queued", "2 message(s)", "nats stream GRAPHMAIL"}},
		{[]string{"queue", "list", "--json"}, 0, []string{`"id": "` + ids[0]}},
		{[]string{"queue", "show", ids[0]}, 0, []string{"message-id:  <first@example.com>", "recipients:  2", "Subject: first"}},
		{[]string{"queue", "retry", ids[0]}, 0, []string{"due now"}},
		{[]string{"queue", "show", "no-such-id"}, exitDataErr, []string{"graphmail queue list"}},
		{[]string{"queue", "purge", ids[1]}, 0, []string{"purged"}},
		{[]string{"sendmail", "-bp"}, 0, []string{ids[0], "1 message(s)"}},
		{[]string{"queue", "run"}, 0, nil},
		{[]string{"queue", "list"}, 0, []string{"0 message(s)"}},
	})
	got := srv.Messages()
	if len(got) != 1 || got[0].MessageID != "<first@example.com>" || !strings.Contains(strings.Join(got[0].Recipients, ","), "hidden@example.com") {
		t.Errorf("delivered %+v; want the first message only, to both envelope recipients", got)
	}
}

// queueStep is one command of a queue test: its exit code and what its
// output must contain.
type queueStep struct {
	args []string
	code int
	want []string
}

// runQueueSteps runs each step with --config config, in order.
func runQueueSteps(t *testing.T, config string, steps []queueStep) {
	t.Helper()
	for _, st := range steps {
		var out, errOut bytes.Buffer
		if code := runEnv(context.Background(), append(st.args, "--config", config), testEnv(&out, &errOut)); code != st.code {
			t.Fatalf("%v: exit %d, want %d\n%s%s", st.args, code, st.code, out.String(), errOut.String())
		}
		for _, w := range st.want {
			if got := out.String() + errOut.String(); !strings.Contains(got, w) {
				t.Errorf("%v: output lacks %q:\n%s", st.args, w, got)
			}
		}
	}
}
