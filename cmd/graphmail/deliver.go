package main

import (
	"bytes"
	"context"
	"errors"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// spoolDeliverer delivers spooled messages through Graph's MIME sendMail
// (with the SMTP fallback), keeping every envelope recipient.
type spoolDeliverer struct{ mail *graphmail.Client }

// Deliver implements spool.Deliverer.
func (d spoolDeliverer) Deliver(ctx context.Context, del spool.Delivery) (spool.Receipt, error) {
	raw := withMessageID(del.Raw, del.MessageID)
	extra := make([]graphmail.Address, 0, len(del.Envelope.To))
	for _, to := range del.Envelope.To {
		extra = append(extra, graphmail.Address{Address: to})
	}
	res, err := d.mail.SendMIME(ctx, raw, extra)
	if err != nil {
		return spool.Receipt{}, spoolError(err)
	}
	return spool.Receipt{Path: res.Path, RequestID: res.RequestID, Reply: res.Reply}, nil
}

// spoolError decides, by the failure's class, whether a failed delivery is
// retried: only a message that can never be sent as it is goes to the dead
// letters at once; an authentication or configuration problem keeps the
// message queued until it is fixed (or spool.max_age runs out), so nothing
// is lost to an expired secret.
func spoolError(err error) error {
	if !graphmail.ClassOf(err).Retry() {
		return spool.Permanent(err)
	}
	return retryable{err}
}

// retryable marks an error as temporary for the spool.
type retryable struct{ error }

func (r retryable) Unwrap() error   { return r.error }
func (r retryable) Temporary() bool { return true }

// withMessageID adds a Message-ID header when raw has none, so every
// attempt carries the one the spool recorded.
func withMessageID(raw []byte, id string) []byte {
	if id == "" {
		return raw
	}
	head := raw
	if i := bytes.Index(raw, []byte("\r\n\r\n")); i >= 0 {
		head = raw[:i+2]
	} else if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		head = raw[:i+1]
	}
	for _, line := range bytes.Split(head, []byte("\n")) {
		if len(line) >= 11 && bytes.EqualFold(line[:11], []byte("message-id:")) {
			return raw
		}
	}
	out := make([]byte, 0, len(raw)+len(id)+16)
	out = append(out, "Message-ID: <"+id+">\r\n"...)
	return append(out, raw...)
}

// openSpool opens the configured spool.
func openSpool(cfg *config.Config, env *environment, a *app) (*spool.Spool, string, error) {
	dir := cfg.Spool.Dir
	sp, err := spool.Open(dir, spool.Options{DeleteDone: !cfg.Spool.KeepDone, Logger: a.log, Hostname: mailDomain(cfg.Sender)})
	if err != nil {
		var se *spool.Error
		if errors.As(err, &se) {
			return nil, dir, &config.Error{Key: "spool.dir", Problem: err.Error(), Hint: "set spool.dir to a directory this user may create and write (mode 0700)"}
		}
		return nil, dir, err
	}
	return sp, dir, nil
}
