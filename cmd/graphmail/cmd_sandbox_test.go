package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and one reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testEnv(stdout, stderr io.Writer) *environment {
	return &environment{
		stdin:     strings.NewReader(""),
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: func(string) (string, bool) { return "", false },
		environ:   func() []string { return nil },
	}
}

// TestSandboxCommand runs "graphmail sandbox", saves the configuration it
// prints, and sends with it through Graph and through SMTP.
func TestSandboxCommand(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int)
	go func() {
		done <- runEnv(ctx, []string{"sandbox", "--dir", filepath.Join(dir, "mail")}, testEnv(pw, &stderr))
		pw.Close()
	}()

	var cfg strings.Builder
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := sc.Text()
		cfg.WriteString(line + "\n")
		if strings.HasPrefix(line, "  path: ") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	config := filepath.Join(dir, "sandbox.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range []string{"tenant_id: ", "client_id: ", "client_secret: ", "authority_host: ", "graph_endpoint: ", "ca_file: ", "sender: ", "smtp:"} {
		if !strings.Contains(cfg.String(), "\n"+kv) {
			t.Fatalf("printed config lacks %q:\n%s", kv, cfg.String())
		}
	}

	for _, via := range []string{"graph", "smtp"} {
		var out, errOut bytes.Buffer
		code := runEnv(context.Background(), []string{"send", "--config", config, "--via", via, "--to", "you@example.com", "--subject", "via " + via, "--body", "hello"}, testEnv(&out, &errOut))
		if code != 0 {
			t.Fatalf("send --via %s: exit %d\n%s%s", via, code, out.String(), errOut.String())
		}
	}
	emls, _ := filepath.Glob(filepath.Join(dir, "mail", "*.eml"))
	jsons, _ := filepath.Glob(filepath.Join(dir, "mail", "*.json"))
	if len(emls) != 2 || len(jsons) != 1 {
		t.Errorf("sandbox dir has %d .eml and %d .json files, want 2 and 1", len(emls), len(jsons))
	}

	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("sandbox exited %d: %s", code, stderr.String())
		}
	case <-time.After(hangBound):
		t.Fatal("sandbox did not stop when its context ended")
	}
}
