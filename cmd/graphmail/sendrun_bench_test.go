package main

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// BenchmarkSendRun is one whole "graphmail send" as a cron job runs it
// (config loading, token cache, Graph request, audit line), in process
// against the fake tenant with a warm token cache: what a run costs
// beyond starting the process. .ci/bench/per-run.sh measures whole
// processes against curl and msmtp.
func BenchmarkSendRun(b *testing.B) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(srv.Close)
	cfg := sandboxConfig(b, srv, map[string]any{"token_cache.path": filepath.Join(b.TempDir(), "tokens.bin"), "limits.messages_per_minute": 0})
	args := []string{"send", "--config", cfg, "--to", "bench@example.com", "--subject", "bench", "--body", "hello"}
	if code := run(args, nil, io.Discard, io.Discard); code != 0 {
		b.Fatalf("warm-up send exited %d", code)
	}
	b.ReportAllocs()
	for b.Loop() {
		if code := run(args, nil, io.Discard, io.Discard); code != 0 {
			b.Fatalf("send exited %d", code)
		}
	}
}
