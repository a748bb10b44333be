package daemon_test

import (
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
	"time"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
	"github.com/graphmail/graphmail/graphmail/natsspool/natstest"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// TestNATSBackend: with spool.backend nats the relay queues into the
// stream (the 250 after the publish was stored), delivers from it, and
// /readyz follows the NATS server; while it is down new mail gets a 451
// and nothing is lost.
func TestNATSBackend(t *testing.T) {
	nc := natstest.Start(t, natstest.Options{})
	r := startDaemon(t, map[string]any{"spool.backend": "nats", "nats.url": nc.URL(), "nats.stream": "RELAYTEST"})
	if got := r.d.Spool().Dir(); !strings.Contains(got, "RELAYTEST") {
		t.Errorf("Spool().Dir() = %q, want the stream", got)
	}
	from := r.cfg.Sender
	send := func(subject string) error {
		msg := "From: <" + from + ">\r\nTo: <ops@example.com>\r\nSubject: " + subject + "\r\n\r\nbody\r\n"
		return smtp.SendMail(r.d.Addr().String(), nil, from, []string{"ops@example.com", "bcc@example.com"}, []byte(msg))
	}
	if err := send("through the stream"); err != nil {
		t.Fatal(err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := r.srv.Messages()
	if len(got) != 1 || !strings.Contains(strings.Join(got[0].Recipients, ","), "bcc@example.com") {
		t.Fatalf("delivered %+v, want one message with the envelope's Bcc", got)
	}
	if body := r.get(t, "/readyz"); body != "ready\n" {
		t.Fatalf("/readyz = %q", body)
	}
	if m := r.get(t, "/metrics"); !strings.Contains(m, "graphmail_messages_received_total 1") {
		t.Errorf("/metrics:\n%s", m)
	}

	nc.Stop(0)
	if body := r.get(t, "/readyz"); !strings.Contains(body, "nats") {
		t.Errorf("/readyz with NATS down = %q, want it to name NATS", body)
	}
	err := send("while NATS is down")
	var tpe *textproto.Error
	if !asTextproto(err, &tpe) || tpe.Code != 451 {
		t.Fatalf("send with NATS down = %v, want 451", err)
	}
	nc.Restart(0)
	waitReady(t, r)
	if err := send("after the restart"); err != nil {
		t.Fatal(err)
	}
	for e := range r.events {
		if e.Outcome == spool.OutcomeSubmitted {
			break
		}
	}
	if n := len(r.srv.Messages()); n != 2 {
		t.Errorf("%d messages delivered, want 2 (the refused one was never accepted)", n)
	}
}

func asTextproto(err error, out **textproto.Error) bool {
	e, ok := err.(*textproto.Error)
	if ok {
		*out = e
	}
	return ok
}

// waitReady polls /readyz (a state the daemon reaches by itself once the
// client reconnected) until it says ready.
func waitReady(t *testing.T, r *running) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for r.get(t, "/readyz") != "ready\n" {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz never became ready again: %q", r.get(t, "/readyz"))
		}
	}
}

// TestNATSBackendDeadLetterBounces: a message given up on the stream goes
// to the dead letters' stream and is bounced like on the directory spool.
func TestNATSBackendDeadLetterBounces(t *testing.T) {
	nc := natstest.Start(t, natstest.Options{})
	r := startDaemon(t, map[string]any{"spool.backend": "nats", "nats.url": nc.URL(), "serve.postmaster": "pm@example.com", "smtp.fallback": "never"})
	r.srv.Fail(graphmailtest.Failure{Endpoint: "graph", Status: 400, Code: "ErrorInvalidRecipients", Times: 1})
	msg := "From: <printer@example.com>\r\nTo: <bad@example.com>\r\nSubject: scan 42\r\n\r\nbody\r\n"
	if err := smtp.SendMail(r.d.Addr().String(), nil, "printer@example.com", []string{"bad@example.com"}, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeDead {
		t.Fatalf("first outcome %q (%v), want dead", e.Outcome, e.Err)
	}
	if e := <-r.events; e.Outcome != spool.OutcomeSubmitted {
		t.Fatalf("bounce outcome %q (%v), want submitted", e.Outcome, e.Err)
	}
	got := r.srv.Messages()
	if len(got) != 1 || !strings.Contains(string(got[0].MIME), "Final-Recipient: rfc822; bad@example.com") {
		t.Fatalf("delivered %+v, want the bounce", got)
	}
	items, err := r.d.Spool().List()
	if err != nil || len(items) != 1 || items[0].State != spool.StateDeadletter || items[0].Header.Subject != "scan 42" {
		t.Fatalf("List = %+v, %v; want the dead letter", items, err)
	}
	if m := r.get(t, "/metrics"); !strings.Contains(m, "graphmail_dead_letters 1") {
		t.Errorf("/metrics lacks the dead letter gauge:\n%s", m)
	}
}
