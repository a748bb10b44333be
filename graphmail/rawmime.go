package graphmail

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// SendMIME sends an existing RFC 5322 message through Graph's MIME sendMail
// (base64 of the message, Content-Type text/plain), byte for byte. extra
// are recipients beyond the message's To, Cc and Bcc headers (envelope
// recipients, Bcc given on a command line): Graph delivers only to
// recipients in the header, so those not already there are added to the Bcc
// header — the only change made — and Graph removes Bcc from the copies it
// delivers. Graph always keeps MIME sends in Sent Items.
//
// Over MaxRequestBytes (about 2.9 MB of MIME) the message goes to the
// fallback if the policy allows one and it is within MaxFallbackBytes, else
// SendMIME fails with a *TooLargeError: an upload session cannot carry raw
// MIME. The fallback gets the message exactly as given (no added Bcc) with
// every recipient, extra ones included, in the envelope.
func (c *Client) SendMIME(ctx context.Context, raw []byte, extra []Address) (Result, error) {
	withBcc, rcpts, msgID, err := prepareMIME(raw, extra)
	if err != nil {
		return Result{}, err
	}
	start := c.now()
	if err := c.gov.Pace(ctx, c.cfg.GraphEndpoint, c.cfg.Sender); err != nil {
		return Result{}, fmt.Errorf("graphmail: waiting for the mailbox's message rate: %w", err)
	}
	fallback := func(reason string) (Result, error) {
		if int64(len(raw)) > c.maxFallback() {
			return Result{}, newTooLargeError(base64Len(int64(len(withBcc))), int64(len(raw)), c.maxFallback(), false)
		}
		return c.fallbackRaw(ctx, raw, rcpts, reason, msgID)
	}
	if c.cfg.Policy == PolicyOnly {
		res, err := fallback("")
		c.audit(msgID, rcpts, res, err, start)
		return res, err
	}
	if size := base64Len(int64(len(withBcc))); size > MaxRequestBytes {
		var res Result
		if c.cfg.Policy == PolicyNever || c.cfg.Fallback == nil {
			err = newTooLargeError(size, int64(len(raw)), 0, false)
		} else {
			res, err = fallback(fmt.Sprintf("message too large for graph (%s request)", formatBytes(size)))
		}
		c.audit(msgID, rcpts, res, err, start)
		return res, err
	}
	res, err := c.sendMIMEGraph(ctx, withBcc, msgID)
	return c.afterGraph(ctx, msgID, rcpts, res, err, start, fallback)
}

// sendMIMEGraph posts a prepared MIME message to sendMail.
func (c *Client) sendMIMEGraph(ctx context.Context, mimeMsg []byte, msgID string) (Result, error) {
	res := Result{Path: "graph", MessageID: msgID}
	if c.adapter == nil {
		return res, errors.New("graphmail: no Graph credential configured")
	}
	ri := abs.NewRequestInformation()
	ri.Method = abs.POST
	u, _ := url.Parse(c.base + c.mailboxPath() + "/sendMail")
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	ri.SetStreamContentAndContentType([]byte(base64.StdEncoding.EncodeToString(mimeMsg)), "text/plain")
	res.Bytes = len(ri.Content)
	x := &exchange{clientRequestID: uuid.NewString()}
	res.ClientRequestID = x.clientRequestID
	_, err := c.callGraph(ctx, x, ri, false, &res)
	return res, err
}

// MIMERequest returns the body SendMIME would post to Graph for raw and
// extra (the base64 of the message with the added Bcc header), for a dry run.
func MIMERequest(raw []byte, extra []Address) ([]byte, error) {
	withBcc, _, _, err := prepareMIME(raw, extra)
	if err != nil {
		return nil, err
	}
	return []byte(base64.StdEncoding.EncodeToString(withBcc)), nil
}

// prepareMIME parses raw's header, adds the extra recipients not already in
// To, Cc or Bcc to its Bcc header, and returns that message, every
// recipient address (the envelope) and the Message-ID without brackets.
func prepareMIME(raw []byte, extra []Address) (withBcc []byte, rcpts []string, msgID string, err error) {
	h := rfc5322.Parse(raw)
	if d, ok := h.Defect(rfc5322.NotAField); ok {
		return nil, nil, "", &MessageError{Field: "MIME", Problem: fmt.Sprintf("not an RFC 5322 message: line %d of the header is not a field", bytes.Count(raw[:d.Offset], []byte("\n"))+1)}
	}
	seen := map[string]bool{}
	for _, f := range h.Fields {
		var k string
		switch {
		case f.Is("To"):
			k = "To"
		case f.Is("Cc"):
			k = "Cc"
		case f.Is("Bcc"):
			k = "Bcc"
		default:
			continue
		}
		v := f.Value()
		if v == "" {
			continue
		}
		list, err := mail.ParseAddressList(v)
		if err != nil {
			return nil, nil, "", &MessageError{Field: "MIME." + k, Problem: "not a list of addresses: " + err.Error()}
		}
		for _, a := range list {
			if !seen[strings.ToLower(a.Address)] {
				seen[strings.ToLower(a.Address)] = true
				rcpts = append(rcpts, a.Address)
			}
		}
	}
	var add []string
	for i, a := range extra {
		if err := validateMIMEAddress(fmt.Sprintf("extra[%d]", i), a); err != nil {
			return nil, nil, "", err
		}
		if !seen[strings.ToLower(a.Address)] {
			seen[strings.ToLower(a.Address)] = true
			rcpts = append(rcpts, a.Address)
			add = append(add, a.Address)
		}
	}
	if len(rcpts) == 0 {
		return nil, nil, "", &MessageError{Field: "MIME", Problem: "no recipients: the message has no To, Cc or Bcc and none were given"}
	}
	return rfc5322.AddBcc(raw, add), rcpts, h.MessageID(), nil
}
