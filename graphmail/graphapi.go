package graphmail

// This file is graphmail's one seam to the Microsoft Graph SDK (kiota and
// msgraph-sdk-go): the request adapter and its HTTP middleware, request
// building, sending with retries, and the mapping of SDK errors to
// *GraphError. graphjson.go builds the SDK's message models; no other
// file imports the SDK.

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	kauth "github.com/microsoft/kiota-authentication-azure-go"
	khttp "github.com/microsoft/kiota-http-go"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	textserialization "github.com/microsoft/kiota-serialization-text-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// graphAPI reaches one mailbox's Graph endpoints through the SDK.
type graphAPI struct {
	adapter *khttp.NetHttpRequestAdapter // nil without a credential
	base    string                       // the endpoint with /v1.0
	mailbox string                       // /me or /users/{sender}
}

var errNoCredential = errors.New("graphmail: no Graph credential configured")

// newGraphAPI builds the SDK adapter for endpoint (without the version).
// Only the endpoint's host gets a token: kiota silently sends no
// Authorization header to hosts off that list.
func newGraphAPI(endpoint, mailbox, scope string, cred azcore.TokenCredential, base *http.Client, now func() time.Time) (*graphAPI, error) {
	g := &graphAPI{base: endpoint + "/v1.0", mailbox: mailbox}
	if cred == nil {
		return g, nil
	}
	u, _ := url.Parse(endpoint) // checked by New
	authProvider, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cred, []string{scope}, []string{u.Hostname()})
	if err != nil {
		return nil, fmt.Errorf("graphmail: %w", err)
	}
	parse := absser.NewParseNodeFactoryRegistry()
	parse.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
	parse.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextParseNodeFactory()
	ser := absser.NewSerializationWriterFactoryRegistry()
	ser.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
	ser.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextSerializationWriterFactory()
	adapter, err := khttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(authProvider, parse, ser, newHTTPClient(base, now))
	if err != nil {
		return nil, fmt.Errorf("graphmail: %w", err)
	}
	adapter.SetBaseUrl(g.base)
	g.adapter = adapter
	return g, nil
}

// request builds a Graph request with an optional body of content type
// ctype; path is relative to the mailbox.
func (g *graphAPI) request(method, path string, body []byte, ctype string) *abs.RequestInformation {
	ri := abs.NewRequestInformation()
	ri.Method = abs.POST
	switch method {
	case http.MethodDelete:
		ri.Method = abs.DELETE
	case http.MethodGet:
		ri.Method = abs.GET
	}
	u, _ := url.Parse(g.base + g.mailbox + path)
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	if body != nil {
		ri.SetStreamContentAndContentType(body, ctype)
	}
	return ri
}

// sendMail posts one sendMail request: m as Graph JSON, or, when mime is
// set, the base64 of that MIME message.
func (c *Client) sendMail(ctx context.Context, msgID string, m *Message, mime []byte) (Result, error) {
	res := Result{Path: "graph", MessageID: msgID}
	if c.api.adapter == nil {
		return res, errNoCredential
	}
	var ri *abs.RequestInformation
	if mime != nil {
		ri = c.api.request(http.MethodPost, "/sendMail", []byte(base64.StdEncoding.EncodeToString(mime)), "text/plain")
	} else {
		body, err := graphBody(m, c.saveSent)
		if err != nil {
			return res, err
		}
		endpoint := c.api.base + c.api.mailbox + "/sendMail"
		ri, err = users.NewItemSendMailRequestBuilder(endpoint, c.api.adapter).ToPostRequestInformation(ctx, body, nil)
		if err != nil {
			return res, fmt.Errorf("graphmail: building the request: %w", err)
		}
	}
	res.Bytes = len(ri.Content)
	x := newExchange()
	res.ClientRequestID = x.clientRequestID
	_, err := c.callGraph(ctx, x, ri, false, &res)
	return res, err
}

// Probe checks, without sending mail and with no permission beyond
// Mail.Send, that Graph accepts the app's token for the sender mailbox: it
// posts a sendMail request that has no recipients. Graph checks the token,
// the Mail.Send permission (and any access policy) and the mailbox before
// the message, so the expected answer is 400 ErrorInvalidRecipients, which
// Probe reports as success. Any other failure comes back as *GraphError,
// or as the credential's own error (an *auth.Error) when no token could be
// had.
func (c *Client) Probe(ctx context.Context) error {
	if c.api.adapter == nil {
		return errNoCredential
	}
	endpoint := c.api.base + c.api.mailbox + "/sendMail"
	ri, err := users.NewItemSendMailRequestBuilder(endpoint, c.api.adapter).ToPostRequestInformation(ctx, probeBody(), nil)
	if err != nil {
		return err
	}
	x := newExchange()
	err = c.api.adapter.SendNoContent(withExchange(ctx, x), ri, graphErrorMappings)
	if err == nil {
		return nil
	}
	x.mu.Lock()
	reached := x.reached
	x.mu.Unlock()
	if !reached {
		return err // the credential's own error: no request left
	}
	ge := graphError(err, x)
	ge.ClientRequestID = x.clientRequestID
	ge.Attempts = 1
	if ge.StatusCode == 400 && ge.Code == "ErrorInvalidRecipients" {
		return nil
	}
	return ge
}

// graphErrorMappings turns every error response into an ODataError.
var graphErrorMappings = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// callGraph sends ri through the SDK adapter with the retry policy: the same
// client-request-id (x) on every attempt, each attempt holding one of the
// mailbox's in-flight slots (not the waits between attempts). With want it
// returns the response body. res.Attempts and res.RequestID are updated
// (attempts add up across the calls of one message). Errors are
// *GraphError, or the credential's own error when no token could be had.
func (c *Client) callGraph(ctx context.Context, x *exchange, ri *abs.RequestInformation, want bool, res *Result) ([]byte, error) {
	start := c.now()
	refreshed := false
	for attempt := 1; ; attempt++ {
		res.Attempts++
		x.mu.Lock()
		x.reached = false
		x.mu.Unlock()
		body, err := c.send(ctx, x, ri, want)
		x.mu.Lock()
		res.RequestID = x.requestID
		reached := x.reached
		x.mu.Unlock()
		if err == nil {
			return body, nil
		}
		if !reached {
			if ctx.Err() != nil {
				// Cancelled while waiting for a slot or a token.
				return nil, &GraphError{Err: ctx.Err(), Attempts: attempt, ClientRequestID: x.clientRequestID}
			}
			// The request never left: the credential could not produce a
			// token. Its error carries its own class (an *auth.Error with
			// the AADSTS code); it is not a Graph failure.
			return nil, err
		}
		ge := graphError(err, x)
		ge.ClientRequestID = x.clientRequestID
		ge.Attempts = attempt
		if ctx.Err() != nil {
			ge.StatusCode, ge.Err = 0, ctx.Err()
			return nil, ge
		}
		if staleToken(ge) && !refreshed && c.refresh != nil {
			// The token came from the cache and Graph refused it: a
			// revoked session or a rolled-over key (401 without the
			// claims challenge the SDK answers itself), or a token that
			// predates a permission just granted (403). Once, with a
			// fresh token, instead of failing until it expires.
			refreshed = true
			c.refresh()
			// The SDK keeps an Authorization header it finds on the
			// request: drop it so the retry asks for the new token.
			ri.Headers.Remove("Authorization")
			c.log.Info("graph refused the cached token; retrying once with a new one", "status", ge.StatusCode, "code", ge.Code, "client_request_id", x.clientRequestID)
			continue
		}
		if !ge.Temporary() || attempt >= c.retry.MaxAttempts {
			return nil, ge
		}
		wait := backoff(c.retry.BaseDelay, attempt)
		if ge.RetryAfter > 0 {
			wait = ge.RetryAfter
		}
		if c.now().Add(wait).Sub(start) > c.retry.MaxElapsed {
			return nil, ge
		}
		c.log.Info("graph request failed, retrying", "status", ge.StatusCode, "code", ge.Code, "attempt", attempt, "wait", wait.String(), "client_request_id", x.clientRequestID)
		if err := c.sleep(ctx, wait); err != nil {
			ge.StatusCode, ge.Err = 0, err
			return nil, ge
		}
	}
}

// staleToken reports whether Graph's refusal may be the token's fault:
// 401, or 403 ErrorAccessDenied (a permission granted after the token was
// issued shows only in a new token).
func staleToken(ge *GraphError) bool {
	return ge.StatusCode == http.StatusUnauthorized || ge.StatusCode == http.StatusForbidden && ge.Code == "ErrorAccessDenied"
}

// send makes one attempt, holding one of the mailbox's in-flight slots.
func (c *Client) send(ctx context.Context, x *exchange, ri *abs.RequestInformation, want bool) ([]byte, error) {
	release, err := c.gov.acquire(ctx, c.mailbox)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx = withExchange(ctx, x)
	if !want {
		return nil, c.api.adapter.SendNoContent(ctx, ri, graphErrorMappings)
	}
	v, err := c.api.adapter.SendPrimitive(ctx, ri, "[]byte", graphErrorMappings)
	b, _ := v.([]byte)
	return b, err
}

// backoff is exponential backoff with full jitter.
func backoff(base time.Duration, attempt int) time.Duration {
	ceiling := base << min(attempt-1, 10)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

// graphError converts an error from the Graph SDK into *GraphError.
func graphError(err error, x *exchange) *GraphError {
	ge := &GraphError{Err: err}
	if x != nil {
		ge.StatusCode = x.status
		ge.RequestID = x.requestID
		ge.ClientRequestID = x.clientRequestID
		ge.RetryAfter = x.retryAfter
	}
	var oe *odataerrors.ODataError
	var ae *abs.ApiError
	switch {
	case errors.As(err, &oe):
		ge.StatusCode = oe.ResponseStatusCode
		if main := oe.GetErrorEscaped(); main != nil {
			if c := main.GetCode(); c != nil {
				ge.Code = *c
			}
			if m := main.GetMessage(); m != nil {
				ge.Message = *m
			}
		}
		ge.Err = nil
	case errors.As(err, &ae):
		ge.StatusCode = ae.ResponseStatusCode
		ge.Message = ae.Message
		ge.Err = nil
	}
	if ge.StatusCode != 0 {
		ge.Err = nil
	}
	return ge
}

// exchange records what the requests for one message saw on the wire. The
// SDK hides response headers of successful calls; the innermost transport
// captures them through the request's context.
type exchange struct {
	mu              sync.Mutex
	clientRequestID string
	reached         bool // a request of this exchange got to the transport
	status          int
	requestID       string
	retryAfter      time.Duration
}

// newExchange starts an exchange with a new client-request-id.
func newExchange() *exchange { return &exchange{clientRequestID: uuid.NewString()} }

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
