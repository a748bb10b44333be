package main

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// flakyProxy forwards to the sandbox's Graph and answers a share of the
// requests with 503 instead.
type flakyProxy struct {
	proxy  *httputil.ReverseProxy
	mu     sync.Mutex
	rnd    *rand.Rand
	share  float64
	failed atomic.Int64
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	fail := p.rnd.Float64() < p.share
	p.mu.Unlock()
	if fail {
		p.failed.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprint(w, `{"error":{"code":"ServiceUnavailable","message":"injected by the crash test"}}`)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// TestDaemonCrashLosesNothing submits messages to graphmail serve while
// killing it with SIGKILL at random moments and restarting it, with 20% of
// Graph calls failing. Every message the relay acknowledged with 250 must
// be delivered; duplicates (the documented at-least-once window) are
// counted and reported. GRAPHMAIL_CRASH_N sets the number of messages
// (default 150; the README's figure is for 2000).
func TestDaemonCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("long: kills and restarts the daemon many times")
	}
	n := 150
	if v, err := strconv.Atoi(os.Getenv("GRAPHMAIL_CRASH_N")); err == nil && v > 0 {
		n = v
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	target, _ := url.Parse(srv.GraphEndpoint())
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = srv.HTTPClient().Transport
	fp := &flakyProxy{proxy: rp, rnd: rand.New(rand.NewPCG(1, 2)), share: 0.2}
	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(pln, fp)
	defer pln.Close()

	dir := t.TempDir()
	smtpAddr := freeAddr(t)
	config := filepath.Join(dir, "graphmail.yaml")
	if err := writeSandboxFiles(srv, config, map[string]any{
		"graph_endpoint":             "http://" + pln.Addr().String(), // through the flaky proxy
		"smtp.fallback":              "never",
		"retry.max_attempts":         1,
		"token_cache.path":           filepath.Join(dir, "cache", "tokens.bin"),
		"serve.listen":               smtpAddr,
		"spool.dir":                  filepath.Join(dir, "spool"),
		"spool.retry_interval":       "200ms",
		"spool.workers":              4,
		"spool.keep_done":            true,
		"limits.messages_per_minute": 0,
		"log.level":                  "warn",
	}); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "serve", "--config", config)
		cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}

	// Progress is what the daemon did: messages it acknowledged and
	// messages it delivered.
	var acks atomic.Int64
	acked := make(chan struct{}, 1)
	progress := func() int64 { return acks.Load() + int64(len(srv.Messages())) }

	// The killer: restart the daemon at random moments until told to stop.
	// A moment is a random number of steps of progress, then a random
	// instant: on a loaded machine a daemon may get nothing done in any
	// given time, and the test must still move on.
	stopKilling := make(chan struct{})
	killerDone := make(chan *exec.Cmd)
	var kills atomic.Int64
	go func() {
		rnd := rand.New(rand.NewPCG(3, 4))
		tick := time.NewTicker(10 * time.Millisecond) // deliveries have no signal; look at them often
		defer tick.Stop()
		cmd := start()
		for {
			for target := progress() + 1 + int64(rnd.IntN(8)); progress() < target; {
				select {
				case <-stopKilling:
					killerDone <- cmd
					return
				case <-acked:
				case <-tick.C:
				}
			}
			select {
			case <-stopKilling:
				killerDone <- cmd
				return
			case <-time.After(time.Duration(rnd.IntN(50_000)) * time.Microsecond):
			}
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			kills.Add(1)
			cmd = start()
		}
	}()

	// The submitters: four legacy apps that retry until they get a 250.
	// The deadline only bounds a hang.
	ids := make(chan int)
	var accepted sync.Map
	var wg sync.WaitGroup
	submitDeadline := time.Now().Add(5 * time.Minute)
	for range 4 {
		wg.Go(func() {
			for i := range ids {
				msg := fmt.Appendf(nil, "From: <%s>\r\nTo: <ops@example.com>\r\nSubject: crash test %d\r\nMessage-ID: <crash-%d@graphmail.test>\r\n\r\nmessage %d\r\n", srv.Mailboxes()[0], i, i, i)
				for {
					if err := plainSend(smtpAddr, srv.Mailboxes()[0], []string{"ops@example.com"}, msg); err == nil {
						accepted.Store(i, true)
						acks.Add(1)
						select {
						case acked <- struct{}{}:
						default:
						}
						break
					}
					if time.Now().After(submitDeadline) {
						t.Errorf("message %d: never accepted", i)
						break
					}
					time.Sleep(50 * time.Millisecond) // a legacy app's retry interval
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()

	// Keep killing while the spool drains, until every accepted message
	// was delivered at least once (or time runs out); a last daemon then
	// finishes whatever is left.
	var acceptedN int
	accepted.Range(func(_, _ any) bool { acceptedN++; return true })
	deliveredAll := func() (map[string]int, int) {
		delivered := map[string]int{}
		for _, d := range srv.Messages() {
			delivered[d.MessageID]++
		}
		lost := 0
		accepted.Range(func(k, _ any) bool {
			if delivered[fmt.Sprintf("<crash-%d@graphmail.test>", k.(int))] == 0 {
				lost++
			}
			return true
		})
		return delivered, lost
	}
	for until := time.Now().Add(time.Minute); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		if _, lost := deliveredAll(); lost == 0 {
			break
		}
	}
	close(stopKilling)
	final := <-killerDone

	deadline := time.Now().Add(5 * time.Minute) // only bounds a hang
	var delivered map[string]int
	for {
		var lost int
		delivered, lost = deliveredAll()
		if lost == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("%d of %d accepted messages were never delivered", lost, acceptedN)
			if b, err := os.ReadFile(filepath.Join(dir, "daemon.log")); err == nil {
				t.Logf("daemon log (tail):\n%s", tail(string(b), 3000))
			}
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = final.Process.Signal(syscall.SIGTERM)
	_ = final.Wait()

	dups := 0
	for _, c := range delivered {
		dups += c - 1
	}
	t.Logf("%d messages accepted, %d daemon kills, %d Graph calls failed on purpose, %d deliveries, %d duplicate(s), 0 lost",
		acceptedN, kills.Load(), fp.failed.Load(), len(srv.Messages()), dups)
	if acceptedN != n {
		t.Errorf("accepted %d, want %d", acceptedN, n)
	}
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
