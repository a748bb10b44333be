package spool

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test: a helper process (this test binary, re-executed) enqueues
// and delivers while the test kills it with SIGKILL at random moments and
// starts it again. A moment is a random count of the helper's steps (each
// acknowledged Enqueue, each delivery), not a time: on a loaded machine a
// helper may not get that far in any given time, and the test must still
// make progress. Every Enqueue that returned is written to acked.log;
// the fake Deliverer fails 20% of calls and appends each successful
// delivery to delivered.log, fsynced, before returning. In the end every
// acknowledged message must be in delivered.log; duplicates (the
// documented at-least-once window) are counted and reported.
//
//	go test -run TestCrashRecovery -crash.n 2000 ./graphmail/spool/
//	GRAPHMAIL_CRASH_N=2000 go test -run TestCrashRecovery ./graphmail/spool/

var crashN = flag.Int("crash.n", 0, "messages for TestCrashRecovery (default 300, or $GRAPHMAIL_CRASH_N)")

const (
	envCrashDir = "GRAPHMAIL_SPOOL_CRASH_DIR"
	envCrashN   = "GRAPHMAIL_SPOOL_CRASH_TARGET"
	// crashStep is the line the helper prints after each step.
	crashStep = "CRASH-CHILD-STEP"
)

// childOutput collects a helper's output and counts its steps.
type childOutput struct {
	mu    sync.Mutex
	b     strings.Builder
	steps int
	tail  string // an incomplete last line
	step  chan struct{}
}

func newChildOutput() *childOutput { return &childOutput{step: make(chan struct{}, 1)} }

func (c *childOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.b.Write(p)
	lines := strings.Split(c.tail+string(p), "\n")
	c.tail = lines[len(lines)-1]
	for _, l := range lines[:len(lines)-1] {
		if l == crashStep {
			c.steps++
		}
	}
	c.mu.Unlock()
	select {
	case c.step <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *childOutput) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.steps
}

func (c *childOutput) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.b.String()
}

func TestCrashRecovery(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	n := 300
	if v, err := strconv.Atoi(os.Getenv("GRAPHMAIL_CRASH_N")); err == nil && v > 0 {
		n = v
	}
	if *crashN > 0 {
		n = *crashN
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	start := time.Now()
	kills, runs := 0, 0
	killsAfterAcks := 0
runs:
	for {
		runs++
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir, envCrashN+"="+strconv.Itoa(n))
		out := newChildOutput()
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		acked := len(readLines(t, filepath.Join(dir, "acked.log")))
		// Keep killing while messages are being acknowledged, then a few
		// more times during the drain, then let it finish. The deadline
		// only bounds a hang.
		kill := acked < n || killsAfterAcks < 5
		// The kill comes a random while after a random number of steps:
		// progress is certain, and where the kill lands is left to chance.
		killAt := 1 + rng.IntN(40)
		var killNow <-chan time.Time
		hang := time.NewTimer(5 * time.Minute)
		var err error
	wait:
		for {
			select {
			case err = <-exited:
				break wait
			case <-out.step:
				if kill && killNow == nil && out.count() >= killAt {
					killNow = time.After(time.Duration(rng.IntN(20_000)) * time.Microsecond)
				}
			case <-killNow:
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				kills++
				if acked >= n {
					killsAfterAcks++
				}
				hang.Stop()
				continue runs
			case <-hang.C:
				cmd.Process.Signal(syscall.SIGKILL)
				<-exited
				t.Fatalf("helper made no progress for 5 minutes:\n%s", out.String())
			}
		}
		hang.Stop()
		if err != nil {
			t.Fatalf("helper failed: %v\n%s", err, out.String())
		}
		if strings.Contains(out.String(), "CRASH-CHILD-DONE") {
			break
		}
		t.Fatalf("helper exited without finishing:\n%s", out.String())
	}

	acked := readLines(t, filepath.Join(dir, "acked.log"))
	delivered := readLines(t, filepath.Join(dir, "delivered.log"))
	count := map[string]int{}
	for _, key := range delivered {
		count[key]++
	}
	lost, dups, extra := 0, 0, 0
	ackedSet := map[string]bool{}
	for _, key := range acked {
		ackedSet[key] = true
		if count[key] == 0 {
			lost++
			t.Errorf("acknowledged message %s was never delivered", key)
		}
	}
	for key, c := range count {
		dups += c - 1
		if !ackedSet[key] {
			extra++ // enqueued, killed before the ack was logged: delivered anyway
		}
	}
	s := mustOpen(t, filepath.Join(dir, "spool"), Options{})
	items, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("crash test: %d acknowledged, %d delivered (%d distinct), %d lost, %d duplicates, %d unacknowledged-but-delivered; %d runs, %d SIGKILLs, %d left in queue/deadletter, %s",
		len(acked), len(delivered), len(count), lost, dups, extra, runs, kills, len(items), time.Since(start).Round(time.Millisecond))
	// A kill can catch at most one delivery per worker (4) inside the
	// window between the Deliverer's success and the fsynced record.
	if dups > 4*kills {
		t.Errorf("%d duplicates from %d kills: more than the at-least-once window explains", dups, kills)
	}
	if len(acked) < n {
		t.Errorf("only %d messages acknowledged, want %d", len(acked), n)
	}
	if len(items) != 0 {
		t.Errorf("%d messages left in the spool", len(items))
	}
}

// TestCrashChild is the helper process of TestCrashRecovery.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(envCrashDir)
	if dir == "" {
		t.Skip("helper process for TestCrashRecovery")
	}
	target, _ := strconv.Atoi(os.Getenv(envCrashN))
	s, err := Open(filepath.Join(dir, "spool"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	dlog := openLog(t, filepath.Join(dir, "delivered.log"))
	alog := openLog(t, filepath.Join(dir, "acked.log"))
	var mu sync.Mutex
	acked := len(readLines(t, filepath.Join(dir, "acked.log")))

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	var rmu sync.Mutex
	d := DelivererFunc(func(ctx context.Context, d Delivery) (Receipt, error) {
		rmu.Lock()
		fail, pause := rng.IntN(5) == 0, time.Duration(rng.IntN(2000))*time.Microsecond
		rmu.Unlock()
		time.Sleep(pause)
		if fail {
			return Receipt{}, tempErr{temp: true}
		}
		subject, _, _ := strings.Cut(strings.TrimPrefix(string(d.Raw), "Subject: "), "\r\n")
		appendLog(t, dlog, subject)
		fmt.Println(crashStep)
		return Receipt{Path: "graph", RequestID: "fake"}, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go s.Run(ctx, d, RunOptions{Workers: 4, Backoff: func(int) time.Duration { return time.Millisecond }, ScanInterval: 10 * time.Millisecond})

	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				mu.Lock()
				done := acked >= target
				mu.Unlock()
				if done {
					return
				}
				key := fmt.Sprintf("%d-%d-%d", os.Getpid(), g, i)
				raw := "Subject: " + key + "\r\nFrom: app@example.com\r\n\r\ncrash test\r\n"
				if _, err := s.Enqueue(ctx, Envelope{From: "app@example.com", To: []string{"x@example.com"}}, []byte(raw), Meta{}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				appendLog(t, alog, key)
				acked++
				mu.Unlock()
				fmt.Println(crashStep)
			}
		})
	}
	wg.Wait()
	for {
		depth, _, err := s.Stats()
		if err != nil {
			t.Fatal(err)
		}
		if depth == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("CRASH-CHILD-DONE")
}

func openLog(t *testing.T, name string) *os.File {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

var logMu sync.Mutex

// appendLog appends one line with a single write and fsyncs it.
func appendLog(t *testing.T, f *os.File, line string) {
	logMu.Lock()
	defer logMu.Unlock()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Error(err)
	}
	if err := f.Sync(); err != nil {
		t.Error(err)
	}
}

// readLines returns the complete lines of name (a torn last line, from a
// kill in the middle of a write, is dropped).
func readLines(t *testing.T, name string) []string {
	data, err := os.ReadFile(name)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(data) > 0 && data[len(data)-1] != '\n' && len(lines) > 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}
