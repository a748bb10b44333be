package graphmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Policy chooses the path a message takes.
type Policy string

// The policies, matching the config key smtp.fallback and the --via flag.
const (
	// PolicyAuto sends through Graph and falls back when Graph cannot take
	// the message for a reason the fallback may not share.
	PolicyAuto Policy = "auto"
	// PolicyNever sends through Graph only.
	PolicyNever Policy = "never"
	// PolicyOnly sends through the fallback only.
	PolicyOnly Policy = "only"
)

// Fallback is another path for a message that Graph could not take: the
// envelope sender (the sending mailbox), the envelope recipients (including
// Bcc) and the RFC 5322 message without a Bcc header. It returns the
// server's final reply. smtpfallback.Client is adapted to it by the command.
type Fallback interface {
	Send(ctx context.Context, from string, to []string, mime []byte) (reply string, err error)
}

// PartialFallback is a Fallback that can deliver to the recipients its
// server accepts when it refuses others (Envelope.Partial): it returns the
// refused ones, each with its error, and fails only when none was accepted.
type PartialFallback interface {
	Fallback
	SendPartial(ctx context.Context, from string, to []string, mime []byte) (reply string, rejected []Rejection, err error)
}

// FallbackError is returned when the fallback was tried and failed too. It
// wraps the fallback's error; GraphErr holds Graph's (nil with PolicyOnly).
type FallbackError struct {
	GraphErr error
	Reason   string
	Err      error
}

// Error implements error.
func (e *FallbackError) Error() string {
	if e.GraphErr == nil {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v; fallback after %s failed too: %v", e.GraphErr, e.Reason, e.Err)
}

// Unwrap returns the fallback's error.
func (e *FallbackError) Unwrap() error { return e.Err }

// outgoing is one message on its way, whichever way it came in: a Message
// (Send) or an RFC 5322 message as given (SendMIME). deliver routes it.
type outgoing struct {
	id    string   // Message-ID without angle brackets
	rcpts []string // the envelope: every recipient
	msg   *Message // from Send, validated; nil from SendMIME
	raw   []byte   // from SendMIME: the message as given, for the fallback
	graph []byte   // from SendMIME: raw with the added Bcc, for Graph
	// narrowed: the header names recipients the envelope does not
	// (SendEnvelope), so SMTP, which delivers to the envelope alone, is
	// tried first when allowed, and graph holds the narrowed header.
	narrowed bool
	queueID  string // Envelope.QueueID
	partial  bool   // Envelope.Partial
	// body, when set, is the body of a raw message read in place
	// (SendEnvelopeFile): raw and graph then hold only its header.
	body *io.SectionReader
}

// subject returns o's Subject for the audit line, decoded from RFC 2047.
func (o *outgoing) subject() string {
	if o.msg != nil {
		return o.msg.Subject
	}
	f, ok := rfc5322.Parse(o.raw).Get("Subject")
	if !ok {
		return ""
	}
	v := f.Value()
	if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
		v = d
	}
	return v
}

// Send delivers m: through Graph, and, depending on the policy, through the
// fallback. m.MessageID is filled in first and kept for every path, so a
// message that reaches both paths (Graph accepted it but the answer was
// lost) can be recognised as one.
//
// The size of the Graph request is computed first. Up to MaxRequestBytes
// the message goes in one sendMail request. A larger one takes the upload
// session path when Config.LargeMessages is LargeUploadSession; otherwise it
// goes to the fallback if the policy allows one and it is within
// Config.MaxFallbackBytes; otherwise Send fails with a *TooLargeError.
func (c *Client) Send(ctx context.Context, m *Message) (Result, error) {
	if err := c.prepare(m); err != nil {
		return Result{}, err
	}
	return c.deliver(ctx, &outgoing{id: m.MessageID, rcpts: addresses(m.Recipients()), msg: m})
}

// SendMIME sends an existing RFC 5322 message through Graph's MIME sendMail
// (base64 of the message, Content-Type text/plain), byte for byte. extra
// are recipients beyond the message's To, Cc and Bcc headers (envelope
// recipients, Bcc given on a command line): Graph delivers only to
// recipients in the header, so those not already there are added to the Bcc
// header — the only change made — and Graph removes Bcc from the copies it
// delivers. Graph always keeps MIME sends in Sent Items.
//
// Over MaxRequestBytes (about 2.9 MB of MIME), with Config.LargeMessages
// set to LargeUploadSession, the message goes as a draft created from its
// MIME with its largest attachment parts taken out (boundaries intact, so
// the rest is byte for byte the message), then those parts are added to
// the draft — through upload sessions in 3.75 MiB chunks decoded from the
// message as they go, or posted whole when under 2 MiB — with their file
// names (RFC 2231 and RFC 2047 decoded), and inline parts with their
// Content-ID; then the draft is sent, or deleted when that fails. A
// message that no such cut brings within the limit (a large text body),
// or any large message without LargeUploadSession, goes to the fallback
// if the policy allows one and it is within MaxFallbackBytes, else
// SendMIME fails with a *TooLargeError. The fallback gets the message as
// given without its Bcc and Resent-Bcc fields (no added Bcc either), with
// every recipient, extra ones included, in the envelope.
func (c *Client) SendMIME(ctx context.Context, raw []byte, extra []Address) (Result, error) {
	o, err := prepareMIME(raw, extra)
	if err != nil {
		return Result{}, err
	}
	return c.deliver(ctx, o)
}

// MIMERequest returns the body SendMIME would post to Graph for raw and
// extra (the base64 of the message with the added Bcc header), for a dry run.
func MIMERequest(raw []byte, extra []Address) ([]byte, error) {
	o, err := prepareMIME(raw, extra)
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(o.graph)), nil
}

// prepareMIME parses raw's header, adds the extra recipients not already in
// To, Cc or Bcc to its Bcc header for Graph, and collects every recipient
// address (the envelope) and the Message-ID.
func prepareMIME(raw []byte, extra []Address) (*outgoing, error) {
	h := rfc5322.Parse(raw)
	if d, ok := h.Defect(rfc5322.NotAField); ok {
		return nil, &MessageError{Field: "MIME", Problem: fmt.Sprintf("not an RFC 5322 message: line %d of the header is not a field", bytes.Count(raw[:d.Offset], []byte("\n"))+1)}
	}
	var rcpts []string
	seen := map[string]bool{}
	err := headerRecipients(h, func(name string, list []*mail.Address, err error) error {
		if err != nil {
			return &MessageError{Field: "MIME." + name, Problem: "not a list of addresses: " + err.Error()}
		}
		for _, a := range list {
			if !seen[strings.ToLower(a.Address)] {
				seen[strings.ToLower(a.Address)] = true
				rcpts = append(rcpts, a.Address)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var add []string
	for i, a := range extra {
		if err := validateMIMEAddress(fmt.Sprintf("extra[%d]", i), a); err != nil {
			return nil, err
		}
		if !seen[strings.ToLower(a.Address)] {
			seen[strings.ToLower(a.Address)] = true
			rcpts = append(rcpts, a.Address)
			add = append(add, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return nil, &MessageError{Field: "MIME", Problem: "no recipients: the message has no To, Cc or Bcc and none were given"}
	}
	// Over SMTP the recipients are in the envelope: Bcc and Resent-Bcc
	// never travel in the bytes (as Postfix's cleanup strips them).
	return &outgoing{id: h.MessageID(), rcpts: rcpts, raw: rfc5322.RemoveFields(raw, "Bcc", "Resent-Bcc"), graph: rfc5322.AddBcc(raw, add)}, nil
}

// deliver is the one send pipeline: pace the mailbox's messages, wait for
// its shared budget, size the Graph request, route by policy × size ×
// large-message mode to a transport, and write the audit line.
func (c *Client) deliver(ctx context.Context, o *outgoing) (Result, error) {
	start := c.now()
	if err := c.gov.pace(ctx, c.mailbox, c.interval, c.now, c.sleep); err != nil {
		return Result{}, fmt.Errorf("graphmail: waiting for the mailbox's message rate: %w", err)
	}
	if c.budget != nil {
		release, err := c.budget.Acquire(ctx, c.mailbox)
		if err != nil {
			return Result{}, fmt.Errorf("graphmail: waiting for the mailbox's shared budget: %w", err)
		}
		defer release()
	}
	var size int64
	if c.policy != PolicyOnly {
		var err error
		if size, err = c.requestSize(o); err != nil {
			return Result{}, err
		}
	}
	res, err := c.route(ctx, o, size)
	res.Mailbox = c.sender
	c.audit(o, res, err, start)
	return res, err
}

// route picks the transport for o, whose sendMail request would have size
// bytes, and hands a failed Graph send on to the fallback when the policy
// and the failure allow it.
func (c *Client) route(ctx context.Context, o *outgoing, size int64) (Result, error) {
	var (
		res Result
		err error
	)
	if o.narrowed && c.policy == PolicyAuto && c.fallback != nil && !c.overFallback(o) {
		const reason = "the header names recipients the envelope does not"
		fres, ferr := c.sendFallback(ctx, o, reason)
		if ferr == nil {
			return fres, nil
		}
		if cl := ClassOf(ferr); (cl == BadMessage || cl == UnknownRecipient) && !pathLimit(ferr) {
			return fres, ferr
		}
		c.log.Info("smtp could not take it; sending through graph to the envelope recipients only", "message_id", o.id, "error", ferr)
	}
	kind, plan, perr := c.pick(o, size)
	if perr != nil {
		return Result{MessageID: o.id}, perr
	}
	switch kind {
	case routeFallback:
		return c.sendFallback(ctx, o, "")
	case routeGraph:
		res, err = c.sendGraph(ctx, o)
	case routeDraft:
		res, err = c.sendLarge(ctx, o.msg)
	case routeDraftMIME:
		res, err = c.sendLargeMIME(ctx, o, plan)
	default:
		return c.sendTooLarge(ctx, o, size)
	}
	if err == nil || c.policy == PolicyNever || c.fallback == nil {
		return res, err
	}
	reason, ok := fallbackReason(err)
	if !ok {
		c.log.Info("not falling back", "message_id", o.id, "error", err)
		return res, err
	}
	c.log.Info("falling back to smtp", "message_id", o.id, "reason", reason)
	fres, ferr := c.sendFallback(ctx, o, reason)
	fres.Attempts += res.Attempts
	if ferr != nil {
		var fe *FallbackError
		if errors.As(ferr, &fe) {
			fe.GraphErr = err
		}
		var tl *TooLargeError
		if errors.As(ferr, &tl) || pathLimit(ferr) {
			// Too large for the fallback, or a line it cannot carry:
			// Graph's error says more, and Graph is retried.
			return res, err
		}
	}
	return fres, ferr
}

// routeKind is the transport pick chooses for a message.
type routeKind int

const (
	// routeFallback: PolicyOnly, the fallback alone.
	routeFallback routeKind = iota
	// routeGraph: one sendMail request, Graph JSON or MIME.
	routeGraph
	// routeDraft: a Message over the request limit as a draft, its large
	// attachments through upload sessions (sendLarge).
	routeDraft
	// routeDraftMIME: a raw message over the limit cut into a draft and
	// parts (sendLargeMIME).
	routeDraftMIME
	// routeTooLarge: over the limit with no upload session: the fallback
	// if tooLarge allows it, else a *TooLargeError.
	routeTooLarge
)

// pick is route's decision, shared with Plan: policy × size × large-message
// mode. For routeDraftMIME it returns the cut of the message.
func (c *Client) pick(o *outgoing, size int64) (routeKind, *draftPlan, error) {
	switch {
	case c.policy == PolicyOnly:
		return routeFallback, nil, nil
	case size <= MaxRequestBytes:
		return routeGraph, nil, nil
	case c.large == LargeUploadSession && o.msg != nil:
		return routeDraft, nil, nil
	case c.large == LargeUploadSession:
		plan, err := c.planLargeMIME(o)
		if errors.Is(err, errNotCuttable) {
			return routeTooLarge, nil, nil
		}
		if err != nil {
			return 0, nil, err
		}
		return routeDraftMIME, plan, nil
	}
	return routeTooLarge, nil, nil
}

// fallbackReason decides whether a Graph failure may be handed to the
// fallback, and says why. It never falls back on what the fallback would
// fail too or must not bypass: bad recipients, a tenant policy denying
// access, bad input.
func fallbackReason(err error) (string, bool) {
	var ge *GraphError
	if !errors.As(err, &ge) {
		return "", false
	}
	switch {
	case ge.StatusCode == 0:
		return "graph unreachable or timed out", true
	case ge.TooLarge():
		return "message too large for graph", true
	case ge.StatusCode == http.StatusTooManyRequests:
		return "graph throttling after retries", true
	case ge.StatusCode >= 500:
		return fmt.Sprintf("graph server error %d", ge.StatusCode), true
	}
	return "", false
}

// sendGraph posts o in one sendMail request: a Message as Graph JSON, or
// as MIME when JSON cannot carry it; a raw message as given (with its
// added Bcc).
func (c *Client) sendGraph(ctx context.Context, o *outgoing) (Result, error) {
	if o.msg == nil {
		graph, err := o.whole(o.graph)
		if err != nil {
			return Result{}, err
		}
		return c.sendMail(ctx, o.id, nil, graph)
	}
	if needsMIME(o.msg) {
		raw, err := c.render(o.msg, true)
		if err != nil {
			return Result{}, err
		}
		return c.sendMail(ctx, o.id, nil, raw)
	}
	m, err := materialize(o.msg)
	if err != nil {
		return Result{}, err
	}
	return c.sendMail(ctx, o.id, m, nil)
}

// sendTooLarge handles a message over Graph's request limit that no
// upload session carries: the fallback takes it if it may and it fits.
func (c *Client) sendTooLarge(ctx context.Context, o *outgoing, reqSize int64) (Result, error) {
	reason, err := c.tooLarge(o, reqSize)
	if err != nil {
		return Result{}, err
	}
	c.log.Info("falling back to smtp", "message_id", o.id, "reason", reason)
	return c.sendFallback(ctx, o, reason)
}

// tooLarge decides for routeTooLarge: the reason to hand o to the
// fallback when it may take it, else a *TooLargeError.
func (c *Client) tooLarge(o *outgoing, reqSize int64) (string, error) {
	mimeSize, err := c.mimeSize(o)
	if err != nil {
		return "", err
	}
	if c.policy == PolicyNever || c.fallback == nil {
		return "", newTooLargeError(reqSize, mimeSize, 0, false)
	}
	if mimeSize > c.maxFallback {
		return "", newTooLargeError(reqSize, mimeSize, c.maxFallback, false)
	}
	return fmt.Sprintf("message too large for graph (%s request)", formatBytes(reqSize)), nil
}

// sendFallback hands o to the fallback: a Message rendered for SMTP
// (without Bcc), a raw message exactly as given.
func (c *Client) sendFallback(ctx context.Context, o *outgoing, reason string) (Result, error) {
	res := Result{Path: "smtp", MessageID: o.id, FallbackReason: reason}
	if c.fallback == nil {
		return res, errors.New("graphmail: no fallback configured")
	}
	size, err := c.mimeSize(o)
	if err != nil {
		return res, err
	}
	if size > c.maxFallback {
		var reqSize int64 // not computed for a Message here
		if o.msg == nil {
			reqSize = base64Len(int64(len(o.graph)) + o.bodySize())
		}
		return res, newTooLargeError(reqSize, size, c.maxFallback, false)
	}
	raw := o.raw
	if o.msg != nil {
		if raw, err = c.render(o.msg, false); err != nil {
			return res, err
		}
	} else if raw, err = o.whole(o.raw); err != nil {
		return res, err
	}
	res.Bytes = len(raw)
	var reply string
	if pf, ok := c.fallback.(PartialFallback); ok && o.partial {
		reply, res.Rejected, err = pf.SendPartial(ctx, c.sender, o.rcpts, raw)
	} else {
		reply, err = c.fallback.Send(ctx, c.sender, o.rcpts, raw)
	}
	res.Reply = reply
	res.Attempts++
	if err != nil {
		return res, &FallbackError{Reason: reason, Err: err}
	}
	return res, nil
}

// audit logs one line per message: what an operator needs, no addresses
// unless Config.LogRecipients.
func (c *Client) audit(o *outgoing, res Result, err error, start time.Time) {
	attrs := []any{"message_id", o.id}
	if o.queueID != "" {
		attrs = append(attrs, "queue_id", o.queueID)
	}
	attrs = append(attrs,
		"mailbox", c.sender,
		"recipients", len(o.rcpts),
		"path", res.Path,
		"attempts", res.Attempts,
		"latency_ms", c.now().Sub(start).Milliseconds(),
	)
	if c.logRecipients {
		attrs = append(attrs, "recipient_addresses", strings.Join(o.rcpts, ","))
	}
	if len(res.Rejected) > 0 {
		attrs = append(attrs, "rejected", len(res.Rejected))
	}
	if c.logSubject {
		attrs = append(attrs, "subject", o.subject())
	}
	if res.RequestID != "" {
		attrs = append(attrs, "request_id", res.RequestID)
	}
	if res.ClientRequestID != "" {
		attrs = append(attrs, "client_request_id", res.ClientRequestID)
	}
	if res.Reply != "" {
		attrs = append(attrs, "smtp_reply", res.Reply)
	}
	if res.FallbackReason != "" {
		attrs = append(attrs, "fallback_reason", res.FallbackReason)
	}
	if err != nil {
		c.log.Warn("send failed", append(attrs, "outcome", "failed", "error", err.Error())...)
		return
	}
	c.log.Info("sent", append(attrs, "outcome", "sent")...)
}

// addresses returns the bare addresses of list.
func addresses(list []Address) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.Address
	}
	return out
}

// headerRecipients calls fn for every non-empty To, Cc and Bcc field of h,
// in order, with the field's canonical name and its address list (or why
// it is not one); it stops at the first error fn returns.
func headerRecipients(h *rfc5322.Header, fn func(name string, list []*mail.Address, err error) error) error {
	for _, f := range h.Fields {
		var name string
		switch {
		case f.Is("To"):
			name = "To"
		case f.Is("Cc"):
			name = "Cc"
		case f.Is("Bcc"):
			name = "Bcc"
		default:
			continue
		}
		v := f.Value()
		if v == "" {
			continue
		}
		list, err := mail.ParseAddressList(v)
		if err := fn(name, list, err); err != nil {
			return err
		}
	}
	return nil
}

// pathLimit reports whether err says that the transport cannot carry
// this message at all (a line SMTP may not carry and that cannot be
// re-encoded), while another path may: the error has a PathLimit method
// reporting true.
func pathLimit(err error) bool {
	var pl interface{ PathLimit() bool }
	return errors.As(err, &pl) && pl.PathLimit()
}

// overFallback reports whether a raw message is too large for the
// fallback, which then cannot be tried first.
func (c *Client) overFallback(o *outgoing) bool {
	if o.msg != nil {
		return false
	}
	n, _ := c.mimeSize(o)
	return n > c.maxFallback
}
