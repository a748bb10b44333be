package graphmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
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
// envelope sender, the envelope recipients (including Bcc) and the RFC 5322
// message without a Bcc header. It returns the server's final reply.
// smtpfallback.Client is adapted to it by the command.
type Fallback interface {
	Send(ctx context.Context, from string, to []string, mime []byte) (reply string, err error)
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
	start := c.now()
	if err := c.gov.Pace(ctx, c.cfg.GraphEndpoint, c.cfg.Sender); err != nil {
		return Result{}, fmt.Errorf("graphmail: waiting for the mailbox's message rate: %w", err)
	}
	if c.cfg.Policy == PolicyOnly {
		res, err := c.sendFallback(ctx, m, "")
		c.audit(m.MessageID, addresses(m.Recipients()), res, err, start)
		return res, err
	}
	size, err := c.requestSize(m)
	if err != nil {
		return Result{}, err
	}
	var res Result
	switch {
	case size <= MaxRequestBytes:
		full, err2 := materialize(m)
		if err2 != nil {
			return Result{}, err2
		}
		res, err = c.sendGraph(ctx, full)
	case c.cfg.LargeMessages == LargeUploadSession:
		res, err = c.sendLarge(ctx, m)
	default:
		res, err = c.sendTooLarge(ctx, m, size)
		c.audit(m.MessageID, addresses(m.Recipients()), res, err, start)
		return res, err
	}
	return c.afterGraph(ctx, m.MessageID, addresses(m.Recipients()), res, err, start, func(reason string) (Result, error) {
		return c.sendFallback(ctx, m, reason)
	})
}

// afterGraph hands a failed Graph send to the fallback when the policy and
// the failure allow it, and writes the audit line.
func (c *Client) afterGraph(ctx context.Context, msgID string, rcpts []string, res Result, err error, start time.Time, fallback func(reason string) (Result, error)) (Result, error) {
	if err == nil || c.cfg.Policy == PolicyNever || c.cfg.Fallback == nil {
		c.audit(msgID, rcpts, res, err, start)
		return res, err
	}
	reason, ok := fallbackReason(err)
	if !ok {
		c.log.Info("not falling back", "message_id", msgID, "error", err)
		c.audit(msgID, rcpts, res, err, start)
		return res, err
	}
	c.log.Info("falling back to smtp", "message_id", msgID, "reason", reason)
	fres, ferr := fallback(reason)
	fres.Attempts += res.Attempts
	if ferr != nil {
		var fe *FallbackError
		if errors.As(ferr, &fe) {
			fe.GraphErr = err
		}
		var tl *TooLargeError
		if errors.As(ferr, &tl) {
			// Too large for the fallback: Graph's error says more.
			fres, ferr = res, err
		}
	}
	c.audit(msgID, rcpts, fres, ferr, start)
	return fres, ferr
}

// sendTooLarge handles a message over Graph's request limit without an
// upload session: the fallback takes it if it may and it fits.
func (c *Client) sendTooLarge(ctx context.Context, m *Message, reqSize int64) (Result, error) {
	mimeSize, err := c.mimeSize(m, false)
	if err != nil {
		return Result{}, err
	}
	if c.cfg.Policy == PolicyNever || c.cfg.Fallback == nil {
		return Result{}, newTooLargeError(reqSize, mimeSize, 0, false)
	}
	if mimeSize > c.maxFallback() {
		return Result{}, newTooLargeError(reqSize, mimeSize, c.maxFallback(), false)
	}
	reason := fmt.Sprintf("message too large for graph (%s request)", formatBytes(reqSize))
	c.log.Info("falling back to smtp", "message_id", m.MessageID, "reason", reason)
	return c.sendFallback(ctx, m, reason)
}

func (c *Client) maxFallback() int64 {
	if c.cfg.MaxFallbackBytes > 0 {
		return c.cfg.MaxFallbackBytes
	}
	return DefaultMaxFallbackBytes
}

func (c *Client) sendFallback(ctx context.Context, m *Message, reason string) (Result, error) {
	res := Result{Path: "smtp", MessageID: m.MessageID, FallbackReason: reason}
	if c.cfg.Fallback == nil {
		return res, errors.New("graphmail: no fallback configured")
	}
	if size, err := c.mimeSize(m, false); err != nil {
		return res, err
	} else if size > c.maxFallback() {
		return res, newTooLargeError(0, size, c.maxFallback(), false)
	}
	full, err := materialize(m)
	if err != nil {
		return res, err
	}
	raw, err := RenderMIME(full, MIMEOptions{DefaultFrom: Address{Address: c.cfg.Sender}, Now: c.now, Hostname: c.hostname()})
	if err != nil {
		return res, err
	}
	return c.fallbackRaw(ctx, raw, addresses(m.Recipients()), reason, m.MessageID)
}

// fallbackRaw hands a rendered message and its envelope to the fallback.
func (c *Client) fallbackRaw(ctx context.Context, raw []byte, to []string, reason, msgID string) (Result, error) {
	res := Result{Path: "smtp", MessageID: msgID, FallbackReason: reason, Bytes: len(raw)}
	if c.cfg.Fallback == nil {
		return res, errors.New("graphmail: no fallback configured")
	}
	reply, err := c.cfg.Fallback.Send(ctx, c.cfg.Sender, to, raw)
	res.Reply = reply
	res.Attempts++
	if err != nil {
		return res, &FallbackError{Reason: reason, Err: err}
	}
	return res, nil
}

// audit logs one line per message: what an operator needs, no addresses.
func (c *Client) audit(msgID string, recipients []string, res Result, err error, start time.Time) {
	attrs := []any{
		"message_id", msgID,
		"sender", c.cfg.Sender,
		"recipients", len(recipients),
		"path", res.Path,
		"attempts", res.Attempts,
		"latency_ms", c.now().Sub(start).Milliseconds(),
	}
	if c.cfg.LogRecipients {
		attrs = append(attrs, "recipient_addresses", strings.Join(recipients, ","))
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
