package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// TestServeReloadsOnSIGHUP: SIGHUP applies a changed sender allow-list
// without a restart, and a broken configuration is refused while the
// running one stays in force.
func TestServeReloadsOnSIGHUP(t *testing.T) {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	addr := freeAddr(t)
	from := srv.Mailboxes()[0]
	config := filepath.Join(dir, "graphmail.yaml")
	write := func(serve map[string]any) {
		t.Helper()
		extra := map[string]any{
			"token_cache.path":           "none",
			"limits.messages_per_minute": 0,
			"spool.dir":                  filepath.Join(dir, "spool"),
			"serve.listen":               addr,
		}
		for k, v := range serve {
			extra[k] = v
		}
		if err := writeSandboxFiles(srv, config, extra); err != nil {
			t.Fatal(err)
		}
	}
	write(map[string]any{"serve.allowed_from": []string{"printer@example.com"}})

	var stderr syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() { done <- runEnv(ctx, []string{"serve", "--config", config}, testEnv(&stderr, &stderr)) }()
	defer func() {
		cancel()
		<-done
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(stderr.String(), "serving SMTP") {
		if time.Now().After(deadline) {
			t.Fatalf("serve did not start:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	msg := []byte("From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: reload\r\n\r\nbody\r\n")
	if err := plainSend(addr, from, []string{"ops@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("sender outside serve.allowed_from: err = %v, want 550", err)
	}

	hup := func(want string) {
		t.Helper()
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q after SIGHUP:\n%s", want, stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// A broken file is refused; the running allow-list stays.
	write(map[string]any{"serve.allowed_from": []string{"printer@example.com"}, "serve.allow_nets": []string{"nonsense"}})
	hup("reload failed; keeping the running configuration")
	if err := plainSend(addr, from, []string{"ops@example.com"}, msg); err == nil {
		t.Fatal("a broken reload opened the allow-list")
	}
	// A good file takes effect without a restart.
	write(map[string]any{"serve.allowed_from": []string{"printer@example.com", from}})
	hup("configuration reloaded")
	if err := plainSend(addr, from, []string{"ops@example.com"}, msg); err != nil {
		t.Fatalf("after reload: %v", err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(srv.Messages()) < 1 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("delivered %d, want 1", n)
	}
}
