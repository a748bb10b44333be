package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
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
	run := func(want int, args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := runEnv(context.Background(), append(args, "--config", config), testEnv(&out, &errOut)); code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, out.String(), errOut.String())
		}
		return out.String() + errOut.String()
	}
	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"queue", "list"}, 0, []string{string(id), "queued", "1 message(s)"}},
		{[]string{"queue", "show", string(id)}, 0, []string{"message-id:  <q-1@example.com>", "recipients:  2", "Subject: queued"}},
		{[]string{"queue", "retry", string(id)}, 0, []string{"due now"}},
		{[]string{"queue", "show", "no-such-id"}, exitDataErr, []string{"graphmail queue list"}},
		{[]string{"queue", "purge", string(id)}, 0, []string{"purged"}},
		{[]string{"queue", "list"}, 0, []string{"0 message(s)"}},
		{[]string{"queue", "show"}, exitUsage, []string{"exactly one message ID"}},
	}
	for _, tt := range tests {
		out := run(tt.code, tt.args...)
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
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
