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
// Run calls a Deliverer, a one-method interface that the caller adapts to
// graphmail's client (raw MIME send with the envelope recipients as Bcc).
// List, Show, Retry, RetryAll, Purge and Stats inspect and act on the spool.
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
// Delivery is at least once. One window remains in which a message can go
// out twice: Graph (or the SMTP server) accepted it, and the process died
// or the machine lost power before the submitted record reached the disk —
// or Graph accepted it but its answer was lost (a timeout). The next Run
// delivers it again with the same Message-ID, which lets recipients' mail
// systems and people recognise the copy. The window is the time between
// Graph's 202 and one fsync; the crash test in this package measures how
// often it is hit when the process is killed at random.
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
// Enqueue, List, Show and Stats work from any process. Run holds an
// exclusive lock (flock on dir/lock), so only one daemon delivers from a
// directory; it reads queue/ again every RunOptions.ScanInterval to pick up
// messages other processes enqueued (the sendmail drop-in) and Retry or
// Purge done from another process. Purge refuses a message the calling
// process is delivering right now (ErrBusy); Retry of such a message is
// kept and applied when the attempt ends (due at once if it was
// deferred, back from the dead letters if it died). From another process they cannot see a delivery in flight,
// and its outcome may overwrite the retry, so prefer asking the daemon.
//
// Durability assumes a local file system that honours fsync (ext4, xfs,
// btrfs, zfs); network file systems are not supported.
package spool
