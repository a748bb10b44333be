package daemon_test

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// printerSession talks SMTP the way a cheap network printer does: bare LF
// line endings in commands and in the message, no EHLO extensions used, a From with an address for its
// display name, and a body with 5,000-octet lines. It returns the server's
// reply to the end of DATA.
func printerSession(t *testing.T, addr, from, to, msg string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	reply := func() string {
		var last string
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading a reply: %v (so far %q)", err, last)
			}
			last = strings.TrimRight(line, "\r\n")
			if len(last) < 4 || last[3] != '-' {
				return last
			}
		}
	}
	send := func(cmd, want string) {
		if _, err := fmt.Fprintf(c, "%s\n", cmd); err != nil {
			t.Fatal(err)
		}
		if got := reply(); !strings.HasPrefix(got, want) {
			t.Fatalf("%s: %q, want %s", cmd, got, want)
		}
	}
	if got := reply(); !strings.HasPrefix(got, "220") {
		t.Fatalf("greeting %q", got)
	}
	send("HELO printer", "250")
	send("MAIL FROM:<"+from+">", "250")
	send("RCPT TO:<"+to+">", "250")
	send("DATA", "354")
	// Bare LF inside the message; the end of DATA must be CRLF.CRLF, as
	// it must be for every client (anything laxer invites SMTP smuggling).
	if _, err := c.Write([]byte(strings.TrimSuffix(msg, "\n") + "\r\n.\r\n")); err != nil {
		t.Fatal(err)
	}
	end := reply()
	fmt.Fprintf(c, "QUIT\n")
	return end
}

// TestPrinterLikeClient: a printer's message (bare LF, a display name that
// is an address, 5,000-octet lines) relayed with serve.mailbox from and a
// rule dropping the display name leaves through the printer's mailbox,
// with the header Graph accepts and the long lines intact (Graph takes
// MIME as base64; over SMTP they are re-encoded).
func TestPrinterLikeClient(t *testing.T) {
	for _, fallback := range []string{"never", "only"} {
		t.Run("smtp.fallback "+fallback, func(t *testing.T) {
			r := startDaemonWith(t, graphmailtest.Options{Mailboxes: []string{"relay@contoso.com", "printer@contoso.com"}}, map[string]any{
				"smtp.fallback": fallback, "serve.mailbox": "from",
				"serve.rewrite": []any{map[string]any{"drop_address_names": true}},
			})
			long := strings.Repeat("0123456789", 500)
			msg := "From: printer@contoso.com <printer@contoso.com>\nTo: ops@example.com\nSubject: Scan from MFP\n\n" + long + "\n" + long + "\n"
			if got := printerSession(t, r.d.Addr().String(), "printer@contoso.com", "ops@example.com", msg); !strings.HasPrefix(got, "250") {
				t.Fatalf("end of DATA: %q, want 250", got)
			}
			if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
				t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
			}
			got := r.srv.Messages()
			if len(got) != 1 || !strings.EqualFold(got[0].Mailbox, "printer@contoso.com") {
				t.Fatalf("delivered %+v, want one message through printer@", got)
			}
			b := string(got[0].MIME)
			if !strings.Contains(b, "From: <printer@contoso.com>") {
				t.Errorf("From not fixed:\n%.300s", b)
			}
			body := strings.NewReplacer("=\r\n", "", "\r\n", "\n").Replace(b)
			if fallback == "never" && strings.Count(b, long) != 2 || fallback == "only" && strings.Count(body, long) != 2 {
				t.Errorf("the long lines did not arrive intact:\n%.400s", b)
			}
			for _, l := range strings.Split(b, "\n") {
				if fallback == "only" && len(l) > 1000 {
					t.Fatalf("a %d-octet line went over SMTP", len(l))
				}
			}
		})
	}
}
