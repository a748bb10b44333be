package config

import "strings"

// Error is one configuration problem: the key it concerns, what is wrong and
// how to fix it. Neither Problem nor Hint ever contains a configured value,
// so an Error is safe to print and log even when the value is a secret (or a
// secret pasted into the wrong key).
type Error struct {
	// Key is the dotted, lower-case configuration key ("smtp.port"), the
	// name of an unknown GRAPHMAIL_* environment variable, or "config" for
	// problems with the configuration file itself.
	Key string
	// Problem says what is wrong, lower case, no final period.
	Problem string
	// Hint says how to fix it; it may be empty.
	Hint string
	// Source is where the offending value came from ("flag", "env",
	// "file", "azure-env", "default"; with the variable name or file path
	// where that helps, e.g. "env GRAPHMAIL_SMTP_PORT"); empty when the
	// problem is a missing value. It is not part of Error().
	Source string
	// Err is the underlying cause, if any (for example an *fs.PathError),
	// so that errors.Is(err, fs.ErrNotExist) works.
	Err error
}

// Error returns "<key>: <problem> — <hint>" (without " — <hint>" when there
// is no hint).
func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Key + ": " + e.Problem
	}
	return e.Key + ": " + e.Problem + " — " + e.Hint
}

// Unwrap returns the underlying cause, or nil.
func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem Load found, in a stable order: file and
// environment problems first, then keys in the order of the key table (a
// configuration file that cannot be used is reported alone). Load
// returns it as its error; use errors.As with a *Errors to get them all, or
// with a **Error to get the first.
type Errors []*Error

// Error returns the problems, one per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems as a list so that errors.As and errors.Is look
// at each of them.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, err := range e {
		out[i] = err
	}
	return out
}
