package spool

import (
	"context"
	"errors"
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
