package daemon

import (
	"context"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// NewDeliverer returns the spool's deliverer: mail.SendEnvelope, so exactly
// the envelope recipients receive the message (Graph's MIME sendMail or the
// SMTP fallback), and the failure's class deciding retry or dead letter
// (Disposition). Delivery is partial: recipients that are refused while
// others are accepted are retried alone (a temporary refusal) or reported
// as failed for a bounce.
func NewDeliverer(mail *graphmail.Client) spool.Deliverer { return spoolDeliverer{mail} }

type spoolDeliverer struct{ mail *graphmail.Client }

// Deliver implements spool.Deliverer.
func (d spoolDeliverer) Deliver(ctx context.Context, del spool.Delivery) (spool.Receipt, error) {
	raw := rfc5322.EnsureMessageID(del.Raw, del.MessageID)
	// The envelope decides who receives the message, never the header.
	// A refused recipient does not sink the message for the others: they
	// receive it, and the refused one is retried alone or bounced.
	res, err := d.mail.SendEnvelope(ctx, graphmail.Envelope{To: del.Envelope.To, Mailbox: del.Mailbox, QueueID: string(del.ID), Partial: true}, raw)
	if err != nil {
		return spool.Receipt{}, Disposition(err)
	}
	rec := spool.Receipt{Path: res.Path, RequestID: res.RequestID, Reply: res.Reply}
	rec.Deferred, rec.Failed = splitRejected(res.Rejected)
	return rec, nil
}

// splitRejected sorts the recipients a partial delivery left out into
// those to retry later and those that failed for good, by class.
func splitRejected(rejected []graphmail.Rejection) (deferred []string, failed []spool.Failure) {
	for _, r := range rejected {
		if graphmail.ClassOf(r.Err).Retry() {
			deferred = append(deferred, r.Address)
			continue
		}
		failed = append(failed, spool.Failure{Address: r.Address, Err: r.Err, Error: r.Err.Error()})
	}
	return deferred, failed
}

// Disposition decides, by the failure's class, whether a failed delivery is
// retried: only a message that can never be sent as it is goes to the dead
// letters at once; an authentication or configuration problem keeps the
// message queued until it is fixed (or spool.max_age runs out), so nothing
// is lost to an expired secret.
func Disposition(err error) error {
	if !graphmail.ClassOf(err).Retry() {
		return spool.Permanent(err)
	}
	return retryable{err}
}

// retryable marks an error as temporary for the spool.
type retryable struct{ error }

func (r retryable) Unwrap() error   { return r.error }
func (r retryable) Temporary() bool { return true }
