package graphmail

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
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

// DefaultGraphEndpoint is the global cloud's Microsoft Graph.
const DefaultGraphEndpoint = "https://graph.microsoft.com"

// RetryPolicy bounds how often a temporary Graph failure (429, 503, 504,
// network) is retried. Backoff is exponential with full jitter; a
// Retry-After from Graph is honoured.
type RetryPolicy struct {
	// MaxAttempts is the number of tries in total, including the first;
	// 0 means 4.
	MaxAttempts int
	// MaxElapsed bounds the time spent waiting between tries; 0 means 2 minutes.
	MaxElapsed time.Duration
	// BaseDelay is the first backoff step; 0 means 1 second.
	BaseDelay time.Duration
}

// Config configures a Client.
type Config struct {
	// Sender is the mailbox that sends: users/{Sender}/sendMail. It is
	// also the default From address and the SMTP fallback's user.
	Sender string
	// UseMe sends through /me (the signed-in user of a delegated token)
	// instead of users/{Sender}; Sender should then be that user's address.
	// App-only tokens cannot use /me.
	UseMe bool
	// Credential provides Graph access tokens (for example auth.Provider's
	// TokenCredential). Without one, only GraphRequest and the fallback work.
	Credential azcore.TokenCredential
	// GraphEndpoint is Graph's base URL without the version; "" means
	// DefaultGraphEndpoint. National clouds and tests set their own.
	GraphEndpoint string
	// GraphScope is the token scope; "" means https://graph.microsoft.com/.default.
	GraphScope string
	// HTTPClient supplies the transport and timeout (for example one that
	// trusts ca_file); nil means http.DefaultTransport.
	HTTPClient *http.Client
	// SaveToSentItems keeps a copy in the sender's Sent Items; nil means true.
	SaveToSentItems *bool
	// Retry bounds retries of temporary failures.
	Retry RetryPolicy
	// Fallback, when set, is offered a message that Graph could not take for
	// a reason another path may not share (see Policy).
	Fallback Fallback
	// Policy decides between Graph and the fallback; "" means PolicyAuto.
	Policy Policy
	// Hostname is the right-hand side of generated Message-IDs.
	Hostname string
	// LogRecipients adds the recipients' addresses to the audit line
	// (log.recipients); by default only their number is logged.
	LogRecipients bool
	// Logger receives the fallback decision and retries; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Sleep waits between retries; nil means a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Governor keeps requests within Exchange's per-mailbox limits; nil
	// means DefaultGovernor(), shared by every Client of the process.
	Governor *Governor
	// LargeMessages chooses how a message over Graph's 4 MB request limit
	// is sent; see LargeMessages.
	LargeMessages LargeMessages
	// MaxFallbackBytes is the largest message handed to the fallback
	// because it is too large for Graph; 0 means DefaultMaxFallbackBytes.
	MaxFallbackBytes int64
	// Progress, if set, is told how an upload session advances.
	Progress ProgressFunc
	// ChunkSize is the upload session chunk size, rounded down to a
	// multiple of 320 KiB; 0 means DefaultChunkSize.
	ChunkSize int
}

// Client sends messages through Microsoft Graph. It is safe for concurrent use.
type Client struct {
	cfg     Config
	adapter *khttp.NetHttpRequestAdapter
	base    string
	log     *slog.Logger
	now     func() time.Time
	sleep   func(context.Context, time.Duration) error
	gov     *Governor
	raw     *http.Client // for upload URLs: no kiota middleware, no token
}

// mailboxPath is the API path of the sending mailbox: /me or
// /users/{Sender}.
func (c *Client) mailboxPath() string {
	if c.cfg.UseMe {
		return "/me"
	}
	return "/users/" + url.PathEscape(c.cfg.Sender)
}

// New creates a Client. It does not contact Graph.
func New(cfg Config) (*Client, error) {
	if cfg.Sender == "" {
		return nil, errors.New("graphmail: a sender mailbox is required")
	}
	if cfg.GraphEndpoint == "" {
		cfg.GraphEndpoint = DefaultGraphEndpoint
	}
	cfg.GraphEndpoint = strings.TrimRight(cfg.GraphEndpoint, "/")
	u, err := url.Parse(cfg.GraphEndpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("graphmail: graph endpoint %q is not a URL", cfg.GraphEndpoint)
	}
	if cfg.GraphScope == "" {
		cfg.GraphScope = "https://graph.microsoft.com/.default"
	}
	if cfg.Policy == "" {
		cfg.Policy = PolicyAuto
	}
	c := &Client{cfg: cfg, base: cfg.GraphEndpoint + "/v1.0", log: cfg.Logger, now: cfg.Now, sleep: cfg.Sleep}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	c.gov = cfg.Governor
	if c.gov == nil {
		c.gov = DefaultGovernor()
	}
	c.raw = cfg.HTTPClient
	if c.raw == nil {
		c.raw = &http.Client{Timeout: 100 * time.Second}
	}
	if cfg.Credential != nil {
		// Only the configured Graph host gets a token: kiota silently sends
		// no Authorization header to hosts off this list.
		authProvider, err := kauth.NewAzureIdentityAuthenticationProviderWithScopesAndValidHosts(cfg.Credential, []string{cfg.GraphScope}, []string{u.Hostname()})
		if err != nil {
			return nil, fmt.Errorf("graphmail: %w", err)
		}
		parse := absser.NewParseNodeFactoryRegistry()
		parse.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonParseNodeFactory()
		parse.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextParseNodeFactory()
		ser := absser.NewSerializationWriterFactoryRegistry()
		ser.ContentTypeAssociatedFactories["application/json"] = jsonserialization.NewJsonSerializationWriterFactory()
		ser.ContentTypeAssociatedFactories["text/plain"] = textserialization.NewTextSerializationWriterFactory()
		adapter, err := khttp.NewNetHttpRequestAdapterWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(authProvider, parse, ser, newHTTPClient(cfg.HTTPClient, c.now))
		if err != nil {
			return nil, fmt.Errorf("graphmail: %w", err)
		}
		adapter.SetBaseUrl(c.base)
		c.adapter = adapter
	}
	return c, nil
}

// Result says how a message was delivered.
type Result struct {
	// Path is "graph" or "smtp".
	Path string
	// MessageID is the message's Message-ID (without angle brackets).
	MessageID string
	// RequestID and ClientRequestID identify the final Graph request.
	RequestID, ClientRequestID string
	// Attempts counts Graph requests made for the message.
	Attempts int
	// FallbackReason says why the fallback was used after Graph failed
	// ("" when Graph delivered, or with PolicyOnly).
	FallbackReason string
	// Reply is the SMTP server's final reply when Path is "smtp".
	Reply string
	// Bytes is the size of the request body or MIME message sent (on the
	// upload session path: the draft, small attachments and uploads).
	Bytes int
	// UploadSession reports that the message went as a draft with its
	// large attachments uploaded in chunks (Config.LargeMessages).
	UploadSession bool
}

func (c *Client) saveToSentItems() bool {
	return c.cfg.SaveToSentItems == nil || *c.cfg.SaveToSentItems
}

// GraphRequest returns the request that Send would post to Graph for m,
// without sending it: the JSON body, or for a message that needs MIME the
// base64 MIME body, with its content type. It fills in m.MessageID.
func (c *Client) GraphRequest(m *Message) (body []byte, contentType string, err error) {
	if err := c.prepare(m); err != nil {
		return nil, "", err
	}
	m, err = m.WithContent()
	if err != nil {
		return nil, "", err
	}
	if needsMIME(m) {
		raw, err := c.renderForGraph(m)
		if err != nil {
			return nil, "", err
		}
		return []byte(base64.StdEncoding.EncodeToString(raw)), "text/plain", nil
	}
	b, err := graphBody(m, c.saveToSentItems())
	if err != nil {
		return nil, "", err
	}
	out, err := serializeJSON(b)
	return out, "application/json", err
}

// prepare validates m for every path and gives it its Message-ID.
func (c *Client) prepare(m *Message) error {
	from := m.From
	if from.Address == "" {
		from = Address{Address: c.cfg.Sender}
	}
	if err := validateMIMEMessage(m, from); err != nil {
		return err
	}
	for i, h := range m.Headers {
		if !validHeaderName(h.Name) {
			return &MessageError{Field: fmt.Sprintf("Headers[%d]", i), Problem: fmt.Sprintf("%q: Graph accepts only extra headers whose name starts with X-", h.Name)}
		}
	}
	m.EnsureMessageID(c.hostname())
	if m.Date.IsZero() {
		// Fixed once, like the Message-ID, so every path and every retry
		// renders the same message.
		m.Date = c.now()
	}
	return nil
}

func (c *Client) hostname() string {
	if c.cfg.Hostname != "" {
		return c.cfg.Hostname
	}
	if _, domain, ok := strings.Cut(c.cfg.Sender, "@"); ok {
		return domain
	}
	return "graphmail.local"
}

func (c *Client) renderForGraph(m *Message) ([]byte, error) {
	return RenderMIME(m, MIMEOptions{IncludeBcc: true, DefaultFrom: Address{Address: c.cfg.Sender}, Now: c.now, Hostname: c.hostname()})
}

// sendGraph posts m to Graph with retries and returns the result or a
// *GraphError.
func (c *Client) sendGraph(ctx context.Context, m *Message) (Result, error) {
	if c.adapter == nil {
		return Result{}, errors.New("graphmail: no Graph credential configured")
	}
	var (
		ri  *abs.RequestInformation
		err error
		res = Result{Path: "graph", MessageID: m.MessageID}
	)
	endpoint := c.base + c.mailboxPath() + "/sendMail"
	builder := users.NewItemSendMailRequestBuilder(endpoint, c.adapter)
	if needsMIME(m) {
		raw, err := c.renderForGraph(m)
		if err != nil {
			return Result{}, err
		}
		ri = abs.NewRequestInformation()
		ri.Method = abs.POST
		u, _ := url.Parse(endpoint)
		ri.SetUri(*u)
		ri.Headers.TryAdd("Accept", "application/json")
		ri.SetStreamContentAndContentType([]byte(base64.StdEncoding.EncodeToString(raw)), "text/plain")
		res.Bytes = len(ri.Content)
	} else {
		body, err := graphBody(m, c.saveToSentItems())
		if err != nil {
			return Result{}, err
		}
		ri, err = builder.ToPostRequestInformation(ctx, body, nil)
		if err != nil {
			return Result{}, fmt.Errorf("graphmail: building the request: %w", err)
		}
		res.Bytes = len(ri.Content)
	}
	x := &exchange{clientRequestID: uuid.NewString()}
	res.ClientRequestID = x.clientRequestID
	_, err = c.callGraph(ctx, x, ri, false, &res)
	return res, err
}

// graphErrorMappings turns every error response into an ODataError.
var graphErrorMappings = abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue}

// callGraph sends ri through the SDK adapter with the retry policy: the same
// client-request-id (x) on every attempt, each attempt holding one of the
// mailbox's in-flight slots (not the waits between attempts). With want it
// returns the response body. res.Attempts and res.RequestID are updated
// (attempts add up across the calls of one message). Errors are
// *GraphError or *CredentialError.
func (c *Client) callGraph(ctx context.Context, x *exchange, ri *abs.RequestInformation, want bool, res *Result) ([]byte, error) {
	start := c.now()
	policy := c.cfg.Retry
	if policy.MaxAttempts <= 0 {
		policy.MaxAttempts = 4
	}
	if policy.MaxElapsed <= 0 {
		policy.MaxElapsed = 2 * time.Minute
	}
	if policy.BaseDelay <= 0 {
		policy.BaseDelay = time.Second
	}
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
			return nil, &CredentialError{Err: err}
		}
		ge := graphError(err, x)
		ge.ClientRequestID = x.clientRequestID
		ge.Attempts = attempt
		if ctx.Err() != nil {
			ge.StatusCode, ge.Err = 0, ctx.Err()
			return nil, ge
		}
		if !ge.Temporary() || attempt >= policy.MaxAttempts {
			return nil, ge
		}
		wait := backoff(policy.BaseDelay, attempt)
		if ge.RetryAfter > 0 {
			wait = ge.RetryAfter
		}
		if c.now().Add(wait).Sub(start) > policy.MaxElapsed {
			return nil, ge
		}
		c.log.Info("graph request failed, retrying", "status", ge.StatusCode, "code", ge.Code, "attempt", attempt, "wait", wait.String(), "client_request_id", x.clientRequestID)
		if err := c.sleep(ctx, wait); err != nil {
			ge.StatusCode, ge.Err = 0, err
			return nil, ge
		}
	}
}

// send makes one attempt, holding one of the mailbox's in-flight slots.
func (c *Client) send(ctx context.Context, x *exchange, ri *abs.RequestInformation, want bool) ([]byte, error) {
	release, err := c.gov.Acquire(ctx, c.cfg.GraphEndpoint, c.cfg.Sender)
	if err != nil {
		return nil, err
	}
	defer release()
	ctx = withExchange(ctx, x)
	if !want {
		return nil, c.adapter.SendNoContent(ctx, ri, graphErrorMappings)
	}
	v, err := c.adapter.SendPrimitive(ctx, ri, "[]byte", graphErrorMappings)
	b, _ := v.([]byte)
	return b, err
}

// backoff is exponential backoff with full jitter.
func backoff(base time.Duration, attempt int) time.Duration {
	ceiling := base << min(attempt-1, 10)
	return time.Duration(rand.Int64N(int64(ceiling) + 1))
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
