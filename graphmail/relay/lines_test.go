package relay

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// logRecorder is a slog handler that keeps every record.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (l *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, r.Clone())
	return nil
}
func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// lines returns the records as "LEVEL message key=value…".
func (l *logRecorder) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.records {
		var b strings.Builder
		b.WriteString(r.Level.String() + " " + r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// matching returns the lines that contain every part.
func (l *logRecorder) matching(parts ...string) []string {
	var out []string
	for _, line := range l.lines() {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// messageWithLine is a message whose body has one line of n octets
// (CRLF not counted), then trailer.
func messageWithLine(n int, trailer string) string {
	line := strings.Repeat("0123456789ABCDEF", n/16+1)[:n]
	return "From: printer@example.com\r\nTo: r@example.net\r\nSubject: scan\r\n\r\n" + line + "\r\n" + trailer
}

func TestLongLines(t *testing.T) {
	// A refused message goes on for this much after its long line, more
	// than the client or the server buffers: the server must read it all
	// for the client to see the reply.
	after := strings.Repeat("more of the scan after the long line\r\n", 50000)
	tests := []struct {
		name string
		raw  string
		want int
	}{
		{"RFC 5322's 998", messageWithLine(998, "end\r\n"), 0},
		{"a printer's 5,000", messageWithLine(5000, "end\r\n"), 0},
		{"60,000", messageWithLine(60000, "end\r\n"), 0},
		{"the limit, CRLF included", messageWithLine(MaxLineBytes-2, "end\r\n"), 0},
		{"the limit, CRLF included, as the last line", messageWithLine(MaxLineBytes-2, ""), 0},
		{"one octet over the limit", messageWithLine(MaxLineBytes-1, after), 552},
		{"a whole attachment on one line", messageWithLine(3<<20, after), 552},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logRecorder{}
			ts := start(t, Options{AllowNets: loopbackNets(), Logger: slog.New(logs), lingerTimeout: time.Minute})
			c := ts.dial(t)
			err := send(c, "printer@example.com", []string{"r@example.net"}, tt.raw)
			if code(err) != tt.want {
				t.Fatalf("send = %v, want %d", err, tt.want)
			}
			subs := ts.in.all()
			if tt.want == 0 {
				if len(subs) != 1 || string(subs[0].raw) != tt.raw {
					t.Fatalf("%d submissions, or bytes changed", len(subs))
				}
				if err := send(c, "printer@example.com", []string{"r@example.net"}, simple); err != nil {
					t.Fatalf("next message on the connection: %v", err)
				}
				return
			}
			if len(subs) != 0 {
				t.Fatal("a refused message reached Submit")
			}
			if got := logs.matching("relay: refused", "client=127.0.0.1", "line longer than "+strconv.Itoa(MaxLineBytes)); len(got) != 1 {
				t.Fatalf("want one log line naming the client and the reason; got %q", logs.lines())
			}
			// The connection closes after the refusal.
			if err := c.Noop(); err == nil {
				t.Fatal("the connection is still open after a line over the limit")
			}
		})
	}
	if !strings.Contains(ErrLineTooLong.Message, strconv.Itoa(MaxLineBytes)) {
		t.Errorf("ErrLineTooLong %q does not name the limit %d", ErrLineTooLong.Message, MaxLineBytes)
	}
}

// TestLongLinesPythonSmtplib: python's smtplib, a client we did not write,
// sends a printer's long lines and gets them through, and gets a
// permanent refusal (not a reset, not a 4xx to retry forever) for a line
// over the limit.
func TestLongLinesPythonSmtplib(t *testing.T) {
	python := needTool(t, "python3")
	after := strings.Repeat("more of the scan after the long line\r\n", 50000)
	tests := []struct {
		name, raw, want string
	}{
		{"5,000-octet lines", messageWithLine(5000, strings.Repeat("x", 5000)+"\r\n"), "refused: {}"},
		{"a line over the limit", messageWithLine(200000, after), "SMTPDataError: (552, b'5.3.4 Message line too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := start(t, Options{AllowNets: loopbackNets(), lingerTimeout: time.Minute})
			msg := filepath.Join(t.TempDir(), "msg.eml")
			os.WriteFile(msg, []byte(tt.raw), 0o600)
			out, _ := runTool(t, nil, python, "-c", pythonClient, port(ts.addr), "0", "", "", "printer@example.com", msg, "r@example.net")
			if !strings.Contains(out, tt.want) {
				t.Fatalf("python3 output does not contain %q:\n%s", tt.want, out)
			}
			if subs := ts.in.all(); (tt.want == "refused: {}") != (len(subs) == 1) {
				t.Fatalf("%d submissions", len(subs))
			}
			if subs := ts.in.all(); len(subs) == 1 && string(subs[0].raw) != tt.raw {
				t.Fatal("bytes changed")
			}
		})
	}
}

// TestLongCommandLine: a command line over the limit ends the session
// with 500, as go-smtp does.
func TestLongCommandLine(t *testing.T) {
	ts := start(t, Options{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	conn, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	go conn.Write([]byte("EHLO " + strings.Repeat("a", MaxLineBytes) + "\r\n"))
	all, _ := io.ReadAll(conn)
	if !bytes.Contains(all, []byte("500 5.4.0")) {
		t.Fatalf("got %q, want 500 5.4.0 and close", all)
	}
}
