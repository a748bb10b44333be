package graphmail

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

// SendEnvelope sends an existing RFC 5322 message to exactly the envelope
// recipients to, as an MTA does: an address that is only in the To, Cc or
// Bcc header never receives the message, an address only in the envelope
// always does. The sendmail drop-in and the relay's spool deliver with it.
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
func (c *Client) SendEnvelope(ctx context.Context, to []string, raw []byte) (Result, error) {
	o, err := prepareEnvelope(raw, to)
	if err != nil {
		return Result{}, err
	}
	return c.deliver(ctx, o)
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
	for _, f := range h.Fields {
		if !f.Is("To") && !f.Is("Cc") && !f.Is("Bcc") {
			continue
		}
		v := f.Value()
		if v == "" {
			continue
		}
		list, err := mail.ParseAddressList(v)
		if err != nil {
			narrow = true // Graph would refuse or misread it: rewrite
			continue
		}
		for _, a := range list {
			inHeader[strings.ToLower(a.Address)] = true
		}
	}
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
