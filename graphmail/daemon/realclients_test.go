package daemon_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// needClient returns the path of a real SMTP client, or skips the test
// (fails it under GRAPHMAIL_REQUIRE_REAL_CLIENTS, which CI sets after
// .ci/clients/install.sh).
func needClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("GRAPHMAIL_REQUIRE_REAL_CLIENTS") != "" {
			t.Fatalf("%s is not installed, but GRAPHMAIL_REQUIRE_REAL_CLIENTS is set", name)
		}
		t.Skipf("%s is not installed (run .ci/clients/install.sh)", name)
	}
	return p
}

// TestRealClientsThroughTheRelay: swaks, curl and Python's smtplib each
// relay a device's message (a display name that is an address, a
// 5,000-octet line, one recipient Exchange cannot resolve) through a
// relay with serve.mailbox from and a rewrite rule: the message leaves
// through the device's mailbox with a header Graph accepts, the good
// recipient gets it, and the bad one is bounced alone.
func TestRealClientsThroughTheRelay(t *testing.T) {
	long := strings.Repeat("abcdefghij", 500)
	msg := "From: scanner@contoso.com <scanner@contoso.com>\r\nTo: good@example.com, bad@example.com\r\nSubject: scan\r\n\r\n" + long + "\r\n"
	clients := []struct {
		name string
		run  func(t *testing.T, addr, file string) *exec.Cmd
	}{
		{"swaks", func(t *testing.T, addr, file string) *exec.Cmd {
			host, port, _ := strings.Cut(addr, ":")
			return exec.Command(needClient(t, "swaks"), "--server", host, "--port", port, "--from", "scanner@contoso.com",
				"--to", "good@example.com,bad@example.com", "--data", "@"+file, "--silent", "2")
		}},
		{"curl", func(t *testing.T, addr, file string) *exec.Cmd {
			return exec.Command(needClient(t, "curl"), "-sS", "--url", "smtp://"+addr, "--mail-from", "scanner@contoso.com",
				"--mail-rcpt", "good@example.com", "--mail-rcpt", "bad@example.com", "--upload-file", file)
		}},
		{"python smtplib", func(t *testing.T, addr, file string) *exec.Cmd {
			host, port, _ := strings.Cut(addr, ":")
			script := "import smtplib,sys\ns=smtplib.SMTP(sys.argv[1],int(sys.argv[2]))\n" +
				"s.sendmail('scanner@contoso.com',['good@example.com','bad@example.com'],open(sys.argv[3],'rb').read())\ns.quit()\n"
			return exec.Command(needClient(t, "python3"), "-c", script, host, port, file)
		}},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			r := startDaemonWith(t, graphmailtest.Options{Mailboxes: []string{"relay@contoso.com", "scanner@contoso.com"}}, map[string]any{
				"smtp.fallback": "never", "serve.mailbox": "from",
				"serve.rewrite": []any{map[string]any{"drop_address_names": true}},
			})
			r.srv.SetUnresolvable("bad@example.com")
			file := filepath.Join(t.TempDir(), "msg.eml")
			if err := os.WriteFile(file, []byte(msg), 0o600); err != nil {
				t.Fatal(err)
			}
			cmd := c.run(t, r.d.Addr().String(), file)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, out)
			}
			msgEv, dsnEv := twoEvents(t, r.events)
			if msgEv.Outcome != spool.OutcomeSubmitted || len(msgEv.Receipt.Failed) != 1 || dsnEv.Outcome != spool.OutcomeSubmitted {
				t.Fatalf("events %+v / %+v, want the message delivered with bad@ failed, and its bounce", msgEv, dsnEv)
			}
			var good []string
			var dsn []byte
			for _, m := range r.srv.Messages() {
				if bytes.Contains(m.MIME, []byte("report-type=delivery-status")) {
					dsn = m.MIME
					continue
				}
				if !strings.EqualFold(m.Mailbox, "scanner@contoso.com") || !bytes.Contains(m.MIME, []byte("From: <scanner@contoso.com>")) || !bytes.Contains(m.MIME, []byte(long)) {
					t.Errorf("delivered through %s:\n%.300s", m.Mailbox, m.MIME)
				}
				good = append(good, m.Recipients...)
			}
			if !slices.Equal(good, []string{"good@example.com"}) {
				t.Errorf("delivered to %v, want good@ alone", good)
			}
			checkDSNWithPython(t, dsn, []string{"bad@example.com"})
		})
	}
}
