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
	config := filepath.Join(dir, "graphmail.yaml")
	// No rate limit: a hundred runs within a minute would otherwise wait
	// for the mailbox's budget, which the processes share.
	if err := writeSandboxFiles(srv, config, map[string]any{"token_cache.path": filepath.Join(dir, "cache", "tokens.bin"), "limits.messages_per_minute": 0}); err != nil {
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

// TestTokenCacheConcurrentRuns: a cron storm of 20 processes at once never
// corrupts the cache, and costs exactly one token request with a cold
// cache (the processes ask one at a time, and the later ones find the
// first one's token in the file); once the cache is filled, a storm makes
// no token request at all.
func TestTokenCacheConcurrentRuns(t *testing.T) {
	f := newCacheFixture(t)
	storm := func() {
		t.Helper()
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
	}
	storm()
	cold := f.srv.TokenRequests(graphmailtest.ResourceGraph)
	if cold != 1 {
		t.Errorf("20 simultaneous cold-cache runs made %d token request(s), want exactly 1", cold)
	}
	storm()
	if warm := f.srv.TokenRequests(graphmailtest.ResourceGraph); warm != cold {
		t.Errorf("20 simultaneous runs on a filled cache made %d token request(s), want 0: the cache was not usable", warm-cold)
	}
	if n := len(f.srv.Messages()); n != 40 {
		t.Errorf("delivered %d, want 40", n)
	}
}

// TestTokenCachePerIdentity: two configurations for different app
// registrations on one host, both with the default token cache, alternate
// runs: each identity keeps its own file, so six sends cost two token
// requests, and no run warns.
func TestTokenCachePerIdentity(t *testing.T) {
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
	second := srv.App()
	second.ClientID = "00000000-0000-4000-8000-0000000000b2"
	if second.Secret, err = graphmailtest.NewSecret(); err != nil {
		t.Fatal(err)
	}
	srv.AddApp(second)
	dir := t.TempDir()
	configs := []string{filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")}
	if err := writeSandboxFiles(srv, configs[0], nil); err != nil {
		t.Fatal(err)
	}
	if err := writeSandboxFiles(srv, configs[1], map[string]any{"client_id": second.ClientID, "client_secret": second.Secret}); err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + dir, "XDG_CACHE_HOME=" + filepath.Join(dir, "cache"), "PATH=" + os.Getenv("PATH")}
	for i := range 6 {
		cmd := exec.Command(bin, "send", "--config", configs[i%2], "--to", "you@example.com", "--subject", "cron run", "--body", "report")
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "level=WARN") {
			t.Fatalf("run %d: %v\n%s", i, err, out)
		}
	}
	if n := srv.TokenRequests(graphmailtest.ResourceGraph); n != 2 {
		t.Errorf("six alternating sends made %d token request(s), want 2 (one per identity)", n)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "cache", "graphmail", "tokens-*.bin"))
	if len(files) != 2 {
		t.Errorf("cache files %v, want one per identity", files)
	}
}
