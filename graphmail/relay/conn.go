package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"
)

// Limits per connection, after Postfix's smtpd.
const (
	// hardErrorLimit is smtpd_hard_error_limit: after this many refused
	// commands without a message accepted, the server answers 421 4.7.0
	// and closes the connection before reading the next command.
	hardErrorLimit = 20
	// junkCommandLimit is smtpd_junk_command_limit: after this many
	// commands that did nothing (NOOP, RSET, VRFY, HELP, a repeated EHLO,
	// commands go-smtp refuses itself) without a message accepted, the
	// server answers 421 4.7.0 and closes.
	junkCommandLimit = 100
	// refusalLogLimit is how many refusals of one connection are logged;
	// the rest are counted in one line when the connection closes.
	refusalLogLimit = 5
	// minDataRate is smtpd_min_data_rate, in bytes per second: each byte
	// of a message received extends the time the message may take.
	minDataRate = 1024
)

// conn is an accepted connection, below TLS. It outlives go-smtp's
// sessions (a new one starts after STARTTLS) and carries the
// connection's limits:
//
//   - Deadlines. go-smtp asks for CommandTimeout before each command line;
//     conn shortens that to CommandTimeout after the last command that did
//     something, so NOOPs cannot keep a connection open. While a message is
//     read, conn sets the deadline of each read itself (see dataTimeout).
//   - Counters of commands that did nothing and of refused ones: past
//     their limits, conn answers 421 4.7.0 instead of letting go-smtp read
//     the next command, and the connection closes.
//   - The refusal log: the first refusalLogLimit refusals are logged, the
//     rest counted in one line when the connection closes.
type conn struct {
	net.Conn
	srv     *Server
	ip      netip.Addr
	timeout time.Duration // CommandTimeout, as given to New
	release func()

	mu       sync.Mutex
	top      net.Conn  // what go-smtp reads and writes: this or the *tls.Conn over it
	lines    int       // command lines go-smtp began to read since the last message
	useful   int       // commands that did something since the last message
	errors   int       // refused commands since the last message
	refused  int       // refused commands, all told
	unlogged int       // refusals not logged
	progress time.Time // when the last command that did something came
	inData   bool      // a message is being read
	linger   bool      // reading the rest of a refused message (drain)
	dataFrom time.Time // when the message began
	dataRead int64     // bytes read of it
	closing  bool      // close before the next command
	reply    string    // what to answer then ("" for nothing)
	replied  bool
	why      string // why the connection closes, for the log
	level    slog.Level
}

func (s *Server) newConn(nc net.Conn, ip netip.Addr, plain bool) *conn {
	c := &conn{Conn: nc, srv: s, ip: ip, timeout: s.timeout, progress: s.now()}
	if plain {
		c.top = c
	}
	c.release = sync.OnceFunc(func() {
		s.lim.closeConn(ip)
		c.logClose()
		if hook := s.config().closed; hook != nil {
			hook()
		}
	})
	return c
}

// connOf finds the conn below a connection go-smtp hands a session.
func connOf(nc net.Conn) *conn {
	for {
		switch x := nc.(type) {
		case *conn:
			return x
		case *tls.Conn:
			nc = x.NetConn()
		default:
			return nil
		}
	}
}

// Close gives the connection's slot back.
func (c *conn) Close() error {
	c.release()
	return c.Conn.Close()
}

// setTop records the connection go-smtp uses now (after STARTTLS, the
// *tls.Conn over c).
func (c *conn) setTop(nc net.Conn) {
	c.mu.Lock()
	c.top = nc
	c.mu.Unlock()
}

// did records a command that did something.
func (c *conn) did() {
	c.mu.Lock()
	c.useful++
	c.progress = c.srv.now()
	c.mu.Unlock()
}

// delivered records an accepted message: as in Postfix, the error and
// junk counts start again.
func (c *conn) delivered() {
	c.mu.Lock()
	c.lines, c.useful, c.errors = 0, 0, 0
	c.progress = c.srv.now()
	c.mu.Unlock()
}

// refuse counts a refused command and reports whether to log it.
func (c *conn) refuse() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.errors++
	c.refused++
	if c.refused > refusalLogLimit {
		c.unlogged++
		return false
	}
	return true
}

// closeAfter makes the connection close before the next command, with
// reply ("" for none); why goes to the log ("" for no line).
func (c *conn) closeAfter(reply, why string, level slog.Level) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closing {
		c.closing, c.reply, c.why, c.level = true, reply, why, level
	}
}

// startData begins a message; endData ends it (go-smtp has read all of
// it, or the transaction was reset).
func (c *conn) startData() {
	c.mu.Lock()
	c.inData, c.linger, c.dataFrom, c.dataRead = true, false, c.srv.now(), 0
	c.useful++
	c.progress = c.dataFrom
	c.mu.Unlock()
}

func (c *conn) endData() {
	c.mu.Lock()
	if c.inData {
		c.inData = false
		c.progress = c.srv.now()
	}
	c.mu.Unlock()
}

// lingering makes the reads of the message wait only lingerTimeout.
func (c *conn) lingering() {
	c.mu.Lock()
	c.linger = true
	c.mu.Unlock()
}

// SetReadDeadline is called by go-smtp before it reads each command line
// (through the *tls.Conn when there is one). It closes the connection
// when a limit is reached, and shortens the deadline to CommandTimeout
// after the last command that did something. While a message is read it
// does nothing: Read sets the deadlines then.
func (c *conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	if c.inData {
		c.mu.Unlock()
		return nil
	}
	c.lines++
	if junk := c.lines - 1 - c.useful; !c.closing && c.errors >= hardErrorLimit {
		c.closing, c.reply, c.why, c.level = true, "421 4.7.0 "+c.srv.domain+" Error: too many errors", "too many errors", slog.LevelWarn
	} else if !c.closing && junk > junkCommandLimit {
		c.closing, c.reply, c.why, c.level = true, "421 4.7.0 "+c.srv.domain+" Error: too many commands that do nothing", "too many commands that do nothing (NOOP, RSET, VRFY…)", slog.LevelWarn
	}
	if c.closing {
		reply, top := c.reply, c.top
		send := reply != "" && top != nil && !c.replied
		c.replied = true
		c.mu.Unlock()
		if send {
			top.SetWriteDeadline(time.Now().Add(c.timeout))
			io.WriteString(top, reply+"\r\n")
		}
		return net.ErrClosed
	}
	rest := c.timeout - c.srv.now().Sub(c.progress)
	if rest <= 0 {
		// go-smtp answers 421 4.4.2 and closes.
		c.why, c.level = "no command did anything for the command timeout", slog.LevelInfo
		c.mu.Unlock()
		return os.ErrDeadlineExceeded
	}
	c.mu.Unlock()
	if d := time.Now().Add(rest); t.IsZero() || d.Before(t) {
		t = d
	}
	return c.Conn.SetReadDeadline(t)
}

// Read reads from the connection. While a message is read it sets the
// deadline of each read to dataTimeout, and a read that times out closes
// the connection after the reply: the rest of the message would
// otherwise be read as commands.
func (c *conn) Read(p []byte) (int, error) {
	c.mu.Lock()
	inData := c.inData
	if inData {
		if c.closing {
			c.mu.Unlock()
			return 0, net.ErrClosed
		}
		d := c.dataTimeout()
		if d <= 0 {
			c.closing, c.why, c.level = true, "the message came slower than the minimum data rate", slog.LevelWarn
			c.mu.Unlock()
			return 0, os.ErrDeadlineExceeded
		}
		c.Conn.SetReadDeadline(time.Now().Add(d))
	}
	c.mu.Unlock()
	n, err := c.Conn.Read(p)
	timedOut := errors.Is(err, os.ErrDeadlineExceeded)
	c.mu.Lock()
	var total int64
	switch {
	case inData:
		c.dataRead += int64(n)
		total = c.dataRead
		if timedOut && !c.closing {
			c.closing = true
			if !c.linger { // a refused message's end that did not come is not news
				c.why, c.level = "no data for the command timeout while reading a message", slog.LevelWarn
			}
		}
	case timedOut && c.why == "":
		c.why, c.level = "the client sent nothing for the command timeout", slog.LevelInfo
	}
	c.mu.Unlock()
	if hook := c.srv.config().dataRead; hook != nil && inData {
		hook(total)
	}
	return n, err
}

// dataTimeout is how long the next read of a message may wait: at most
// CommandTimeout (lingerTimeout when draining a refused message), and no
// longer than the message's budget of CommandTimeout plus one second per
// minDataRate bytes received. Called with mu held.
func (c *conn) dataTimeout() time.Duration {
	cfg := c.srv.config()
	per := c.timeout
	if c.linger {
		per = cfg.lingerTimeout
	}
	return min(per, dataBudget(c.timeout, c.srv.now().Sub(c.dataFrom), c.dataRead, cfg.minDataRate))
}

// dataBudget is what is left of a message's time after elapsed with read
// bytes received: timeout plus one second per rate bytes, minus elapsed.
func dataBudget(timeout, elapsed time.Duration, read, rate int64) time.Duration {
	credit := time.Duration(read/rate)*time.Second + time.Duration(read%rate)*time.Second/time.Duration(rate)
	return timeout + credit - elapsed
}

// logClose writes the connection's closing line when there is something
// to say: why it was closed, and the refusals that were not logged.
func (c *conn) logClose() {
	c.mu.Lock()
	why, level, refused, unlogged := c.why, c.level, c.refused, c.unlogged
	c.mu.Unlock()
	if why == "" && unlogged == 0 {
		return
	}
	if unlogged > 0 && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	if why == "" {
		why = "client closed"
	}
	c.srv.log.Log(context.Background(), level, "relay: connection closed", "client", c.ip, "reason", why, "refused", refused, "refusals_not_logged", unlogged)
}
