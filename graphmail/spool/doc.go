// Package spool is graphmail's durable message queue, built like Postfix's:
// a message accepted by the SMTP relay or the sendmail drop-in is on disk
// before anyone is told it was accepted, and it leaves the queue only once
// it was handed to Microsoft Graph (or the SMTP fallback) or given up.
//
// # Use
//
//	sp, err := spool.Open("/var/spool/graphmail", spool.Options{})
//	id, err := sp.Enqueue(ctx, spool.Envelope{From: from, To: rcpts}, raw, spool.Meta{Client: "192.0.2.7"})
//	// … answer 250 only now …
//	err = sp.Run(ctx, deliverer, spool.RunOptions{Workers: 4})
//
//	// any local user, without opening the spool (the sendmail drop-in):
//	id, err := spool.Drop("/var/spool/graphmail", env, raw, spool.DropOptions{})
//
//	// deliver what is due once and return (graphmail queue run, sendmail -q):
//	stats, err := sp.RunOnce(ctx, deliverer, spool.RunOptions{})
//
// Run and RunOnce call a Deliverer, a one-method interface that the caller
// adapts to graphmail's client (raw MIME send with the envelope recipients
// as Bcc). List, Show, Retry, RetryAll, Purge and Stats inspect and act on
// the spool.
//
// # Guarantees
//
// Enqueue writes the message, its envelope and its metadata to tmp/,
// fsyncs the file, renames it into queue/ and fsyncs queue/ before it
// returns. A crash at any point before that leaves at most a file in tmp/,
// which the next Run removes; after it, the message is delivered.
//
// When a delivery succeeds, Run first writes a "submitted" record (with
// Graph's request-id or the SMTP reply) to queue/ID.meta and fsyncs it,
// then moves the message to done/ (or deletes it, Options.DeleteDone). A
// message found in the queue with a submitted record after a restart is
// finished, not delivered again. Every attempt uses the same Message-ID
// (Meta.MessageID).
//
// A disk that cannot take the record (full, failing or read-only: ENOSPC,
// EIO, EROFS) never makes a message go out again. The fact that it was
// submitted is kept in memory, and the process never hands the message to
// the Deliverer again. It starts no other delivery either (its record
// could not be written any more than this one) and takes nothing from
// maildrop/ until the record is on disk; the same holds when a deferral or
// a dead letter cannot be recorded. Meanwhile Health returns a
// *RecordError naming the cause (graphmail serve fails its readiness
// probe and sets graphmail_spool_blocked) and WriteErrors counts the
// failed writes. Run writes the waiting records again every
// RunOptions.ScanInterval, without any other retry loop, and resumes by
// itself once they are on disk. RunOnce stops starting deliveries, tries
// once more before it returns, and returns the *RecordError; a later Run
// or RunOnce of the same Spool writes the records first.
//
// Delivery is at least once. One window remains in which a message can go
// out twice: Graph (or the SMTP server) accepted it, and the process died
// or the machine lost power before the submitted record reached the disk —
// or Graph accepted it but its answer was lost (a timeout). The next Run
// delivers it again with the same Message-ID, which lets recipients' mail
// systems and people recognise the copy. The window is the time between
// Graph's 202 and one fsync, or, while the disk refuses the record, until
// it takes it: a process that ends in that time (a restart, or RunOnce
// returning its *RecordError) loses the in-memory fact, and the next run
// sends those messages, at most RunOptions.Workers of them, once more. The
// crash test in this package measures how often the window is hit when
// the process is killed at random.
//
// Failures: an error whose chain has a Temporary() bool method decides for
// itself; Permanent marks one that must not be retried; anything else is
// retried. A permanent failure, or a temporary one after RunOptions.MaxAge
// (5 days by default), moves the message to deadletter/ with its last
// error, where Retry can take it back. Temporary failures wait
// RunOptions.Backoff (exponential, 1 minute doubling to 1 hour).
//
// # Processes
//
// Enqueue, List, Show and Stats work from any process that may read and
// write the spool, Drop from any process at all. Run holds an exclusive
// lock (flock on dir/lock, and dir/daemon.lock for as long as it runs), so
// only one daemon delivers from a directory; a second Run gets ErrLocked.
// Every RunOptions.ScanInterval it takes maildrop/ into the queue and
// reads queue/ again, to pick up messages other processes enqueued and
// Retry or Purge done from another process.
//
// RunOnce takes dir/lock without waiting: ErrLocked means a Run or another
// RunOnce is delivering, and will deliver what is queued. A Run that
// starts while a RunOnce delivers waits for it; the RunOnce notices, starts
// nothing more, and returns with RunStats.Yielded once its deliveries in
// flight end. The two never deliver one message twice. Purge refuses a message the calling
// process is delivering right now, or whose record waits for the disk
// (ErrBusy); Retry of such a message is
// kept and applied when the attempt ends (due at once if it was
// deferred, back from the dead letters if it died). From another process they cannot see a delivery in flight,
// and its outcome may overwrite the retry, so prefer asking the daemon.
//
// # Submission by any local user (maildrop)
//
// Like Postfix's postdrop and pickup, a user who may not write the queue
// submits through maildrop/, and the queue owner takes the message from
// there. Open makes every directory 0700, so a new spool is its owner's
// alone (the owner and root may Drop); the administrator of a shared spool
// opens it to every local user (graphmail.tmpfiles does this for
// /var/spool/graphmail):
//
//	dir/             0711  owner   everyone may pass through, nobody else lists it
//	dir/maildrop/    3733  owner:group (the owner's group)
//	                       everyone may create files, nobody else lists them;
//	                       sticky: only a file's owner (and the queue owner)
//	                       may remove or rename it; setgid: a new file belongs
//	                       to group, so the queue owner may read it
//	dir/queue/ tmp/ done/ deadletter/ corrupt/   0700 owner
//	dir/lock, dir/daemon.lock                     0600 owner
//
// Instead of everyone, maildrop/ may admit one group of submitters (1730
// owner:submitters, like Postfix's setgid postdrop): Drop only needs the
// file it makes to end up in maildrop/'s group.
//
// Drop writes ID.tmp (O_EXCL, never through a symbolic link, mode 0640),
// fsyncs it, renames it to ID.drop and makes the rename durable (fsync of
// maildrop/ when the caller may open it, which a stranger may not: then
// syncfs(2) on Linux) before it returns. Nobody but the submitting user
// and the queue owner can read a submission, and nobody but them can
// remove it. A user can fill the disk through maildrop/ as through /tmp:
// use quotas where that matters.
//
// Run and RunOnce take maildrop/ into the queue: each ID.drop is opened
// without following a symbolic link and must be a regular file with one
// link, within Options.MaxDropSize. The only thing trusted about it is its
// owner, recorded as Meta.Client "maildrop uid=1000 user=alice"; the
// envelope and message are checked again (the size, at least one
// recipient and at most Options.MaxDropRecipients, every address free of
// control characters, white space and of <>,;"\() and a second "@", a
// header without defects). Received is the time it was taken. The message
// becomes queue/ID.msg durably before the submission is removed, and a
// submission whose ID is already in the queue (a crash in between) is only
// removed, so it is queued once. Anything else in maildrop/ is
// quarantined; *.tmp files older than an hour (a Drop that died) are
// removed.
//
// When a process running as root opens a spool whose directory belongs to
// another user, the files and directories it makes (lock files, records
// written by Retry, messages it enqueues) are given to that user, so that
// the daemon can read them.
//
// # Quarantine
//
// A file Run or RunOnce cannot use never stops them, is never retried in a
// loop and never breaks List: in queue/, a message or record that cannot
// be read, belongs to someone other than the spool's owner or root, is a
// symbolic link or not a regular file, or is corrupt or truncated; in
// maildrop/, any of these, a file with other links, too large, an invalid
// submission, or a name that is not a submission's. It is moved to
// corrupt/ (its bytes kept for an administrator; a message's record goes
// with it), reported with one WARN line naming the file and the reason and
// one Event with OutcomeQuarantined (count them for
// graphmail_spool_quarantined_total; RunStats.Quarantined counts them for
// RunOnce). A record (ID.meta) that cannot be used goes alone: its message
// is delivered with the metadata in its header, at least once. A file that
// cannot even be moved is reported once and then skipped. List and Show
// change nothing: List leaves such message files out and treats such a
// record as absent.
//
// Durability assumes a local file system that honours fsync (ext4, xfs,
// btrfs, zfs); network file systems are not supported.
package spool
