package spool

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Error is a spool operation that failed: Op is "open", "enqueue", "show",
// "retry", "purge", "list", "stats", "run" (Run and RunOnce) or "drop".
type Error struct {
	Op  string
	ID  ID
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	s := "spool: " + e.Op
	if e.ID != "" {
		s += " " + string(e.ID)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errors that Error wraps; check them with errors.Is.
var (
	// ErrNotFound means no message with that ID is in the queue or the
	// dead letters.
	ErrNotFound = errors.New("no such message")
	// ErrBusy means the message is being delivered right now.
	ErrBusy = errors.New("message is being delivered")
	// ErrLocked means another process is running deliveries on the spool.
	ErrLocked = errors.New("spool is locked by another process")

	errNoRecipients = errors.New("no envelope recipients")
	errCorrupt      = errors.New("corrupt message file")
)

// PermanentError marks a Deliverer error that retrying cannot fix (for
// example a message Graph refuses as invalid). The message goes to the
// dead letters at once.
type PermanentError struct{ Err error }

// Error implements error.
func (e *PermanentError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *PermanentError) Unwrap() error { return e.Err }

// Temporary reports false.
func (e *PermanentError) Temporary() bool { return false }

// Permanent wraps err in a *PermanentError; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// temporary decides whether a failed delivery is retried. An error that
// has a Temporary() bool method somewhere in its chain decides for itself
// (graphmail.GraphError, smtpfallback.SMTPError, PermanentError…); any
// other error is treated as temporary, because retrying until MaxAge loses
// nothing while giving up early loses mail.
func temporary(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return true
}

// canceled reports whether err is only the delivery context ending.
func canceled(err error) bool {
	return errors.Is(err, context.Canceled)
}

// RecordError reports that the spool cannot write the records of finished
// delivery attempts, for example because its file system is full
// (ENOSPC), failing (EIO) or read-only (EROFS). Health returns it, and
// RunOnce when it returns with such an outcome still unwritten. Meanwhile
// no delivery starts: a message whose submission could not be recorded is
// never handed to the Deliverer again by this process, and the next one
// could not be recorded either. Check for it with errors.As; errors.Is
// finds the file system's error (syscall.ENOSPC …) through Unwrap.
type RecordError struct {
	// Unrecorded counts the messages whose outcome (submitted, deferred or
	// dead) is known only in memory.
	Unrecorded int
	// Since is when the first of those records could not be written.
	Since time.Time
	// Err is the last write's error.
	Err error
}

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("spool: cannot record deliveries (%d unrecorded, deliveries stopped): %v", e.Unrecorded, e.Err)
}

// Unwrap returns the file system's error.
func (e *RecordError) Unwrap() error { return e.Err }

// Temporary reports true: the spool resumes by itself once a record can
// be written.
func (e *RecordError) Temporary() bool { return true }
