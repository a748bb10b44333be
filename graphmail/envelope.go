package graphmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"net/url"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// Envelope is what an MTA knows about a message besides its bytes: who
// receives it, which mailbox sends it, and the queue's name for it.
type Envelope struct {
	// To lists the recipients (RCPT TO); at least one. Only they receive
	// the message, whatever its header says.
	To []string
	// Mailbox is the mailbox that sends the message
	// (users/{Mailbox}/sendMail, and the SMTP fallback's MAIL FROM); ""
	// means Config.Sender. Its own message rate and in-flight budget apply.
	Mailbox string
	// QueueID is the queue's name for the message (a spool id), added to
	// the audit line; "" adds nothing.
	QueueID string
	// Partial delivers to the recipients that can be delivered to when
	// some cannot, as an MTA does: the others are reported in
	// Result.Rejected, each with its error, and the send succeeds. Without
	// Partial a refused recipient fails the whole message and nothing is
	// sent (what a command-line user expects).
	Partial bool
}

// Rejection is a recipient that Partial delivery left out, and why. The
// error's class (ClassOf) says whether trying again later may help.
type Rejection struct {
	Address string
	Err     error
}

// SendEnvelope sends an existing RFC 5322 message to exactly the envelope
// recipients env.To, as an MTA does: an address that is only in the To, Cc
// or Bcc header never receives the message, an address only in the
// envelope always does. The sendmail drop-in and the relay's spool deliver
// with it.
//
// Graph delivers to the recipients in the header and cannot be told
// otherwise. Envelope recipients the header lacks are added to its Bcc
// (Graph removes Bcc from the copies it delivers), which is exact. When the
// header names an address the envelope does not (or cannot be read):
//
//   - with the SMTP fallback allowed (PolicyAuto), the message goes over SMTP
//     first, exactly as written (SMTP delivers to the envelope only);
//   - otherwise, or when SMTP cannot take it now, it goes through Graph with
//     a header narrowed to the envelope: To and Cc keep only envelope
//     addresses (a field left empty is dropped), and the envelope addresses
//     in neither go to Bcc. Recipients then see only envelope addresses in
//     To and Cc.
//
// Bcc and Resent-Bcc never leave over SMTP (the recipients are in the
// envelope), and Resent-Bcc never reaches Graph.
//
// With env.Partial, an envelope address that is not an address is
// rejected alone; when Graph refuses the recipients as a whole
// (ErrorInvalidRecipients, which does not say which one) the message is
// sent once per recipient, so only the refused ones are left out.
func (c *Client) SendEnvelope(ctx context.Context, env Envelope, raw []byte) (Result, error) {
	c, err := c.ForMailbox(env.Mailbox)
	if err != nil {
		return Result{}, err
	}
	var rejected []Rejection
	to := env.To
	if env.Partial {
		to = nil
		for i, a := range env.To {
			if err := validateMIMEAddress(fmt.Sprintf("envelope[%d]", i), Address{Address: a}); err != nil {
				rejected = append(rejected, Rejection{Address: a, Err: &RecipientError{Address: a, Err: err}})
				continue
			}
			to = append(to, a)
		}
		if len(to) == 0 {
			return Result{Rejected: rejected}, rejected[0].Err
		}
	}
	o, err := prepareEnvelope(raw, to)
	if err != nil {
		return Result{}, err
	}
	o.queueID, o.partial = env.QueueID, env.Partial
	res, err := c.deliver(ctx, o)
	if err != nil && env.Partial && len(o.rcpts) > 1 && invalidRecipients(err) {
		res, err = c.sendEach(ctx, env, raw, o.rcpts, err)
	}
	res.Rejected = append(rejected, res.Rejected...)
	return res, err
}

// invalidRecipients reports whether Graph refused a message's recipients
// as a whole.
func invalidRecipients(err error) bool {
	var ge *GraphError
	return errors.As(err, &ge) && ge.StatusCode == http.StatusBadRequest && ge.Code == "ErrorInvalidRecipients"
}

// sendEach sends raw once per recipient after Graph refused them together
// (first), so the recipients Graph accepts receive it. The first delivered
// copy's Result is returned, with the refused recipients in Rejected; when
// every copy fails, the first error.
func (c *Client) sendEach(ctx context.Context, env Envelope, raw []byte, rcpts []string, first error) (Result, error) {
	c.log.Info("graph refused the recipients together; sending one copy per recipient", "queue_id", env.QueueID, "recipients", len(rcpts))
	var (
		out       Result
		delivered bool
		firstErr  error
	)
	for _, a := range rcpts {
		o, err := prepareEnvelope(raw, []string{a})
		if err == nil {
			o.queueID = env.QueueID
			var res Result
			res, err = c.deliver(ctx, o)
			if err == nil {
				if !delivered {
					out, delivered = res, true
				} else {
					out.Attempts += res.Attempts
				}
				continue
			}
		}
		if firstErr == nil {
			firstErr = err
		}
		out.Rejected = append(out.Rejected, Rejection{Address: a, Err: &RecipientError{Address: a, Err: err}})
	}
	if !delivered {
		return Result{Rejected: out.Rejected}, firstErr
	}
	return out, nil
}

// RecipientError is the failure of one recipient of a message (see
// Envelope.Partial). Its class is its cause's.
type RecipientError struct {
	Address string
	Err     error
}

// Error implements error.
func (e *RecipientError) Error() string { return fmt.Sprintf("recipient %s: %v", e.Address, e.Err) }

// Unwrap returns the cause.
func (e *RecipientError) Unwrap() error { return e.Err }

// ForMailbox returns a Client that sends as mailbox (users/{mailbox}),
// sharing c's credential, transports, fallback and settings, with the
// mailbox's own message rate and in-flight budget; "" or c's sender
// returns c. Probe on it checks that the app may send as that mailbox.
func (c *Client) ForMailbox(mailbox string) (*Client, error) {
	if mailbox == "" || strings.EqualFold(mailbox, c.sender) {
		return c, nil
	}
	if err := validateMIMEAddress("mailbox", Address{Address: mailbox}); err != nil {
		return nil, err
	}
	cc := *c
	cc.sender = mailbox
	cc.mailbox = mailboxKey(c.endpoint, mailbox)
	api := *c.api
	api.mailbox = "/users/" + url.PathEscape(mailbox)
	cc.api = &api
	return &cc, nil
}

// prepareEnvelope builds the outgoing message of SendEnvelope.
func prepareEnvelope(raw []byte, to []string) (*outgoing, error) {
	h := rfc5322.Parse(raw)
	if d, ok := h.Defect(rfc5322.NotAField); ok {
		return nil, &MessageError{Field: "MIME", Problem: fmt.Sprintf("not an RFC 5322 message: the header has a line that is not a field (at byte %d)", d.Offset)}
	}
	env := map[string]bool{}
	var rcpts []string
	for i, a := range to {
		if err := validateMIMEAddress(fmt.Sprintf("envelope[%d]", i), Address{Address: a}); err != nil {
			return nil, err
		}
		k := strings.ToLower(a)
		if !env[k] {
			env[k] = true
			rcpts = append(rcpts, a)
		}
	}
	if len(rcpts) == 0 {
		return nil, &MessageError{Field: "envelope", Problem: "no recipients"}
	}
	// Compare the header's recipients with the envelope.
	inHeader := map[string]bool{}
	narrow := false
	_ = headerRecipients(h, func(_ string, list []*mail.Address, err error) error {
		if err != nil {
			narrow = true // Graph would refuse or misread it: rewrite
			return nil
		}
		for _, a := range list {
			inHeader[strings.ToLower(a.Address)] = true
		}
		return nil
	})
	for k := range inHeader {
		if !env[k] {
			narrow = true
		}
	}
	smtp := rfc5322.RemoveFields(raw, "Bcc", "Resent-Bcc")
	graph := rfc5322.RemoveFields(raw, "Resent-Bcc")
	if narrow {
		graph = narrowToEnvelope(graph, env, rcpts, h.EOL)
	} else {
		// Only envelope recipients the header lacks (Bcc given to
		// sendmail, RCPT TO): Graph delivers exactly the envelope with them
		// added to Bcc, which it removes from the copies it delivers.
		var add []string
		for _, a := range rcpts {
			if !inHeader[strings.ToLower(a)] {
				add = append(add, a)
			}
		}
		graph = rfc5322.AddBcc(graph, add)
	}
	return &outgoing{id: h.MessageID(), rcpts: rcpts, raw: smtp, graph: graph, narrowed: narrow}, nil
}

// narrowToEnvelope rewrites To and Cc to the envelope addresses they hold
// and puts the other envelope addresses in a new Bcc.
func narrowToEnvelope(raw []byte, env map[string]bool, rcpts []string, eol string) []byte {
	shown := map[string]bool{}
	out := rfc5322.Rewrite(raw, func(f *rfc5322.Field) (string, bool) {
		switch {
		case f.Is("Bcc"):
			return "", true
		case f.Is("To"), f.Is("Cc"):
		default:
			return "", false
		}
		list, err := mail.ParseAddressList(f.Value())
		if err != nil {
			return "", true
		}
		var keep []string
		for _, a := range list {
			k := strings.ToLower(a.Address)
			if env[k] && !shown[k] {
				shown[k] = true
				keep = append(keep, a.String())
			}
		}
		if len(keep) == 0 {
			return "", true
		}
		return f.Name + ": " + strings.Join(keep, ","+eol+" "), true
	})
	var bcc []string
	for _, a := range rcpts {
		if !shown[strings.ToLower(a)] {
			bcc = append(bcc, a)
		}
	}
	return rfc5322.AddBcc(out, bcc)
}
