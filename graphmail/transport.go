package graphmail

import (
	"context"
	"net/http"
	"sync"
	"time"

	khttp "github.com/microsoft/kiota-http-go"
)

// exchange records what one Graph request saw on the wire. The SDK hides
// response headers of successful calls; the innermost transport captures them
// through the request's context.
type exchange struct {
	mu              sync.Mutex
	clientRequestID string
	reached         bool // a request of this exchange got to the transport
	status          int
	requestID       string
	retryAfter      time.Duration
}

type exchangeKey struct{}

func withExchange(ctx context.Context, x *exchange) context.Context {
	return context.WithValue(ctx, exchangeKey{}, x)
}

// recordingTransport sets client-request-id and captures the response's
// request-id, status and Retry-After.
type recordingTransport struct {
	next http.RoundTripper
	now  func() time.Time
}

func (t recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x, _ := req.Context().Value(exchangeKey{}).(*exchange)
	if x != nil {
		req = req.Clone(req.Context())
		req.Header.Set("client-request-id", x.clientRequestID)
		x.mu.Lock()
		x.reached = true
		x.mu.Unlock()
	}
	resp, err := t.next.RoundTrip(req)
	if x != nil && resp != nil {
		x.mu.Lock()
		x.status = resp.StatusCode
		x.requestID = resp.Header.Get("request-id")
		x.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), t.now())
		x.mu.Unlock()
	}
	return resp, err
}

// newHTTPClient builds the client the Graph SDK uses: the kiota middleware
// the SDK needs, without its retry handler — graphmail retries itself, with
// one client-request-id per message, so attempts are never multiplied by two
// stacked retry layers — and without its compression handler. Graph's
// gateway does accept gzip request bodies (the fake too), but compression
// buys nothing against the 4 MB limit, which Graph applies to the decoded
// body; it cost two thirds of the client's CPU per message in
// BenchmarkSendVsRawHTTP; and upload session chunks go to an upload URL
// outside Graph that is not documented to accept it. So every request goes
// out uncompressed.
func newHTTPClient(base *http.Client, now func() time.Time) *http.Client {
	var parent http.RoundTripper = http.DefaultTransport
	timeout := 100 * time.Second
	if base != nil {
		if base.Transport != nil {
			parent = base.Transport
		}
		if base.Timeout != 0 {
			timeout = base.Timeout
		}
	}
	transport := khttp.NewCustomTransportWithParentTransport(
		recordingTransport{next: parent, now: now},
		khttp.NewUserAgentHandler(),
		khttp.NewRedirectHandler(),
		khttp.NewParametersNameDecodingHandler(),
	)
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
