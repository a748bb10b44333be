package relay

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a clock the test moves.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// rawClient is a client that writes whatever the test says and reads
// replies line by line.
type rawClient struct {
	t *testing.T
	net.Conn
	r *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawClient {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Minute)) // only bounds a hang
	rc := &rawClient{t: t, Conn: c, r: bufio.NewReader(c)}
	if got := rc.reply(); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("greeting %q", got)
	}
	return rc
}

func (c *rawClient) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c, s); err != nil {
		c.t.Fatal(err)
	}
}

// reply reads one reply (the last line of a multi-line one); "" at EOF.
func (c *rawClient) reply() string {
	c.t.Helper()
	for {
		line, err := c.r.ReadString('\n')
		if err != nil {
			if line != "" {
				c.t.Fatalf("reply cut short: %q: %v", line, err)
			}
			return ""
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

// rest reads replies until the server closes the connection.
func (c *rawClient) rest() []string {
	c.t.Helper()
	var out []string
	for r := c.reply(); r != ""; r = c.reply() {
		out = append(out, r)
	}
	return out
}

// count returns how many replies start with prefix.
func count(replies []string, prefix string) int {
	n := 0
	for _, r := range replies {
		if strings.HasPrefix(r, prefix) {
			n++
		}
	}
	return n
}

// TestHardErrorLimit: a client that keeps being refused gets 421 4.7.0
// after hardErrorLimit refusals and is disconnected; the log has the
// first refusalLogLimit refusals and one closing line, not one line per
// refusal.
func TestHardErrorLimit(t *testing.T) {
	logs := &logRecorder{}
	ts := start(t, Options{AllowNets: loopbackNets(), clientAddr: remote("203.0.113.9"), Logger: slog.New(logs)})
	c := dialRaw(t, ts.addr)
	// Exactly the commands the server reads: it closes with nothing
	// unread, so the client reads every reply.
	c.send("EHLO flood.test\r\n" + strings.Repeat("MAIL FROM:<spam@example.org>\r\n", hardErrorLimit))
	replies := c.rest()
	if n := count(replies, "530 5.7.0"); n != hardErrorLimit {
		t.Fatalf("%d refusals, want %d: %q", n, hardErrorLimit, replies)
	}
	if last := replies[len(replies)-1]; !strings.HasPrefix(last, "421 4.7.0") || !strings.Contains(last, "too many errors") {
		t.Fatalf("last reply %q, want 421 4.7.0 too many errors", last)
	}
	if got := logs.matching("relay: refused", "client=203.0.113.9"); len(got) != refusalLogLimit {
		t.Errorf("%d refusal lines, want %d:\n%s", len(got), refusalLogLimit, strings.Join(logs.lines(), "\n"))
	}
	closing := logs.matching("relay: connection closed", "client=203.0.113.9", "reason=too many errors", "refused=20", "refusals_not_logged=15")
	if len(closing) != 1 {
		t.Errorf("want one closing line with the counts:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// TestRefusalFlood: the reproduction of the flood, 3,000 refused
// commands sent at once on one connection, gives a handful of log lines.
func TestRefusalFlood(t *testing.T) {
	logs := &logRecorder{}
	closed := make(chan struct{}, 1)
	ts := start(t, Options{AllowNets: loopbackNets(), clientAddr: remote("203.0.113.9"), Logger: slog.New(logs), closed: func() { closed <- struct{}{} }})
	c := dialRaw(t, ts.addr)
	go io.WriteString(c, "EHLO flood.test\r\n"+strings.Repeat("MAIL FROM:<spam@example.org>\r\n", 3000))
	io.Copy(io.Discard, c) // until the server closes (or resets) the connection
	<-closed
	if n := len(logs.lines()); n > refusalLogLimit+1 {
		t.Fatalf("%d log lines for one flooding connection:\n%s", n, strings.Join(logs.lines(), "\n"))
	}
}

// TestJunkCommandLimit: NOOPs and other commands that do nothing are
// capped; an accepted message starts the count again.
func TestJunkCommandLimit(t *testing.T) {
	ts := start(t, Options{AllowNets: loopbackNets()})

	c := dialRaw(t, ts.addr)
	c.send("EHLO noop.test\r\n" + strings.Repeat("NOOP\r\n", junkCommandLimit+1))
	replies := c.rest()
	if n := count(replies, "250 2.0.0 I have successfully done nothing"); n != junkCommandLimit+1 {
		t.Fatalf("%d NOOPs answered, want %d", n, junkCommandLimit+1)
	}
	if last := replies[len(replies)-1]; !strings.HasPrefix(last, "421 4.7.0") {
		t.Fatalf("last reply %q, want 421 4.7.0", last)
	}

	sc := ts.dial(t)
	for range 2 {
		for i := range junkCommandLimit - 10 {
			if err := sc.Noop(); err != nil {
				t.Fatalf("NOOP %d: %v", i+1, err)
			}
		}
		if err := send(sc, "a@example.com", []string{"r@example.net"}, simple); err != nil {
			t.Fatalf("message between NOOPs: %v", err)
		}
	}
}

// TestNoopDoesNotExtendTimeout: CommandTimeout runs from the last command
// that did something; NOOPs in between do not keep the connection open.
func TestNoopDoesNotExtendTimeout(t *testing.T) {
	clock := newFakeClock()
	logs := &logRecorder{}
	ts := start(t, Options{AllowNets: loopbackNets(), CommandTimeout: time.Hour, now: clock.Now, Logger: slog.New(logs)})
	c := dialRaw(t, ts.addr)
	c.send("EHLO idle.test\r\n")
	c.reply()
	clock.Advance(30 * time.Minute)
	c.send("MAIL FROM:<a@example.com>\r\n") // does something: the hour starts again
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("MAIL: %q", r)
	}
	clock.Advance(40 * time.Minute)
	c.send("NOOP\r\n")
	if r := c.reply(); !strings.HasPrefix(r, "250 ") {
		t.Fatalf("NOOP within the hour: %q", r)
	}
	// 80 minutes after MAIL, 40 after the NOOP: the server closes. It may
	// answer this NOOP first, if it was already waiting for it when the
	// clock moved.
	clock.Advance(40 * time.Minute)
	c.send("NOOP\r\n")
	replies := c.rest()
	if n := len(replies); n == 0 || n > 2 || !strings.HasPrefix(replies[n-1], "421 4.4.2") || n == 2 && !strings.HasPrefix(replies[0], "250 ") {
		t.Fatalf("an hour after the last command that did something: %q, want 421 4.4.2 and close", replies)
	}
	if len(logs.matching("relay: connection closed", "reason=no command did anything")) != 1 {
		t.Errorf("no closing line:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// dataProgress lets a test wait until the server has read n bytes of the
// message.
type dataProgress struct {
	mu   sync.Mutex
	cond *sync.Cond
	read int64
}

func newDataProgress() *dataProgress {
	p := &dataProgress{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *dataProgress) hook(total int64) {
	p.mu.Lock()
	p.read = total
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *dataProgress) wait(n int64) {
	p.mu.Lock()
	for p.read < n {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// startData opens a transaction up to the 354.
func startData(t *testing.T, addr string) *rawClient {
	c := dialRaw(t, addr)
	c.send("EHLO data.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n")
	for range 3 {
		if r := c.reply(); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("before DATA: %q", r)
		}
	}
	if r := c.reply(); !strings.HasPrefix(r, "354 ") {
		t.Fatalf("DATA: %q", r)
	}
	return c
}

// TestDataTime: a message may take longer than CommandTimeout as long as
// its bytes keep coming at the minimum data rate; one trickled slower is
// cut with 421 4.4.2 and the connection closed.
func TestDataTime(t *testing.T) {
	const timeout, step = time.Hour, 30 * time.Minute
	// With a rate of 1 byte a second, each step's chunk earns the step.
	chunk := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n", int(step.Seconds())/64+1)

	t.Run("steady beyond CommandTimeout", func(t *testing.T) {
		clock, progress := newFakeClock(), newDataProgress()
		ts := start(t, Options{AllowNets: loopbackNets(), CommandTimeout: timeout, now: clock.Now, minDataRate: 1, dataRead: progress.hook})
		c := startData(t, ts.addr)
		msg := "Subject: slow scan\r\n\r\n"
		c.send(msg)
		progress.wait(int64(len(msg)))
		for range 10 { // five hours in all
			clock.Advance(step)
			c.send(chunk)
			msg += chunk
			progress.wait(int64(len(msg)))
		}
		c.send(".\r\n")
		if r := c.reply(); !strings.HasPrefix(r, "250 ") {
			t.Fatalf("end of a steady five-hour message: %q", r)
		}
		if subs := ts.in.all(); len(subs) != 1 || string(subs[0].raw) != msg {
			t.Fatalf("%d submissions, or bytes changed", len(subs))
		}
	})

	t.Run("trickled", func(t *testing.T) {
		clock, progress := newFakeClock(), newDataProgress()
		logs := &logRecorder{}
		ts := start(t, Options{AllowNets: loopbackNets(), CommandTimeout: timeout, now: clock.Now, minDataRate: 1, dataRead: progress.hook, Logger: slog.New(logs)})
		c := startData(t, ts.addr)
		c.send("Subject: x\r\n")
		progress.wait(12)
		clock.Advance(2 * timeout)
		// Either the server's read already waiting returns "y" and the next
		// one is over budget, or the next read starts after the clock moved
		// and is over budget at once: both end in 421 and a close, which
		// rest waits for. (Waiting for the server to have read "y" hung the
		// second way, one run in ten under load.)
		c.send("y")
		replies := c.rest()
		if len(replies) != 1 || !strings.HasPrefix(replies[0], "421 4.4.2") {
			t.Fatalf("trickled message: %q, want 421 4.4.2 and close", replies)
		}
		if len(ts.in.all()) != 0 {
			t.Fatal("a cut message reached Submit")
		}
		if len(logs.matching("relay: connection closed", "client=127.0.0.1", "slower than the minimum data rate")) != 1 {
			t.Errorf("no closing line:\n%s", strings.Join(logs.lines(), "\n"))
		}
	})
}

// TestDataStall: a message whose bytes stop coming ends the session when
// a read has waited CommandTimeout. Only that the session was closed is
// asserted: a tiny timeout may fire anywhere on a loaded machine.
func TestDataStall(t *testing.T) {
	ts := start(t, Options{AllowNets: loopbackNets(), CommandTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute)) // only bounds a hang
	io.WriteString(c, "EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<r@example.net>\r\nDATA\r\nSubject: x\r\n")
	// A reset may follow the reply when the server timed out before the
	// client's bytes came.
	all, err := io.ReadAll(c)
	if !strings.Contains(string(all), "421 4.4.2") {
		t.Fatalf("stalled session: %q, %v; want 421 4.4.2 and close", all, err)
	}
}

func TestDataBudget(t *testing.T) {
	tests := []struct {
		elapsed time.Duration
		read    int64
		want    time.Duration
	}{
		{0, 0, 5 * time.Minute},
		{5 * time.Minute, 0, 0},
		{10 * time.Minute, 1024 * 300, 0},                   // 1 KiB/s on average after the first five minutes
		{10 * time.Minute, 1024*300 + 512, time.Second / 2}, // half a second ahead
		{time.Hour, 35 << 20, 5*time.Minute + 35*1024*time.Second - time.Hour},
	}
	for _, tt := range tests {
		if got := dataBudget(5*time.Minute, tt.elapsed, tt.read, minDataRate); got != tt.want {
			t.Errorf("dataBudget(5m, %v, %d) = %v, want %v", tt.elapsed, tt.read, got, tt.want)
		}
	}
}

func TestMaxConnections(t *testing.T) {
	closed := make(chan struct{}, 4)
	logs := &logRecorder{}
	ts := start(t, Options{AllowNets: loopbackNets(), MaxConnections: 2, Logger: slog.New(logs), closed: func() { closed <- struct{}{} }})
	a, _ := ts.dial(t), ts.dial(t)
	if got := greeting(t, ts.addr); !strings.HasPrefix(got, "421 4.7.0") || !strings.Contains(got, "Too many connections") {
		t.Fatalf("third connection got %q, want 421 4.7.0 Too many connections", got)
	}
	if len(logs.matching("relay: connection refused: too many connections (max_connections)", "client=127.0.0.1")) != 1 {
		t.Errorf("refusal not logged:\n%s", strings.Join(logs.lines(), "\n"))
	}
	a.Quit()
	<-closed
	if got := greeting(t, ts.addr); !strings.HasPrefix(got, "220 ") {
		t.Fatalf("after one closed: %q, want 220", got)
	}
}

// TestRefusedConnectionsLogQuietly: a flood of refused connections logs
// quietBurst lines a minute, then says how many it left out.
func TestRefusedConnectionsLogQuietly(t *testing.T) {
	clock := newFakeClock()
	logs := &logRecorder{}
	ts := start(t, Options{AllowNets: loopbackNets(), MaxConnections: 1, now: clock.Now, Logger: slog.New(logs)})
	ts.dial(t)
	for range 30 {
		if got := greeting(t, ts.addr); !strings.HasPrefix(got, "421 ") {
			t.Fatalf("got %q, want 421", got)
		}
	}
	if n := len(logs.matching("relay: connection refused")); n != quietBurst {
		t.Fatalf("%d lines for 30 refused connections, want %d", n, quietBurst)
	}
	clock.Advance(time.Minute)
	greeting(t, ts.addr)
	if n := len(logs.matching("relay: connection refused", "refusals_not_logged=20")); n != 1 {
		t.Fatalf("no line with the count left out:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// TestHardErrorLimitPythonSmtplib: python's smtplib, looping on a refused
// MAIL, is told 421 and disconnected after hardErrorLimit refusals.
func TestHardErrorLimitPythonSmtplib(t *testing.T) {
	python := needTool(t, "python3")
	const script = `
import smtplib, sys
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="python.test", timeout=300)
s.ehlo()
for i in range(50):
    try:
        code, _ = s.mail("spam@example.org")
    except smtplib.SMTPServerDisconnected:
        print("disconnected")
        break
    print(code)
`
	ts := start(t, Options{AllowNets: loopbackNets(), clientAddr: remote("203.0.113.9")})
	out, err := runTool(t, nil, python, "-c", script, port(ts.addr))
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	lines := strings.Fields(out)
	want := append(slices.Repeat([]string{"530"}, hardErrorLimit), "421", "disconnected")
	if !slices.Equal(lines, want) {
		t.Fatalf("smtplib saw %q, want %d × 530, 421, disconnected", lines, hardErrorLimit)
	}
}
