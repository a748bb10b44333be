package smtpfallback

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/emersion/go-smtp"
)

// Stages of the SMTP conversation, as reported in [SMTPError.Stage] and
// [NetError.Stage].
const (
	StageConnect  = "connect"  // dial, greeting, EHLO
	StageStartTLS = "starttls" // STARTTLS command and TLS handshake
	StageAuth     = "auth"     // AUTH XOAUTH2
	StageMail     = "mail"     // RSET and MAIL FROM
	StageRcpt     = "rcpt"     // RCPT TO
	StageData     = "data"     // DATA, the message, the final reply
)

var (
	// ErrSTARTTLSUnavailable means the server did not offer STARTTLS, so the
	// client refused to authenticate. It comes wrapped in a [*TLSError].
	ErrSTARTTLSUnavailable = errors.New("smtpfallback: server does not offer STARTTLS; refusing to authenticate over plain text")

	// ErrClosed is returned by [Client.Send] after [Client.Close].
	ErrClosed = errors.New("smtpfallback: client is closed")

	// ErrInvalidEnvelope is wrapped by errors about a bad [Envelope]: no
	// sender, no recipients, or an address with CR, LF, '<' or '>'.
	ErrInvalidEnvelope = errors.New("smtpfallback: invalid envelope")

	// ErrEmptyMessage is returned by [Client.Send] for an empty message.
	ErrEmptyMessage = errors.New("smtpfallback: empty message")

	// ErrSMTPUTF8Unsupported means an envelope address is not ASCII and the
	// server does not offer SMTPUTF8.
	ErrSMTPUTF8Unsupported = errors.New("smtpfallback: envelope address is not ASCII and the server does not offer SMTPUTF8")
)

// SMTPError is a reply from the server that ended the attempt.
type SMTPError struct {
	// Code is the three-digit reply code, e.g. 535.
	Code int
	// EnhancedCode is the RFC 3463 status code, e.g. {5, 7, 3}; all zero if
	// the server sent none.
	EnhancedCode [3]int
	// Message is the reply text after the codes. Lines of a multi-line reply
	// are joined with "\n".
	Message string
	// Stage is the part of the conversation that failed: one of the Stage
	// constants.
	Stage string
	// Recipient is the address a RCPT TO was rejected for (Stage "rcpt").
	Recipient string
	// FreshToken is set when AUTH failed even with a token fetched with
	// forceRefresh=true: the credentials or the tenant set-up are wrong, not a
	// stale cache.
	FreshToken bool
}

// Error formats the reply as "smtpfallback: 535 5.7.3 Authentication
// unsuccessful (auth)". It never contains the token or the SASL string.
func (e *SMTPError) Error() string {
	var b strings.Builder
	b.WriteString("smtpfallback: ")
	b.WriteString(strconv.Itoa(e.Code))
	if e.EnhancedCode != [3]int{} {
		fmt.Fprintf(&b, " %d.%d.%d", e.EnhancedCode[0], e.EnhancedCode[1], e.EnhancedCode[2])
	}
	if e.Message != "" {
		b.WriteByte(' ')
		b.WriteString(strings.ReplaceAll(e.Message, "\n", " "))
	}
	b.WriteString(" (")
	b.WriteString(e.Stage)
	if e.Recipient != "" {
		b.WriteString(" <" + e.Recipient + ">")
	}
	if e.FreshToken {
		b.WriteString(", with a freshly fetched token")
	}
	b.WriteByte(')')
	return b.String()
}

// Temporary reports whether the reply was a 4xx (try again later) rather
// than a 5xx (permanent).
func (e *SMTPError) Temporary() bool { return e.Code/100 == 4 }

// AuthFailure reports whether AUTH was rejected with 535 (5.7.3, 5.7.8,
// 5.7.139, ...): the token, the mailbox or the tenant set-up is wrong.
func (e *SMTPError) AuthFailure() bool { return e.Stage == StageAuth && e.Code == 535 }

// BadMessage reports whether the server refused this message for good
// rather than the session: a permanent RCPT TO rejection, or 552 (too
// large) after DATA. Other messages may still go through.
func (e *SMTPError) BadMessage() bool {
	return !e.Temporary() && (e.Stage == StageRcpt || e.Stage == StageData && e.Code == 552)
}

// AuthDisabled reports whether AUTH was rejected with 535 5.7.139: SMTP AUTH
// (SmtpClientAuthentication) is disabled for the tenant or the mailbox.
func (e *SMTPError) AuthDisabled() bool {
	return e.AuthFailure() && e.EnhancedCode == [3]int{5, 7, 139}
}

// TLSError means a protected channel could not be set up: the server does
// not offer STARTTLS (Err is [ErrSTARTTLSUnavailable]), refused it (Err is a
// [*SMTPError]), or the handshake or certificate verification failed (Err is
// the crypto/tls or crypto/x509 error, e.g. a *tls.CertificateVerificationError).
type TLSError struct {
	Err error
}

// Error describes the TLS failure.
func (e *TLSError) Error() string {
	return "smtpfallback: tls: " + strings.TrimPrefix(e.Err.Error(), "smtpfallback: ")
}

// Unwrap returns the underlying error.
func (e *TLSError) Unwrap() error { return e.Err }

// Temporary reports whether retrying later may help: only when the server
// refused STARTTLS with a 4xx reply.
func (e *TLSError) Temporary() bool {
	var se *SMTPError
	return errors.As(e.Err, &se) && se.Temporary()
}

// NetError is a failure to dial, read or write, a timeout, or the caller's
// context ending. It is always temporary.
type NetError struct {
	// Stage is the part of the conversation that was interrupted.
	Stage string
	// Err is the net, os or context error.
	Err error
}

// Error describes the failure.
func (e *NetError) Error() string { return "smtpfallback: " + e.Stage + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *NetError) Unwrap() error { return e.Err }

// Temporary always reports true: the network or the server may do better
// next time.
func (e *NetError) Temporary() bool { return true }

// Timeout reports whether a deadline (dial, command, data or the context's)
// expired.
func (e *NetError) Timeout() bool {
	var ne net.Error
	return errors.Is(e.Err, os.ErrDeadlineExceeded) ||
		errors.Is(e.Err, context.DeadlineExceeded) ||
		(errors.As(e.Err, &ne) && ne.Timeout())
}

// TokenError means the [TokenSource] failed. errors.As reaches the
// provider's own error through Unwrap.
type TokenError struct {
	// Forced is true if the failing call asked for a fresh token.
	Forced bool
	// Err is the TokenSource's error.
	Err error
}

// Error describes the failure.
func (e *TokenError) Error() string {
	what := "get token"
	if e.Forced {
		what = "refresh token"
	}
	return "smtpfallback: " + what + ": " + e.Err.Error()
}

// Unwrap returns the TokenSource's error.
func (e *TokenError) Unwrap() error { return e.Err }

// Temporary reports what the TokenSource's error reports through a
// Temporary() bool method, and false if it has none.
func (e *TokenError) Temporary() bool {
	var t interface{ Temporary() bool }
	return errors.As(e.Err, &t) && t.Temporary()
}

// Temporary reports whether err, or an error it wraps, says that trying
// again later may succeed.
func Temporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// wrapErr turns an error from go-smtp or the network into one of ours.
func wrapErr(ctx context.Context, stage string, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return &NetError{Stage: stage, Err: ctx.Err()}
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return &SMTPError{Code: se.Code, EnhancedCode: se.EnhancedCode, Message: se.Message, Stage: stage}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return fromTextproto(te, stage)
	}
	return &NetError{Stage: stage, Err: err}
}

// fromTextproto converts a reply read with net/textproto (the plain-text
// part before STARTTLS) the way go-smtp does.
func fromTextproto(te *textproto.Error, stage string) *SMTPError {
	e := &SMTPError{Code: te.Code, Message: te.Msg, Stage: stage}
	code, rest, ok := strings.Cut(te.Msg, " ")
	if !ok {
		return e
	}
	parts := strings.Split(code, ".")
	if len(parts) != 3 {
		return e
	}
	var enh [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return e
		}
		enh[i] = n
	}
	e.EnhancedCode = enh
	e.Message = strings.ReplaceAll(rest, "\n"+code+" ", "\n")
	return e
}

// tlsHandshakeErr classifies an error from a TLS handshake: certificate and
// protocol problems become *TLSError, I/O trouble *NetError.
func tlsHandshakeErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &NetError{Stage: StageStartTLS, Err: ctx.Err()}
	}
	var (
		cve *tls.CertificateVerificationError
		rhe tls.RecordHeaderError
		ae  tls.AlertError
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		oe  *net.OpError
	)
	switch {
	case errors.As(err, &cve), errors.As(err, &rhe), errors.As(err, &ae),
		errors.As(err, &uae), errors.As(err, &he), errors.As(err, &cie):
		return &TLSError{Err: err}
	case errors.As(err, &oe) && oe.Op == "remote error":
		// The server sent a TLS alert.
		return &TLSError{Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) {
		return &NetError{Stage: StageStartTLS, Err: err}
	}
	return &TLSError{Err: err}
}

// connGone reports whether err means the connection cannot carry another
// command.
func connGone(err error) bool {
	var se *SMTPError
	if errors.As(err, &se) {
		return se.Code == 421
	}
	var ne *NetError
	return errors.As(err, &ne)
}

// redact removes secrets a misbehaving server might have echoed back.
func redact(err error, secrets ...string) {
	var se *SMTPError
	if !errors.As(err, &se) {
		return
	}
	for _, s := range secrets {
		if s != "" {
			se.Message = strings.ReplaceAll(se.Message, s, "[REDACTED]")
		}
	}
}

// LineLengthError means the message has a line over the 998 octets SMTP
// allows that [Client.Send] cannot re-encode without changing what the
// message says: a header field line with no white space to fold it at, a
// long line inside multipart/signed (re-encoding would break the
// signature), or one in a part whose Content-Transfer-Encoding is unknown.
// Nothing was sent. The message cannot go over SMTP as it is; it is
// permanent.
type LineLengthError struct {
	// Line is the number of the offending line in the message as given,
	// counting from 1.
	Line int
	// Length is the line's length in octets, without its line ending.
	Length int
	// Reason says why the line could not be re-encoded.
	Reason string
}

// Error describes the line and why it could not be re-encoded.
func (e *LineLengthError) Error() string {
	return fmt.Sprintf("smtpfallback: message line %d is %d octets, over SMTP's limit of 998, and cannot be re-encoded: %s", e.Line, e.Length, e.Reason)
}

// BadMessage always reports true: this message cannot be sent over SMTP,
// other messages may.
func (e *LineLengthError) BadMessage() bool { return true }

// PathLimit always reports true: SMTP cannot carry this message, but a
// path without SMTP's line limit (Graph, which takes it as base64) can.
func (e *LineLengthError) PathLimit() bool { return true }
