package graphmail

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
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

// Config configures a Client. New resolves every default once.
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
	// SkipSentItems keeps no copy in the sender's Sent Items. It applies to
	// Graph JSON sends; Graph always keeps MIME sends.
	SkipSentItems bool
	// Retry bounds retries of temporary failures.
	Retry RetryPolicy
	// Fallback, when set, is offered a message that Graph could not take for
	// a reason another path may not share (see Policy).
	Fallback Fallback
	// Policy decides between Graph and the fallback; "" means PolicyAuto.
	Policy Policy
	// Hostname is the right-hand side of generated Message-IDs; "" means
	// the Sender's domain.
	Hostname string
	// LogRecipients adds the recipients' addresses to the audit line
	// (log.recipients); by default only their number is logged.
	LogRecipients bool
	// LogSubject adds the message's Subject to the audit line
	// (log.subject); by default it is not logged.
	LogSubject bool
	// Logger receives the fallback decision and retries; nil discards.
	Logger *slog.Logger
	// MessagesPerMinute paces the messages sent from the Sender mailbox:
	// at most this many start per minute, spaced evenly (a burst is
	// paced, not refused), counted across every Client of the process
	// that sends from the mailbox; 0 means unlimited. Exchange Online
	// delays messages beyond 30 a minute. Whatever the rate, the Clients
	// of a process keep to the 4 requests in flight per mailbox that
	// Exchange allows.
	MessagesPerMinute int
	// LargeMessages chooses how a message over Graph's 4 MB request limit
	// is sent; see LargeMessages.
	LargeMessages LargeMessages
	// MaxFallbackBytes is the largest message handed to the fallback
	// because it is too large for Graph; 0 means DefaultMaxFallbackBytes.
	MaxFallbackBytes int64
	// Progress, if set, is told how an upload session advances.
	Progress ProgressFunc
	// Budget, when set, is the mailbox's budget shared with other
	// processes and hosts: each message waits for it after the process's
	// own pacing, and holds it until its delivery (Graph and any
	// fallback) ends. nil keeps the limits within this process only.
	Budget MailboxBudget

	// Set by tests only (export_test.go).
	now   func() time.Time                           // nil means time.Now
	sleep func(context.Context, time.Duration) error // nil means a timer honouring ctx
	gov   *governor                                  // nil means the process's governor
}

// Client sends messages through Microsoft Graph. It is safe for concurrent use.
type Client struct {
	sender        string
	policy        Policy
	fallback      Fallback
	large         LargeMessages
	maxFallback   int64
	hostname      string
	saveSent      bool
	retry         RetryPolicy // with its defaults
	progress      ProgressFunc
	logRecipients bool
	logSubject    bool

	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
	gov      *governor
	budget   MailboxBudget // nil: none beyond the governor
	mailbox  string        // the governor's key for the mailbox
	endpoint string        // Graph's base URL without the version
	interval time.Duration // between message starts; 0: no pacing
	api      *graphAPI
	// refresh, when the credential supports it, makes its next token for
	// the Graph scope a fresh one (a server refused the cached one).
	refresh func()
	raw     *http.Client // for upload URLs: no SDK middleware, no token
}

// New creates a Client. It does not contact Graph.
func New(cfg Config) (*Client, error) {
	if cfg.Sender == "" {
		return nil, errors.New("graphmail: a sender mailbox is required")
	}
	endpoint := strings.TrimRight(cfg.GraphEndpoint, "/")
	if endpoint == "" {
		endpoint = DefaultGraphEndpoint
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("graphmail: graph endpoint %q is not a URL", endpoint)
	}
	c := &Client{
		sender:        cfg.Sender,
		policy:        cfg.Policy,
		fallback:      cfg.Fallback,
		large:         cfg.LargeMessages,
		maxFallback:   cfg.MaxFallbackBytes,
		hostname:      cfg.Hostname,
		saveSent:      !cfg.SkipSentItems,
		retry:         cfg.Retry,
		progress:      cfg.Progress,
		logRecipients: cfg.LogRecipients,
		logSubject:    cfg.LogSubject,
		log:           cfg.Logger,
		now:           cfg.now,
		sleep:         cfg.sleep,
		gov:           cfg.gov,
		budget:        cfg.Budget,
		mailbox:       mailboxKey(endpoint, cfg.Sender),
		endpoint:      endpoint,
		raw:           cfg.HTTPClient,
	}
	if c.policy == "" {
		c.policy = PolicyAuto
	}
	if c.maxFallback <= 0 {
		c.maxFallback = DefaultMaxFallbackBytes
	}
	if c.hostname == "" {
		c.hostname = DefaultMIMEHostname
		if _, domain, ok := strings.Cut(cfg.Sender, "@"); ok {
			c.hostname = domain
		}
	}
	if c.retry.MaxAttempts <= 0 {
		c.retry.MaxAttempts = 4
	}
	if c.retry.MaxElapsed <= 0 {
		c.retry.MaxElapsed = 2 * time.Minute
	}
	if c.retry.BaseDelay <= 0 {
		c.retry.BaseDelay = time.Second
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.gov == nil {
		c.gov = processGovernor()
	}
	if cfg.MessagesPerMinute > 0 {
		c.interval = time.Minute / time.Duration(cfg.MessagesPerMinute)
	}
	if c.raw == nil {
		c.raw = &http.Client{Timeout: 100 * time.Second}
	}
	scope := cfg.GraphScope
	if scope == "" {
		scope = "https://graph.microsoft.com/.default"
	}
	mailbox := "/users/" + url.PathEscape(cfg.Sender)
	if cfg.UseMe {
		mailbox = "/me"
	}
	if inv, ok := cfg.Credential.(interface{ Invalidate(scope string) }); ok {
		c.refresh = func() { inv.Invalidate(scope) }
	}
	if c.api, err = newGraphAPI(endpoint, mailbox, scope, cfg.Credential, cfg.HTTPClient, c.now); err != nil {
		return nil, err
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
	// Mailbox is the mailbox that sent the message.
	Mailbox string
	// Rejected lists the recipients left out of a partial delivery
	// (Envelope.Partial); the others received the message.
	Rejected []Rejection
}

// GraphRequest returns the request that Send would post to Graph for m,
// without sending it: the JSON body, or for a message that needs MIME the
// base64 MIME body, with its content type. It fills in m.MessageID.
func (c *Client) GraphRequest(m *Message) (body []byte, contentType string, err error) {
	if err := c.prepare(m); err != nil {
		return nil, "", err
	}
	if needsMIME(m) {
		raw, err := c.render(m, true)
		if err != nil {
			return nil, "", err
		}
		return []byte(base64.StdEncoding.EncodeToString(raw)), "text/plain", nil
	}
	m, err = materialize(m)
	if err != nil {
		return nil, "", err
	}
	out, err := sendMailJSON(m, c.saveSent)
	return out, "application/json", err
}

// prepare validates m for every path and gives it its Message-ID and
// Date, fixed once so that every path and every retry renders the same
// message.
func (c *Client) prepare(m *Message) error {
	from := m.From
	if from.Address == "" {
		from = Address{Address: c.sender}
	}
	if err := validateMIMEMessage(m, from); err != nil {
		return err
	}
	for i, h := range m.Headers {
		if !validHeaderName(h.Name) {
			return &MessageError{Field: fmt.Sprintf("Headers[%d]", i), Problem: fmt.Sprintf("%q: Graph accepts only extra headers whose name starts with X-", h.Name)}
		}
	}
	m.EnsureMessageID(c.hostname)
	if m.Date.IsZero() {
		m.Date = c.now()
	}
	return nil
}

// render renders m as MIME for Graph (with the Bcc header) or for SMTP.
func (c *Client) render(m *Message, forGraph bool) ([]byte, error) {
	return RenderMIME(m, c.mimeOptions(forGraph))
}

func (c *Client) mimeOptions(includeBcc bool) MIMEOptions {
	return MIMEOptions{IncludeBcc: includeBcc, DefaultFrom: Address{Address: c.sender}, Hostname: c.hostname, now: c.now}
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
