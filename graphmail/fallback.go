package graphmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
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
func (c *Client) Send(ctx context.Context, m *Message) (Result, error) {
	if err := c.prepare(m); err != nil {
		return Result{}, err
	}
	start := c.now()
	if c.cfg.Policy == PolicyOnly {
		res, err := c.sendFallback(ctx, m, "")
		c.audit(m, res, err, start)
		return res, err
	}
	res, err := c.sendGraph(ctx, m)
	if err == nil || c.cfg.Policy == PolicyNever || c.cfg.Fallback == nil {
		c.audit(m, res, err, start)
		return res, err
	}
	reason, ok := fallbackReason(err)
	if !ok {
		c.log.Info("not falling back", "message_id", m.MessageID, "error", err)
		c.audit(m, res, err, start)
		return res, err
	}
	c.log.Info("falling back to smtp", "message_id", m.MessageID, "reason", reason)
	fres, ferr := c.sendFallback(ctx, m, reason)
	fres.Attempts += res.Attempts
	if ferr != nil {
		var fe *FallbackError
		if errors.As(ferr, &fe) {
			fe.GraphErr = err
		}
	}
	c.audit(m, fres, ferr, start)
	return fres, ferr
}

func (c *Client) sendFallback(ctx context.Context, m *Message, reason string) (Result, error) {
	res := Result{Path: "smtp", MessageID: m.MessageID, FallbackReason: reason}
	if c.cfg.Fallback == nil {
		return res, errors.New("graphmail: no fallback configured")
	}
	raw, err := RenderMIME(m, MIMEOptions{DefaultFrom: Address{Address: c.cfg.Sender}, Now: c.now, Hostname: c.hostname()})
	if err != nil {
		return res, err
	}
	res.Bytes = len(raw)
	to := make([]string, 0, len(m.To)+len(m.Cc)+len(m.Bcc))
	for _, a := range m.Recipients() {
		to = append(to, a.Address)
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
func (c *Client) audit(m *Message, res Result, err error, start time.Time) {
	attrs := []any{
		"message_id", m.MessageID,
		"sender", c.cfg.Sender,
		"recipients", len(m.To) + len(m.Cc) + len(m.Bcc),
		"path", res.Path,
		"attempts", res.Attempts,
		"latency_ms", c.now().Sub(start).Milliseconds(),
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
