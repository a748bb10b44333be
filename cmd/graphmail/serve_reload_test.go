//go:build unix

package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
	poll(t, func() string { return "serve did not start:\n" + stderr.String() },
		func(time.Time) bool { return strings.Contains(stderr.String(), "serving SMTP") })
	msg := []byte("From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: reload\r\n\r\nbody\r\n")
	if err := plainSend(addr, from, []string{"ops@example.com"}, msg); err == nil || !strings.Contains(err.Error(), "550") {
		t.Fatalf("sender outside serve.allowed_from: err = %v, want 550", err)
	}

	// SIGHUP goes to this whole test process, and serve prints "serving
	// SMTP" a moment before it starts listening for SIGHUP. Catch SIGHUP
	// here as well, so that one arriving before serve listens is not the
	// default (fatal) action, and send it again until serve reacts:
	// reloading the same file twice changes nothing.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, syscall.SIGHUP)
	defer signal.Stop(caught)
	hup := func(want string) {
		t.Helper()
		before := strings.Count(stderr.String(), want)
		poll(t, func() string { return fmt.Sprintf("no %q after SIGHUP:\n%s", want, stderr.String()) }, func(time.Time) bool {
			if strings.Count(stderr.String(), want) > before {
				return true
			}
			if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
			<-caught
			return false
		})
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
	poll(t, func() string { return "the message was not delivered" }, func(time.Time) bool { return len(srv.Messages()) >= 1 })
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("delivered %d, want 1", n)
	}
}
