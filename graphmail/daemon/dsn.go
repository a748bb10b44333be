package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
	"github.com/graphmail/graphmail/graphmail/spool"
	"github.com/graphmail/graphmail/smtpfallback"
)

// dsnClient marks a bounce in the spool's Meta.Client, so that a bounce
// that dies is never bounced again.
const dsnClient = "dsn"

// bouncer sends a delivery status notification (RFC 3464) when a message
// goes to the dead letters: to the envelope sender when that is a
// deliverable address, and to serve.postmaster. The bounce is queued in
// the same spool and leaves through the same Graph/SMTP paths; a bounce,
// a message with a null sender and an auto-submitted message are never
// bounced (no loops).
type bouncer struct {
	sp         spool.Queue // nil: enqueue alone
	enqueue    func(env spool.Envelope, raw []byte) (spool.ID, error)
	sender     string // the mailbox the bounce is sent from
	postmaster string
	host       string
	local      func(addr string) bool
	log        *slog.Logger
	m          *Metrics // nil: no counters
	now        func() time.Time
}

func newBouncer(sp spool.Queue, cfg *config.Config, log *slog.Logger, m *Metrics) *bouncer {
	b := newNotifier(cfg, log, m)
	b.sp = sp
	b.enqueue = func(env spool.Envelope, raw []byte) (spool.ID, error) {
		return sp.Enqueue(context.Background(), env, raw, spool.Meta{Client: dsnClient})
	}
	return b
}

// newNotifier returns a bouncer without a spool to read dead letters
// from; the caller sets enqueue.
func newNotifier(cfg *config.Config, log *slog.Logger, m *Metrics) *bouncer {
	return &bouncer{sender: cfg.Sender, postmaster: cfg.Serve.Postmaster, host: hostname(), log: log, m: m, now: time.Now,
		local: func(addr string) bool {
			_, d, ok := strings.Cut(addr, "@")
			d = strings.ToLower(d)
			return !ok || d == "" || d == "localhost" || d == "localhost.localdomain" || !strings.Contains(d, ".")
		}}
}

// wrap returns o with OnEvent bouncing dead letters, and d reporting the
// recipients a partial delivery failed for good (the others received the
// message).
func (b *bouncer) wrap(o spool.RunOptions, d spool.Deliverer) (spool.RunOptions, spool.Deliverer) {
	next := o.OnEvent
	o.OnEvent = func(e spool.Event) {
		if e.Outcome == spool.OutcomeDead {
			b.bounce(e)
		}
		if next != nil {
			next(e)
		}
	}
	return o, spool.DelivererFunc(func(ctx context.Context, del spool.Delivery) (spool.Receipt, error) {
		rec, err := d.Deliver(ctx, del)
		if err == nil && len(rec.Failed) > 0 {
			b.bouncePartial(del, rec)
		}
		return rec, err
	})
}

// bounce queues the notification for the dead message e.ID: every
// recipient still pending failed.
func (b *bouncer) bounce(e spool.Event) {
	if b.m != nil {
		b.m.deadOne(graphmail.ClassOf(e.Err).String())
	}
	it, raw, err := b.sp.Show(e.ID)
	if err != nil {
		b.log.Warn("bounce: cannot read the dead letter", "id", string(e.ID), "error", err.Error())
		return
	}
	reason := "permanent error"
	if it.Meta.Dead != nil {
		reason = it.Meta.Dead.Reason
	}
	rcpts := it.Envelope.To
	if len(it.Meta.Pending) > 0 {
		rcpts = it.Meta.Pending
	}
	status, diag := dsnStatus(e.Err, reason), oneLine(it.Meta.LastError)
	failed := make([]dsnRcpt, len(rcpts))
	for i, r := range rcpts {
		failed[i] = dsnRcpt{addr: r, status: status, diagnostic: diag}
	}
	b.notify(e.ID, it.Envelope.From, it.Meta.Client, it.Meta.Received, raw, failed, reason)
}

// bouncePartial queues the notification for the recipients of del that
// failed for good while others received the message.
func (b *bouncer) bouncePartial(del spool.Delivery, rec spool.Receipt) {
	failed := make([]dsnRcpt, len(rec.Failed))
	for i, f := range rec.Failed {
		failed[i] = dsnRcpt{addr: f.Address, status: dsnStatus(f.Err, ""), diagnostic: oneLine(f.Error)}
		if b.m != nil {
			b.m.failedRecipient(graphmail.ClassOf(f.Err).String())
		}
	}
	client := ""
	if it, _, err := b.sp.Show(del.ID); err == nil {
		client = it.Meta.Client
	}
	raw := del.Raw
	if raw == nil && del.Body != nil {
		// A large message: its header is all a DSN carries.
		hdr, _, err := readHeader(io.NewSectionReader(del.Body, 0, del.Body.Size()), maxPolicyHeader)
		if err != nil {
			b.log.Warn("bounce: cannot read the message's header", "id", string(del.ID), "error", err.Error())
		}
		raw = hdr
	}
	b.notify(del.ID, del.Envelope.From, client, time.Time{}, raw, failed, partialReason)
}

// partialReason is the DSN's reason for recipients refused while others
// received the message.
const partialReason = "some recipients refused it; the others received it"

// failedRecipients turns the recipients a partial delivery failed for
// good into DSN recipients.
func (b *bouncer) failedRecipients(rejected []graphmail.Rejection) []dsnRcpt {
	var out []dsnRcpt
	for _, r := range rejected {
		if graphmail.ClassOf(r.Err).Retry() {
			continue
		}
		out = append(out, dsnRcpt{addr: r.Address, status: dsnStatus(r.Err, ""), diagnostic: oneLine(r.Err.Error())})
		if b.m != nil {
			b.m.failedRecipient(graphmail.ClassOf(r.Err).String())
		}
	}
	return out
}

// notify queues a DSN about message id (its envelope sender from, its
// submitter client, raw) for the failed recipients, unless the message
// must never be bounced.
func (b *bouncer) notify(id spool.ID, from, client string, received time.Time, raw []byte, failed []dsnRcpt, reason string) {
	h := rfc5322.Parse(raw)
	msgID := h.MessageID()
	if why := noBounce(from, client, h); why != "" {
		b.log.Info("bounce: none sent", "id", string(id), "message_id", msgID, "because", why)
		return
	}
	var to []string
	seen := map[string]bool{}
	for _, a := range []string{from, b.postmaster} {
		if a == "" || b.local(a) || seen[strings.ToLower(a)] {
			continue
		}
		seen[strings.ToLower(a)] = true
		to = append(to, a)
	}
	if len(to) == 0 {
		b.log.Warn("bounce: nobody to tell: the envelope sender is not a deliverable address and serve.postmaster is not set",
			"id", string(id), "message_id", msgID, "envelope_from", from)
		return
	}
	dsn := buildDSN(dsnInput{
		from: b.sender, to: to, host: b.host, now: b.now(), received: received,
		rcpts: failed, reason: reason, header: raw[:h.End], messageID: rfc5322.NewMessageID(b.host), origID: msgID,
	})
	bid, err := b.enqueue(spool.Envelope{From: b.sender, To: to}, dsn)
	if err != nil {
		b.log.Error("bounce: could not queue the notification", "id", string(id), "error", err.Error())
		return
	}
	if b.m != nil {
		b.m.bounceOne()
	}
	b.log.Info("bounce: queued", "id", string(id), "message_id", msgID, "bounce_id", string(bid), "recipients", len(to), "failed", len(failed))
}

// noBounce says why a dead message gets no notification, or "".
func noBounce(from, client string, h *rfc5322.Header) string {
	switch {
	case client == dsnClient:
		return "it is a bounce itself"
	case from == "":
		return "its envelope sender is null"
	}
	if f, ok := h.Get("Auto-Submitted"); ok && !strings.EqualFold(f.Value(), "no") {
		return "it is auto-submitted (" + oneLine(f.Value()) + ")"
	}
	if f, ok := h.Get("Content-Type"); ok {
		mt, params, err := mime.ParseMediaType(f.Value())
		if err == nil && mt == "multipart/report" && strings.EqualFold(params["report-type"], "delivery-status") {
			return "it is a delivery status notification"
		}
	}
	return ""
}

// dsnStatus is the RFC 3463 status of a failure: the server's own
// enhanced code when it gave one, 4.4.7 (delivery time expired) for a
// message that aged out, else by class.
func dsnStatus(err error, reason string) string {
	var se *smtpfallback.SMTPError
	if errors.As(err, &se) && se.EnhancedCode[0] == 5 {
		return fmt.Sprintf("%d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	if strings.HasPrefix(reason, "max age") {
		return "4.4.7"
	}
	switch graphmail.ClassOf(err) {
	case graphmail.BadMessage:
		return "5.6.0"
	case graphmail.UnknownRecipient:
		return "5.1.1"
	case graphmail.NeedsOperator:
		return "5.7.1"
	}
	return "5.0.0"
}

type dsnInput struct {
	from              string
	to                []string
	rcpts             []dsnRcpt
	host              string
	now, received     time.Time
	reason            string
	header            []byte
	messageID, origID string
}

// dsnRcpt is one failed recipient of a DSN, with its own status.
type dsnRcpt struct {
	addr, status, diagnostic string
}

// buildDSN renders the multipart/report: a human-readable part, the
// machine-readable message/delivery-status, and the original header
// (text/rfc822-headers) — never the original body.
func buildDSN(in dsnInput) []byte {
	var rb [12]byte
	_, _ = rand.Read(rb[:])
	boundary := "graphmail-dsn-" + hex.EncodeToString(rb[:])
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	w("From: Mail Delivery System <%s>", in.from)
	w("To: %s", strings.Join(in.to, ", "))
	w("Subject: Undelivered Mail Returned to Sender")
	w("Date: %s", in.now.Format(time.RFC1123Z))
	w("Message-ID: <%s>", in.messageID)
	w("Auto-Submitted: auto-replied")
	w("MIME-Version: 1.0")
	w("Content-Type: multipart/report; report-type=delivery-status; boundary=\"%s\"", boundary)
	w("")
	w("--%s", boundary)
	w("Content-Type: text/plain; charset=utf-8")
	w("")
	w("This is the graphmail relay on %s.", in.host)
	w("")
	w("A message could not be delivered to one or more of its recipients and")
	w("was given up (%s). Its header is attached.", in.reason)
	w("")
	if in.origID != "" {
		w("Message-ID: <%s>", in.origID)
	}
	for _, r := range in.rcpts {
		w("Recipient:  %s", r.addr)
		if r.diagnostic != "" {
			w("Error:      %s", r.diagnostic)
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: message/delivery-status")
	w("")
	w("Reporting-MTA: dns; %s", in.host)
	if !in.received.IsZero() {
		w("Arrival-Date: %s", in.received.Format(time.RFC1123Z))
	}
	for _, r := range in.rcpts {
		w("")
		w("Final-Recipient: rfc822; %s", r.addr)
		w("Action: failed")
		w("Status: %s", r.status)
		if r.diagnostic != "" {
			w("Diagnostic-Code: X-graphmail; %s", r.diagnostic)
		}
	}
	w("")
	w("--%s", boundary)
	w("Content-Type: text/rfc822-headers")
	w("")
	hdr := strings.ReplaceAll(strings.ReplaceAll(string(in.header), "\r\n", "\n"), "\n", "\r\n")
	b.WriteString(hdr)
	if !strings.HasSuffix(hdr, "\r\n") {
		b.WriteString("\r\n")
	}
	w("")
	w("--%s--", boundary)
	return []byte(b.String())
}

// oneLine keeps s on one line of printable text, at most 400 bytes.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400]
	}
	return s
}
