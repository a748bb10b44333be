package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/sendmailcompat"
)

// Exit codes follow sendmail's sysexits.h, so cron, MTAs and scripts know
// whether to retry. They are part of the public interface (README).
const (
	exitOK          = 0
	exitUsage       = 64 // EX_USAGE: bad command line
	exitDataErr     = 65 // EX_DATAERR: bad message or input
	exitUnavailable = 69 // EX_UNAVAILABLE: the service refused for a lasting reason
	exitTempFail    = 75 // EX_TEMPFAIL: try again later
	exitNoPerm      = 77 // EX_NOPERM: authentication or permission denied
	exitConfig      = 78 // EX_CONFIG: configuration error
)

// usageError is a bad command line.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Errorf(format, args...)}
}

// inputError is unreadable or invalid input (a body or attachment file).
type inputError struct {
	err  error
	hint string
}

func (e *inputError) Error() string { return e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// hinter is implemented by errors that know the next step for a person.
type hinter interface{ Hint() string }

// temporary is implemented by errors that know whether a retry may help.
type temporary interface{ Temporary() bool }

// configAADSTS are identity-platform errors that mean the configuration
// points at the wrong tenant or cloud, rather than a credential problem.
var configAADSTS = map[string]bool{"AADSTS90002": true, "AADSTS50049": true, "AADSTS900023": true, "AADSTS900382": true}

// exitCode maps an error to a sysexits code. Decisions use types, never text.
func exitCode(err error) int {
	var (
		ue  *usageError
		ie  *inputError
		ce  config.Errors
		c1  *config.Error
		me  *graphmail.MessageError
		ae  *auth.Error
		ge  *graphmail.GraphError
		tmp temporary
		sme *sendmailcompat.MessageError
		sue *sendmailcompat.UsageError
	)
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case isDoctorFailedWithoutCause(err):
		return exitUnavailable
	case errors.As(err, &ce), errors.As(err, &c1):
		return exitConfig
	case errors.As(err, &ie), errors.As(err, &me), errors.As(err, &sme):
		return exitDataErr
	case errors.As(err, &sue):
		return exitUsage
	case errors.As(err, &ae):
		switch {
		case ae.Temporary():
			return exitTempFail
		case configAADSTS[ae.Code]:
			return exitConfig
		}
		return exitNoPerm
	case errors.As(err, &ge):
		switch {
		case ge.Temporary():
			return exitTempFail
		case ge.AuthFailure():
			return exitNoPerm
		case ge.Code == "ErrorInvalidUser":
			return exitConfig
		case ge.Code == "MailboxNotEnabledForRESTAPI":
			return exitUnavailable
		case ge.StatusCode == 400 || ge.TooLarge():
			return exitDataErr
		}
		return exitUnavailable
	case smtpExitCode(err) != 0:
		return smtpExitCode(err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return exitTempFail
	case errors.As(err, &tmp) && tmp.Temporary():
		return exitTempFail
	}
	return exitUnavailable
}

// report prints an error and its hints for people:
//
//	graphmail: error: …
//	graphmail: hint: …
func report(w io.Writer, err error) {
	var ce config.Errors
	if errors.As(err, &ce) {
		for _, e := range ce {
			fmt.Fprintf(w, "graphmail: error: %s: %s\n", e.Key, e.Problem)
			if e.Hint != "" {
				fmt.Fprintf(w, "graphmail: hint: %s\n", e.Hint)
			}
		}
		return
	}
	fmt.Fprintf(w, "graphmail: error: %s\n", strings.TrimPrefix(err.Error(), "graphmail: "))
	var df *doctorFailed
	if errors.As(err, &df) {
		return // the report already showed each problem with its hint
	}
	for _, h := range hintsFor(err) {
		fmt.Fprintf(w, "graphmail: hint: %s\n", h)
	}
}

// hintsFor collects the hints of every error in err's chain, first first.
func hintsFor(err error) []string {
	var out []string
	seen := map[string]bool{}
	add := func(h string) {
		if h != "" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	var ie *inputError
	if errors.As(err, &ie) {
		add(ie.hint)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		add("run 'graphmail send --help' for usage and examples")
	}
	var c1 *config.Error
	if errors.As(err, &c1) {
		add(c1.Hint)
	}
	var ae *auth.Error
	if errors.As(err, &ae) {
		add(ae.Hint())
	}
	var ge *graphmail.GraphError
	if errors.As(err, &ge) {
		add(ge.Hint())
	}
	add(smtpHint(err))
	var h hinter
	if errors.As(err, &h) {
		add(h.Hint())
	}
	return out
}

func isDoctorFailedWithoutCause(err error) bool {
	var df *doctorFailed
	return errors.As(err, &df) && df.first == nil
}
