package graphmail

import "context"

// Class is what a failure means for whoever handles it: the CLI's exit
// code, the spool's "retry, hold or dead-letter" and the relay's reply are
// all tables over it, so every path decides alike.
type Class int

// The classes, from the most to the least hopeful.
const (
	// None is the class of a nil error.
	None Class = iota
	// Transient means trying again later may succeed: the network, a
	// timeout, throttling or a failure on the service's side.
	Transient
	// NeedsOperator means the credential or a permission was refused: an
	// administrator must act (a new secret, admin consent, an access
	// policy). Queued mail waits for the fix.
	NeedsOperator
	// Misconfigured means the configuration cannot work: a wrong tenant or cloud,
	// a sender mailbox that does not exist, an unusable setting.
	Misconfigured
	// BadMessage means this message can never be sent as it is (an invalid
	// address, a size no path takes, a From the mailbox may not send as),
	// while other messages may go through.
	BadMessage
	// Usage means the caller asked for something malformed: a bad command
	// line or argument list.
	Usage
	// Refused means the service refused for a lasting reason that is not
	// this message's fault (a mailbox that cannot use the REST API, a
	// permanent SMTP reply). Failures that nothing in the chain classifies
	// count as Refused.
	Refused
)

var classNames = [...]string{
	None: "none", Transient: "transient", NeedsOperator: "needs-operator", Misconfigured: "config",
	BadMessage: "bad-message", Usage: "usage", Refused: "refused",
}

// String returns the class's name, for example "transient".
func (c Class) String() string {
	if c >= 0 && int(c) < len(classNames) {
		return classNames[c]
	}
	return "refused"
}

// ClassOf classifies err. It walks err's chain (through Unwrap() error and
// Unwrap() []error) and lets the first error that knows decide:
//
//   - a Class() Class method (this package's errors) decides outright;
//   - otherwise the first of these methods that returns true:
//     UsageProblem() → [Usage], ConfigProblem() → [Misconfigured],
//     BadMessage() → [BadMessage], AuthFailure() → [NeedsOperator],
//     Temporary() → [Transient].
//
// The leaf packages (auth, smtpfallback, spool, relay, sendmailcompat,
// config) implement these small method sets without importing this one.
// An error whose Temporary() returns false, with nothing more specific
// below it, is [Refused]; so is an error nothing classifies. Reaching
// context.Canceled or context.DeadlineExceeded first means [Transient]:
// the caller gave up, the message may be tried again.
func ClassOf(err error) Class {
	if err == nil {
		return None
	}
	if c, ok := classOf(err, 0); ok {
		return c
	}
	return Refused
}

// maxClassDepth bounds the walk, so a cyclic Unwrap cannot hang it.
const maxClassDepth = 64

func classOf(err error, depth int) (Class, bool) {
	if err == nil || depth > maxClassDepth {
		return None, false
	}
	if err == context.Canceled || err == context.DeadlineExceeded {
		return Transient, true
	}
	if c, ok := err.(interface{ Class() Class }); ok {
		if cl := c.Class(); cl != None {
			return cl, true
		}
	}
	if x, ok := err.(interface{ UsageProblem() bool }); ok && x.UsageProblem() {
		return Usage, true
	}
	if x, ok := err.(interface{ ConfigProblem() bool }); ok && x.ConfigProblem() {
		return Misconfigured, true
	}
	if x, ok := err.(interface{ BadMessage() bool }); ok && x.BadMessage() {
		return BadMessage, true
	}
	if x, ok := err.(interface{ AuthFailure() bool }); ok && x.AuthFailure() {
		return NeedsOperator, true
	}
	tmp, saysTemporary := err.(interface{ Temporary() bool })
	if saysTemporary && tmp.Temporary() {
		return Transient, true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if c, ok := classOf(u.Unwrap(), depth+1); ok {
			return c, true
		}
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			if c, ok := classOf(e, depth+1); ok {
				return c, true
			}
		}
	}
	if saysTemporary {
		// Permanent, and nothing below says more.
		return Refused, true
	}
	return None, false
}

// Retry reports whether a queue should keep a message that failed with
// class c and try it again later: everything but [BadMessage] and [Usage],
// which no amount of waiting fixes. A credential or configuration problem
// keeps the message queued until it is fixed.
func (c Class) Retry() bool {
	return c != BadMessage && c != Usage
}
