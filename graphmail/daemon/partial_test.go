package daemon_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// TestPartialDeliveryBounces: one recipient Graph cannot resolve does not
// sink the message: the others receive it, and the envelope sender gets a
// DSN naming only the refused recipient, with its own status.
func TestPartialDeliveryBounces(t *testing.T) {
	r := startDaemon(t, map[string]any{"smtp.fallback": "never"})
	r.srv.SetUnresolvable("bad@example.com")
	msg := "From: <" + r.cfg.Sender + ">\r\nTo: <good@example.com>, <bad@example.com>\r\nCc: <cc@example.com>\r\nSubject: scan 43\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, "printer@example.com", []string{"good@example.com", "bad@example.com", "cc@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	first := <-r.events
	if first.Outcome != spool.OutcomeSubmitted || len(first.Receipt.Failed) != 1 || first.Receipt.Failed[0].Address != "bad@example.com" {
		t.Fatalf("first event %+v (%v), want submitted with bad@ failed", first, first.Err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("bounce outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	var got, dsn []string
	var dsnRaw []byte
	for _, m := range r.srv.Messages() {
		if bytes.Contains(m.MIME, []byte("report-type=delivery-status")) {
			dsn, dsnRaw = m.Recipients, m.MIME
			continue
		}
		got = append(got, m.Recipients...)
	}
	slices.Sort(got)
	if want := []string{"cc@example.com", "good@example.com"}; !slices.Equal(got, want) {
		t.Errorf("delivered to %v, want %v", got, want)
	}
	if !slices.Equal(dsn, []string{"printer@example.com"}) {
		t.Fatalf("DSN went to %v, want the envelope sender", dsn)
	}
	b := string(dsnRaw)
	if !strings.Contains(b, "Final-Recipient: rfc822; bad@example.com") || strings.Contains(b, "Final-Recipient: rfc822; good@") {
		t.Errorf("DSN should name bad@ alone:\n%s", b)
	}
	checkDSNWithPython(t, dsnRaw, []string{"bad@example.com"})
	if m := r.get(t, "/metrics"); !strings.Contains(m, `graphmail_recipients_failed_total{class="bad-message"} 1`) || !strings.Contains(m, "graphmail_bounces_total 1") {
		t.Errorf("/metrics lacks the refused recipient or the bounce:\n%s", m)
	}
}

// checkDSNWithPython parses dsn with Python's email package, a parser we
// did not write, and checks it is a valid multipart/report naming the
// failed recipients. python3 is installed by .ci/clients/install.sh; with
// GRAPHMAIL_REQUIRE_REAL_CLIENTS set a missing python3 fails the test.
func checkDSNWithPython(t *testing.T, dsn []byte, failed []string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("GRAPHMAIL_REQUIRE_REAL_CLIENTS") != "" {
			t.Fatalf("python3 is not installed, but GRAPHMAIL_REQUIRE_REAL_CLIENTS is set")
		}
		t.Skip("python3 is not installed")
	}
	const script = `
import sys, email
from email import policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=policy.default)
assert m.get_content_type() == "multipart/report", m.get_content_type()
assert m.get_param("report-type") == "delivery-status", m.get_param("report-type")
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ["text/plain", "message/delivery-status", "text/rfc822-headers"], [p.get_content_type() for p in parts]
groups = parts[1].get_payload()
assert "Reporting-MTA" in groups[0], groups[0].keys()
for g in groups[1:]:
    assert g["Action"] == "failed", g["Action"]
    assert g["Status"][0] in "45", g["Status"]
    print(g["Final-Recipient"].split(";", 1)[1].strip())
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(dsn)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python's email package rejects the DSN: %v\n%s\n%s", err, out, dsn)
	}
	if got := strings.Fields(string(out)); !slices.Equal(got, failed) {
		t.Errorf("python reads failed recipients %v, want %v", got, failed)
	}
}

// TestRelayMailboxFromAndRewrite: with serve.mailbox from, a device's
// message leaves through the mailbox of its From address (no Send As
// denial), the legacy header is fixed by serve.rewrite, and each mailbox
// is paced and audited as itself.
func TestRelayMailboxFromAndRewrite(t *testing.T) {
	r := startDaemonWith(t, graphmailtest.Options{Mailboxes: []string{"relay@contoso.com", "scanner@contoso.com"}}, map[string]any{
		"smtp.fallback": "never", "serve.mailbox": "from",
		"serve.rewrite": []any{map[string]any{"nets": []any{"127.0.0.1/32"}, "drop_address_names": true, "subject_prefix": "[scan] "}},
	})
	msg := "From: scanner@contoso.com <scanner@contoso.com>\r\nTo: <ops@example.com>\r\nSubject: page 1\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, "scanner@contoso.com", []string{"ops@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := r.srv.Messages()
	if len(got) != 1 || !strings.EqualFold(got[0].Mailbox, "scanner@contoso.com") {
		t.Fatalf("delivered %+v, want one message through scanner@", got)
	}
	b := string(got[0].MIME)
	for _, want := range []string{"From: <scanner@contoso.com>\r\n", "Subject: [scan] page 1\r\n"} {
		if !strings.Contains(b, want) {
			t.Errorf("delivered message lacks %q:\n%s", want, b)
		}
	}
	// A From outside the sender's domain goes through the sender mailbox,
	// which may not send as it: Graph denies it and it is dead-lettered.
	msg = "From: <x@fabrikam.com>\r\nTo: <ops@example.com>\r\nSubject: s\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, "x@fabrikam.com", []string{"ops@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeDead {
		t.Fatalf("outcome %q (%v), want dead (Send As denied for the sender mailbox)", e.Outcome, e.Err)
	}
}

// TestPartialDeliveryOverSMTP: over the SMTP fallback the server refuses
// one recipient at RCPT; the others receive the message and the refused
// one is bounced with the server's own status.
func TestPartialDeliveryOverSMTP(t *testing.T) {
	r := startDaemon(t, map[string]any{"smtp.fallback": "only"})
	r.srv.SetUnresolvable("bad@example.com")
	msg := "From: <" + r.cfg.Sender + ">\r\nTo: <good@example.com>, <bad@example.com>\r\nSubject: scan 44\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, "printer@example.com", []string{"good@example.com", "bad@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted || len(e.Receipt.Failed) != 1 {
		t.Fatalf("first event %+v (%v), want submitted with one failed recipient", e, e.Err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("bounce outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	var got []string
	var dsn []byte
	for _, m := range r.srv.Messages() {
		if bytes.Contains(m.MIME, []byte("report-type=delivery-status")) {
			dsn = m.MIME
			continue
		}
		got = append(got, m.Recipients...)
	}
	if !slices.Equal(got, []string{"good@example.com"}) {
		t.Errorf("delivered to %v, want good@ alone", got)
	}
	if !bytes.Contains(dsn, []byte("Status: 5.1.10")) || !bytes.Contains(dsn, []byte("Final-Recipient: rfc822; bad@example.com")) {
		t.Errorf("DSN should carry the server's 5.1.10 for bad@:\n%s", dsn)
	}
	checkDSNWithPython(t, dsn, []string{"bad@example.com"})
}

// TestSizeFollowsThePaths: the SIZE the relay announces, and what it
// accepts, is what a configured path can carry: with Graph alone and no
// upload sessions a message over one sendMail request gets 552 at DATA
// instead of a 250 that could only end in the dead letters.
func TestSizeFollowsThePaths(t *testing.T) {
	tests := []struct {
		name  string
		extra map[string]any
		want  int64
	}{
		{"graph only", map[string]any{"smtp.fallback": "never"}, graphmail.MaxMessageBytes(graphmail.PolicyNever, "", 0)},
		{"graph with upload sessions", map[string]any{"smtp.fallback": "never", "large_messages": "upload_session"}, 35 << 20},
		{"with the fallback", map[string]any{"smtp.fallback": "auto", "smtp.max_message_size": "20MB"}, 20 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := startDaemon(t, tt.extra)
			c, err := smtp.Dial(r.d.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ok, param := c.Extension("SIZE")
			if !ok || param != strconv.FormatInt(tt.want, 10) {
				t.Fatalf("SIZE %v %q, want %d", ok, param, tt.want)
			}
			if tt.want > 4<<20 {
				return
			}
			if err := c.Mail(r.cfg.Sender); err != nil {
				t.Fatal(err)
			}
			if err := c.Rcpt("ops@example.com"); err != nil {
				t.Fatal(err)
			}
			w, err := c.Data()
			if err != nil {
				t.Fatal(err)
			}
			line := strings.Repeat("x", 76) + "\r\n"
			fmt.Fprintf(w, "From: <%s>\r\nTo: <ops@example.com>\r\nSubject: big\r\n\r\n", r.cfg.Sender)
			for range int(tt.want)/len(line) + 2 {
				io.WriteString(w, line)
			}
			err = w.Close()
			var te *textproto.Error
			if !errors.As(err, &te) || te.Code != 552 {
				t.Fatalf("DATA of a message over SIZE: %v, want 552", err)
			}
		})
	}
}
