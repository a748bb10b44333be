package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// buildBinary builds cmd/graphmail once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "graphmail-bin-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "graphmail")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// cacheFixture is a fake tenant, a config pointing at it and a token cache
// path, for runs of the real binary as separate processes.
type cacheFixture struct {
	srv    *graphmailtest.Server
	bin    string
	config string
	env    []string
}

func newCacheFixture(t *testing.T) *cacheFixture {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary and runs it many times")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	app := srv.App()
	cfg := fmt.Sprintf("tenant_id: %s\nclient_id: %s\nclient_secret: %q\nauthority_host: %s\ngraph_endpoint: %s\ninstance_discovery: false\nca_file: %s\nsender: %s\nsmtp: {host: %s, port: %d}\ntoken_cache: {path: %s}\n",
		srv.TenantID(), app.ClientID, app.Secret, srv.AuthorityHost(), srv.GraphEndpoint(), ca, srv.Mailboxes()[0], srv.SMTPHost(), srv.SMTPPort(), filepath.Join(dir, "cache", "tokens.bin"))
	config := filepath.Join(dir, "graphmail.yaml")
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return &cacheFixture{srv: srv, bin: bin, config: config, env: []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}}
}

func (f *cacheFixture) send(via string) (string, error) {
	cmd := exec.Command(f.bin, "send", "--config", f.config, "--via", via, "--to", "you@example.com", "--subject", "cron run", "--body", "report")
	cmd.Env = f.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestTokenCacheSequentialRuns: 100 separate processes, as from cron, cost
// one token request per scope.
func TestTokenCacheSequentialRuns(t *testing.T) {
	f := newCacheFixture(t)
	for i := range 100 {
		via := "graph"
		if i%2 == 1 {
			via = "smtp"
		}
		out, err := f.send(via)
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
		if strings.Contains(out, "level=WARN") {
			t.Fatalf("run %d warned:\n%s", i, out)
		}
	}
	if g, o := f.srv.TokenRequests(graphmailtest.ResourceGraph), f.srv.TokenRequests(graphmailtest.ResourceOutlook); g != 1 || o != 1 {
		t.Errorf("100 runs made %d Graph and %d Outlook token requests, want 1 and 1", g, o)
	}
	if n := len(f.srv.Messages()); n != 100 {
		t.Errorf("delivered %d, want 100", n)
	}
}

// TestTokenCacheConcurrentRuns: a cron storm of 20 processes at once with a
// cold cache costs a few token requests at most and leaves a sound cache.
func TestTokenCacheConcurrentRuns(t *testing.T) {
	f := newCacheFixture(t)
	var wg sync.WaitGroup
	errs := make(chan string, 20)
	for range 20 {
		wg.Go(func() {
			if out, err := f.send("graph"); err != nil || strings.Contains(out, "level=WARN") {
				errs <- fmt.Sprintf("%v\n%s", err, out)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	storm := f.srv.TokenRequests(graphmailtest.ResourceGraph)
	t.Logf("20 simultaneous cold-cache runs made %d token requests", storm)
	if storm > 20 {
		t.Errorf("token requests = %d", storm)
	}
	// The file is sound: the next run is served from it without a warning.
	out, err := f.send("graph")
	if err != nil || strings.Contains(out, "level=WARN") {
		t.Fatalf("run after the storm: %v\n%s", err, out)
	}
	if after := f.srv.TokenRequests(graphmailtest.ResourceGraph); after != storm {
		t.Errorf("the run after the storm made a token request (%d → %d): the cache was not usable", storm, after)
	}
}
