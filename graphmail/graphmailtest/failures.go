package graphmailtest

import (
	"net/http"
	"time"
)

// Endpoints a Failure can target.
const (
	// EndpointGraph is the Graph host (sendMail).
	EndpointGraph = "graph"
	// EndpointToken is the login host's token endpoint.
	EndpointToken = "token"
	// EndpointUpload is an upload session's URL (the PUT of a chunk).
	EndpointUpload = "upload"
)

// Failure is an error the server returns instead of handling a request,
// before any other check. Queue it with Server.Fail.
type Failure struct {
	// Endpoint is EndpointGraph, EndpointToken or EndpointUpload.
	Endpoint string
	// Status is the HTTP status. Zero means 503 for Graph, and for the
	// token endpoint the status Entra ID uses for Code (400 if unknown).
	Status int
	// Code is the Graph error code (e.g. "ApplicationThrottled") or the
	// AADSTS code (e.g. "AADSTS7000222"). Empty means a code fitting
	// Status.
	Code string
	// Message replaces the error message (the text after "AADSTSnnn: "
	// for the token endpoint).
	Message string
	// RetryAfter is sent verbatim as the Retry-After header, if set.
	RetryAfter string
	// Delay holds the response back this long. If the client gives up
	// first (or the server closes), no response is written.
	Delay time.Duration
	// Drop (EndpointGraph and EndpointUpload) cuts the connection instead
	// of answering, like a network failure. On EndpointUpload the first half of the chunk is stored
	// first, so the session expects a range the client did not choose.
	Drop bool
	// Times is how many matching requests fail; 0 means 1, negative means
	// all of them until ClearFailures.
	Times int
}

type queuedFailure struct {
	Failure
	left int // remaining uses; negative is unlimited
}

// Fail queues a failure for the next matching request(s). Failures for
// the same endpoint are used in the order queued.
func (s *Server) Fail(f Failure) {
	q := &queuedFailure{Failure: f, left: f.Times}
	if q.left == 0 {
		q.left = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, q)
}

// ClearFailures drops all queued failures.
func (s *Server) ClearFailures() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = nil
}

// takeFailure consumes one use of the first failure queued for endpoint.
func (s *Server) takeFailure(endpoint string) *Failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.failures {
		if q.Endpoint != endpoint {
			continue
		}
		f := q.Failure
		if q.left > 0 {
			q.left--
			if q.left == 0 {
				s.failures = append(s.failures[:i:i], s.failures[i+1:]...)
			}
		}
		return &f
	}
	return nil
}

// delay waits d, reporting false if the client went away or the server is
// closing, in which case nothing should be written.
func (s *Server) delay(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-s.ctx.Done():
		return false
	}
}

// aadError renders a token-endpoint failure.
func (f *Failure) aadError(clientID string) aadError {
	var e aadError
	if n, ok := parseAADSTS(f.Code); ok {
		e = newAADError(n, clientID)
	} else {
		e = aadError{status: http.StatusServiceUnavailable, err: "temporarily_unavailable",
			desc: "The service is temporarily unavailable."}
		if f.Code != "" {
			e.err = f.Code
		}
	}
	if f.Status != 0 {
		e.status = f.Status
	}
	if f.Message != "" {
		e.desc = f.Message
	}
	return e
}

// graphError renders a Graph failure.
func (f *Failure) graphError() graphError {
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	code, msg := f.Code, f.Message
	if code == "" || msg == "" {
		dc, dm := defaultGraphError(status)
		code, msg = cmpOr(code, dc), cmpOr(msg, dm)
	}
	return graphError{status: status, code: code, message: msg}
}

// defaultGraphError gives a code and message Graph uses for status.
func defaultGraphError(status int) (code, message string) {
	switch status {
	case http.StatusTooManyRequests:
		return "ApplicationThrottled", "Application is over its MailboxConcurrency limit."
	case http.StatusServiceUnavailable:
		return "ServiceNotAvailable", "The service is temporarily unavailable. Please retry later."
	case http.StatusGatewayTimeout:
		return "GatewayTimeout", "The gateway did not receive a response in time."
	case http.StatusInternalServerError:
		return "InternalServerError", "An internal server error occurred."
	case http.StatusUnauthorized:
		return "InvalidAuthenticationToken", "Access token validation failure."
	case http.StatusForbidden:
		return "ErrorAccessDenied", "Access is denied. Check credentials and try again."
	case http.StatusNotFound:
		return "ErrorInvalidUser", "The requested user is invalid."
	}
	return "ErrorInvalidRequest", http.StatusText(status)
}
