package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
)

// Exit codes follow sendmail's sysexits.h, so cron, MTAs and scripts know
// whether to retry. They are part of the public interface (README).
const (
	exitOK          = 0
	exitUsage       = 64 // EX_USAGE: bad command line
	exitDataErr     = 65 // EX_DATAERR: bad message or input
	exitNoUser      = 67 // EX_NOUSER: a recipient is unknown (a local name without an alias)
	exitUnavailable = 69 // EX_UNAVAILABLE: the service refused for a lasting reason
	exitTempFail    = 75 // EX_TEMPFAIL: try again later
	exitNoPerm      = 77 // EX_NOPERM: authentication or permission denied
	exitConfig      = 78 // EX_CONFIG: configuration error
)

// exitCodes is the exit code of each failure class (graphmail.ClassOf).
var exitCodes = [...]int{
	graphmail.None:             exitOK,
	graphmail.Transient:        exitTempFail,
	graphmail.NeedsOperator:    exitNoPerm,
	graphmail.Misconfigured:    exitConfig,
	graphmail.BadMessage:       exitDataErr,
	graphmail.Usage:            exitUsage,
	graphmail.UnknownRecipient: exitNoUser,
	graphmail.Refused:          exitUnavailable,
}

// exitCode maps an error to a sysexits code through its class. Decisions
// use types and methods, never text.
func exitCode(err error) int {
	if isDoctorFailedWithoutCause(err) {
		return exitUnavailable
	}
	c := graphmail.ClassOf(err)
	if int(c) < len(exitCodes) {
		return exitCodes[c]
	}
	return exitUnavailable
}

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string      { return e.err.Error() }
func (e *usageError) Unwrap() error      { return e.err }
func (e *usageError) UsageProblem() bool { return true }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// inputError is unreadable or invalid input (a body or attachment file).
type inputError struct {
	err  error
	hint string
}

func (e *inputError) Error() string    { return e.err.Error() }
func (e *inputError) Unwrap() error    { return e.err }
func (e *inputError) BadMessage() bool { return true }

// classedError gives a failure found by the CLI itself (a doctor check) a
// class, so it maps to an exit code like any other.
type classedError struct {
	class graphmail.Class
	err   error
}

func (e *classedError) Error() string          { return e.err.Error() }
func (e *classedError) Unwrap() error          { return e.err }
func (e *classedError) Class() graphmail.Class { return e.class }

// report prints an error and its hints for people:
//
//	graphmail: error: …
//	graphmail: hint: …
//
// command is the command that failed ("graphmail sendmail"), named in the
// hint of a usage error.
func report(w io.Writer, err error, command string) {
	for _, p := range problems(err, command) {
		if p.key != "" {
			fmt.Fprintf(w, "graphmail: error: %s: %s\n", p.key, p.text)
		} else {
			fmt.Fprintf(w, "graphmail: error: %s\n", p.text)
		}
		for _, h := range p.hints {
			fmt.Fprintf(w, "graphmail: hint: %s\n", h)
		}
	}
}

// problem is one reported failure: a configuration key's problem, or an
// error with the hints for it.
type problem struct {
	key   string // the configuration key, for a config.Errors entry
	text  string
	hints []string
}

// problems splits err into what report prints: one problem per key of a
// configuration error, else the error with its hints (none after a
// doctor report, which already showed each problem with its hint).
func problems(err error, command string) []problem {
	var ce config.Errors
	if errors.As(err, &ce) {
		out := make([]problem, 0, len(ce))
		for _, e := range ce {
			p := problem{key: e.Key, text: e.Problem}
			if e.Hint != "" {
				p.hints = []string{e.Hint}
			}
			out = append(out, p)
		}
		return out
	}
	p := problem{text: strings.TrimPrefix(err.Error(), "graphmail: ")}
	var df *doctorFailed
	if !errors.As(err, &df) {
		p.hints = hintsFor(err, command)
	}
	return []problem{p}
}

func isDoctorFailedWithoutCause(err error) bool {
	var df *doctorFailed
	return errors.As(err, &df) && df.first == nil
}
