package graphmail

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// GraphError is a request to Microsoft Graph that failed: an error response,
// or no response at all (StatusCode 0, network failure or timeout in Err).
type GraphError struct {
	// StatusCode is the HTTP status, 0 when no response arrived.
	StatusCode int
	// Code is Graph's error code, for example "ErrorAccessDenied".
	Code string
	// Message is Graph's error message.
	Message string
	// RequestID and ClientRequestID identify the request for Microsoft support.
	RequestID, ClientRequestID string
	// RetryAfter is the delay Graph asked for (429, 503), or 0.
	RetryAfter time.Duration
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the transport error when no response arrived.
	Err error
}

// Error implements error.
func (e *GraphError) Error() string {
	if e.StatusCode == 0 {
		return fmt.Sprintf("graphmail: graph request failed after %d attempt(s): %v", e.Attempts, e.Err)
	}
	s := fmt.Sprintf("graphmail: graph answered %d", e.StatusCode)
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request-id " + e.RequestID + ")"
	}
	return s
}

// Unwrap returns the transport error, if any.
func (e *GraphError) Unwrap() error { return e.Err }

// Temporary reports whether the same request may succeed later: no response
// (network, timeout), 429 throttling, or a 5xx server failure.
func (e *GraphError) Temporary() bool {
	switch {
	case e.StatusCode == 0:
		return !errors.Is(e.Err, context.Canceled)
	case e.StatusCode == http.StatusTooManyRequests, e.StatusCode >= 500:
		return true
	}
	return false
}

// AuthFailure reports whether Graph refused the app's token or permissions
// (401, or 403 ErrorAccessDenied).
func (e *GraphError) AuthFailure() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// TooLarge reports whether Graph refused the message for its size.
func (e *GraphError) TooLarge() bool {
	return e.StatusCode == http.StatusRequestEntityTooLarge || e.Code == "ErrorMessageSizeExceeded"
}

// Class classifies the failure (see [ClassOf]).
func (e *GraphError) Class() Class {
	switch {
	case e.Temporary():
		return Transient
	case e.Code == "ErrorSendAsDenied":
		// About this message's From, not the app: other messages go through.
		return BadMessage
	case e.AuthFailure():
		return NeedsOperator
	case e.Code == "MailboxNotEnabledForRESTAPI":
		return Refused
	case e.MailboxProblem():
		return Misconfigured
	case e.StatusCode == http.StatusBadRequest || e.TooLarge():
		return BadMessage
	case e.StatusCode == 0:
		// Canceled by the caller: the message was not sent; try again.
		return Transient
	}
	return Refused
}

// MailboxProblem reports whether the sending mailbox does not exist or cannot
// be used through the REST API.
func (e *GraphError) MailboxProblem() bool {
	return e.Code == "ErrorInvalidUser" || e.Code == "MailboxNotEnabledForRESTAPI" || e.Code == "ResourceNotFound" && e.StatusCode == http.StatusNotFound
}

// parseRetryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
