package main

import (
	"context"
	"fmt"
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
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	app := srv.App()
	base := fmt.Sprintf("tenant_id: %s\nclient_id: %s\nclient_secret: %q\nauthority_host: %s\ngraph_endpoint: %s\ninstance_discovery: false\nca_file: %s\nsender: %s\ntoken_cache: {path: none}\nlimits: {messages_per_minute: 0}\nspool: {dir: %s}\n",
		srv.TenantID(), app.ClientID, app.Secret, srv.AuthorityHost(), srv.GraphEndpoint(), ca, srv.Mailboxes()[0], filepath.Join(dir, "spool"))
	config := filepath.Join(dir, "graphmail.yaml")
	write := func(serve string) {
		t.Helper()
		if err := os.WriteFile(config, []byte(base+serve), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf("serve: {listen: %q, allowed_from: [printer@example.com]}\n", addr))

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
	from := srv.Mailboxes()[0]
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
	write(fmt.Sprintf("serve: {listen: %q, allowed_from: [printer@example.com], allow_nets: [nonsense]}\n", addr))
	hup("reload failed; keeping the running configuration")
	if err := plainSend(addr, from, []string{"ops@example.com"}, msg); err == nil {
		t.Fatal("a broken reload opened the allow-list")
	}
	// A good file takes effect without a restart.
	write(fmt.Sprintf("serve: {listen: %q, allowed_from: [printer@example.com, %s]}\n", addr, from))
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
