package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// FlushBudget bounds the opportunistic flush a sendmail call does after
// it sent its own message: the caller (cron, PHP) never waits longer for
// other people's queued mail.
const FlushBudget = 5 * time.Second

// RunOptions are the spool's delivery rules from the configuration: the
// same retry schedule and dead-letter age for serve, queue run and the
// sendmail drop-in.
func RunOptions(cfg *config.Config) spool.RunOptions {
	return spool.RunOptions{
		Workers: cfg.Spool.Workers,
		MaxAge:  cfg.Spool.MaxAge,
		Backoff: func(attempt int) time.Duration {
			return min(cfg.Spool.RetryInterval<<min(max(attempt-1, 0), 16), time.Hour)
		},
	}
}

// Outcome is what Submit did with a message.
type Outcome string

// The outcomes of Submit.
const (
	// Sent: Microsoft 365 accepted the message.
	Sent Outcome = "sent"
	// Queued: the message is in the spool (or its maildrop) and will be
	// delivered by graphmail serve, graphmail queue run or the next
	// sendmail call.
	Queued Outcome = "queued"
)

// Submission is a message the sendmail drop-in accepted.
type Submission struct {
	// Envelope is who sends and who receives; the header never decides.
	Envelope spool.Envelope
	// Raw is the message, with its Message-ID.
	Raw []byte
	// MessageID is the message's Message-ID, for the log; "" means the
	// one in Raw's header.
	MessageID string
	// Spool queues the message without trying to send it first
	// (sendmail.spool).
	Spool bool
}

// Submit delivers one message of the sendmail drop-in and never loses it
// to a temporary problem: it sends at once (or, with Spool, only queues),
// and when sending fails for a reason waiting can fix — any class the
// spool would retry: an outage, throttling, an expired secret — it queues
// the message durably in spool.dir (through maildrop/ when this user does
// not own the spool) and reports Queued with a nil error. A message that
// can never be sent as it is (bad message, unknown recipient) returns the
// error, nothing queued. After a successful send it flushes what is queued
// for at most FlushBudget when no daemon does.
func Submit(ctx context.Context, st *setup.Stack, s Submission) (Outcome, error) {
	cfg, log := st.Config, st.Log
	if s.MessageID == "" {
		s.MessageID = rfc5322.Parse(s.Raw).MessageID()
	}
	if !s.Spool {
		res, err := st.Mail.SendEnvelope(ctx, graphmail.Envelope{To: s.Envelope.To, Partial: true}, s.Raw)
		if err == nil {
			if len(res.Rejected) > 0 {
				if err := rejected(ctx, st, s, res.Rejected); err != nil {
					return "", err
				}
			}
			flush(ctx, st)
			return Sent, nil
		}
		if !graphmail.ClassOf(err).Retry() {
			return "", err
		}
		id, qerr := queue(ctx, cfg, log, s)
		if qerr != nil {
			return "", errors.Join(err, qerr)
		}
		log.Warn("queued: sending failed for now; graphmail serve, graphmail queue run or the next sendmail call delivers it",
			"message_id", s.MessageID, "envelope_from", s.Envelope.From, "recipients", len(s.Envelope.To),
			"spool_id", string(id), "class", graphmail.ClassOf(err).String(), "error", err.Error(), "outcome", "queued")
		return Queued, nil
	}
	if limit := acceptedSize(cfg, st.Policy); int64(len(s.Raw)) > limit {
		// Queued, it could only end in the dead letters: refuse it now,
		// as the relay does with 552.
		return "", &graphmail.MessageError{Field: "message", Problem: fmt.Sprintf("%d bytes, more than the configured paths can carry (%d bytes; see serve.max_message_size, smtp.fallback, smtp.max_message_size and large_messages)", len(s.Raw), limit)}
	}
	id, err := queue(ctx, cfg, log, s)
	if err != nil {
		return "", err
	}
	log.Info("queued", "message_id", s.MessageID, "envelope_from", s.Envelope.From, "recipients", len(s.Envelope.To),
		"spool_id", string(id), "outcome", "queued")
	return Queued, nil
}

// rejected handles the recipients a partial send left out while the
// others received the message, as the spool does: those refused for now
// get a queued copy of their own, those refused for good a bounce
// (queued like any message). It fails only when neither could be queued,
// so the caller knows (exit 75) instead of the recipients silently
// missing the message.
func rejected(ctx context.Context, st *setup.Stack, s Submission, rej []graphmail.Rejection) error {
	cfg, log := st.Config, st.Log
	var later []string
	for _, r := range rej {
		if graphmail.ClassOf(r.Err).Retry() {
			later = append(later, r.Address)
		}
	}
	if len(later) > 0 {
		c := s
		c.Envelope.To = later
		id, err := queue(ctx, cfg, log, c)
		if err != nil {
			return err
		}
		log.Warn("queued for some recipients: the others received the message", "message_id", s.MessageID,
			"spool_id", string(id), "recipients", len(later), "outcome", "queued")
	}
	b := newNotifier(cfg, log, nil)
	var qerr error
	b.enqueue = func(env spool.Envelope, raw []byte) (spool.ID, error) {
		id, err := queue(ctx, cfg, log, Submission{Envelope: env, Raw: raw})
		qerr = err
		return id, err
	}
	if failed := b.failedRecipients(rej); len(failed) > 0 {
		log.Warn("some recipients refused the message; the others received it", "message_id", s.MessageID, "refused", len(failed))
		b.notify("", s.Envelope.From, "sendmail", time.Time{}, s.Raw, failed, partialReason)
	}
	return qerr
}

// queueError is a message that could not be queued: the caller should try
// again later (exit 75).
type queueError struct{ err error }

func (e *queueError) Error() string   { return "daemon: queueing the message: " + e.err.Error() }
func (e *queueError) Unwrap() error   { return e.err }
func (e *queueError) Temporary() bool { return true }

// queue writes s into the spool when this user owns it, else into its
// maildrop/ for the owner to pick up.
func queue(ctx context.Context, cfg *config.Config, log *slog.Logger, s Submission) (spool.ID, error) {
	sp, err := OpenSpool(cfg, log)
	if err == nil {
		id, err := sp.Enqueue(ctx, s.Envelope, s.Raw, spool.Meta{Client: "sendmail"})
		sp.Close()
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, os.ErrPermission) || cfg.Spool.Backend == config.SpoolNATS {
			return "", &queueError{err}
		}
	} else if cfg.Spool.Backend == config.SpoolNATS {
		return "", &queueError{err}
	}
	id, derr := spool.Drop(cfg.Spool.Dir, s.Envelope, s.Raw, spool.DropOptions{MaxSize: int(acceptedSize(cfg, ""))})
	if derr != nil {
		if err != nil {
			return "", &queueError{errors.Join(err, derr)}
		}
		return "", &queueError{derr}
	}
	return id, nil
}

// flush delivers what is due in an existing spool for at most FlushBudget,
// unless a daemon holds it (it delivers) or this user may not (the owner
// does). It never creates a spool and never fails the caller.
func flush(ctx context.Context, st *setup.Stack) {
	cfg, log := st.Config, st.Log
	if cfg.Spool.Backend == config.SpoolNATS {
		return // the relays on the stream deliver
	}
	if _, err := os.Stat(cfg.Spool.Dir); err != nil {
		return
	}
	sp, err := OpenSpool(cfg, log)
	if err != nil {
		return
	}
	defer sp.Close()
	ctx, cancel := context.WithTimeout(ctx, FlushBudget)
	defer cancel()
	o, del := newBouncer(sp, cfg, log, nil).wrap(RunOptions(cfg), NewDeliverer(st.Mail))
	o.Grace = FlushBudget
	stats, err := sp.RunOnce(ctx, del, o)
	switch {
	case errors.Is(err, spool.ErrLocked), errors.Is(err, os.ErrPermission):
		return
	case err != nil:
		log.Debug("flushing the queue failed", "error", err.Error())
		return
	}
	if stats.Submitted+stats.Deferred+stats.Dead+stats.PickedUp > 0 {
		log.Info("flushed the queue", "submitted", stats.Submitted, "deferred", stats.Deferred, "dead", stats.Dead, "queued", stats.Queued)
	}
}

// RunQueue delivers, once, everything that is due in the spool
// (graphmail queue run, sendmail -q, the queue timer). A spool a running
// graphmail serve holds is left to it: RunQueue then reports that with
// spool.ErrLocked in the returned error.
func RunQueue(ctx context.Context, st *setup.Stack) (spool.RunStats, error) {
	sp, err := OpenSpool(st.Config, st.Log)
	if err != nil {
		return spool.RunStats{}, err
	}
	defer sp.Close()
	shareBudget(st, sp)
	o, del := newBouncer(sp, st.Config, st.Log, nil).wrap(RunOptions(st.Config), NewDeliverer(st.Mail))
	return sp.RunOnce(ctx, del, o)
}
