package graphmailtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Identifiers of the default sandbox tenant. They are fixed so that a
// configuration written once for the sandbox keeps working.
const (
	// DefaultTenantID is the tenant ID used when Options.TenantID is empty.
	DefaultTenantID = "00000000-0000-4000-8000-000000000001"
	// DefaultTenantDomain is the tenant's initial domain, accepted in
	// authority URLs in place of the tenant ID.
	DefaultTenantDomain = "sandbox.onmicrosoft.com"
	// DefaultClientID is the client ID of the app registered when
	// Options.Apps is empty.
	DefaultClientID = "00000000-0000-4000-8000-0000000000a1"
	// DefaultMailbox is the mailbox that exists when Options.Mailboxes is
	// empty.
	DefaultMailbox = "sandbox@sandbox.onmicrosoft.com"
)

// Resource identifiers the sandbox issues tokens for. They are the values
// of the aud claim and the keys of TokenRequests.
const (
	ResourceGraph   = "https://graph.microsoft.com"
	ResourceOutlook = "https://outlook.office365.com"
)

// MaxRequestBytes is the largest sendMail request body (after gzip
// decoding) the fake Graph accepts, like Graph's 4 MB request limit.
const MaxRequestBytes = 4 << 20

// App is an app registration in the sandbox tenant.
type App struct {
	// ClientID is the application (client) ID.
	ClientID string
	// Secret is the client secret value; "" means no secret is accepted
	// (unless Secrets has one). It never expires.
	Secret string
	// Secrets are further client secrets, each with its end date, as
	// "Certificates & secrets" lists them: during a rotation an app has
	// two. A secret past its End is refused with AADSTS7000222; one that
	// is not registered (or was removed) with AADSTS7000215.
	Secrets []SecretCredential
	// Certificates are the certificates whose keys may sign client
	// assertions (matched by the x5t#S256 or x5t header).
	Certificates []*x509.Certificate
	// Roles are the application permissions granted with admin consent.
	// Nil means {"Mail.Send", "SMTP.SendAsApp"}; use an empty, non-nil
	// slice for none. Exchange permissions (SMTP.SendAsApp,
	// full_access_as_app, …) appear in Outlook tokens, all others in
	// Graph tokens, as in Entra ID.
	Roles []string
	// PublicClient allows the public client flows ("Allow public client
	// flows" in Entra ID): device code, and authorization code and refresh
	// tokens without a client credential. See EnablePublicClient.
	PublicClient bool
	// RedirectURIs are the redirect URIs of the authorization code flow;
	// "http://localhost" matches any port.
	RedirectURIs []string
}

// Options configure a Server. The zero value is a working sandbox.
type Options struct {
	// TenantID is the directory (tenant) ID; default DefaultTenantID.
	TenantID string
	// TenantDomain is an alias of the tenant accepted in authority URLs;
	// default DefaultTenantDomain.
	TenantDomain string
	// Apps are the registered apps; default one app with DefaultClientID
	// and a freshly generated secret (see Server.App).
	Apps []App
	// Mailboxes are the mailboxes that exist (UPNs, matched without regard
	// to case); default {DefaultMailbox}. Sending from any other gives
	// Graph 404 ErrorInvalidUser.
	Mailboxes []string
	// Dir, if set, receives each delivered message as <n>-<msgid>.eml,
	// with the raw request beside it (<n>-<msgid>.json for JSON sends,
	// <n>-<msgid>.mime.b64 for MIME sends). It is created if needed.
	// Files are written with mode 0600.
	Dir string
	// TokenLifetime is the lifetime of issued access tokens; default 1h.
	// MSAL treats tokens as expired 5 minutes early, so lifetimes of 5
	// minutes or less are never served from its cache.
	TokenLifetime time.Duration
	// RefreshIn controls the refresh_in field of token responses, which
	// makes MSAL refresh a cached token early, once. Zero means half the
	// lifetime for lifetimes of 2h or more and no field otherwise (Entra
	// ID sends it for long-lived tokens only); negative means never.
	RefreshIn time.Duration
	// Now is the clock for issuing and checking tokens; nil is time.Now.
	Now func() time.Time
	// Logger receives a record of each token request and each Graph
	// request. Nil discards. Secrets and tokens are never logged.
	Logger *slog.Logger
	// MailboxConcurrency is how many Graph requests (upload chunks
	// included) may be in flight per mailbox before the next gets 429
	// ApplicationThrottled (MailboxConcurrency); default 4, as in Exchange
	// Online; negative means no limit.
	MailboxConcurrency int
	// AuthorityAddr, GraphAddr and SMTPAddr are the listen addresses of the
	// login host, the Graph host and the SMTP submission server; default
	// "127.0.0.1:0" each.
	AuthorityAddr, GraphAddr, SMTPAddr string
}

// Server is a fake Microsoft 365 tenant: an Entra ID login host and a
// Microsoft Graph host, each on its own TLS listener. Its methods are safe
// for concurrent use.
type Server struct {
	tenantID, tenantDomain string
	lifetime, refreshIn    time.Duration
	now                    func() time.Time
	log                    *slog.Logger
	dir                    string

	pki    *pki
	client *http.Client
	key    *rsa.PrivateKey
	kid    string

	authority, graph *listener
	smtp             *smtpd.Server
	ctx              context.Context
	cancel           context.CancelFunc
	handlers         sync.WaitGroup
	hmu              sync.Mutex // guards closed and the handlers count against Close
	closed           bool
	closeOnce        sync.Once

	mu           sync.Mutex
	apps         []*App            // registration order; apps[0] is App()
	mailboxes    map[string]string // lower-case UPN → UPN as configured
	restDisabled map[string]bool
	sendAs       map[string]map[string]bool // mailbox → from addresses allowed
	unresolved   map[string]bool            // recipients Exchange cannot resolve
	revokedUntil time.Time                  // Graph refuses tokens issued up to this instant
	tokens       map[string]int             // resource → successful issuances
	messages     []Delivered
	failures     []*queuedFailure
	seq          int
	mail         *mailState // drafts, upload sessions, requests in flight

	federations     []Federation
	issuers         map[string]*federatedIssuer // iss → signing key
	federatedIssued int
	identities      []ManagedIdentity
	identityHeader  string

	// The delegated flow (delegated.go).
	users           map[string]*user // lower-case UPN → user
	deviceCodes     map[string]*deviceCode
	deviceCodeOrder []string
	authCodes       map[string]*authCode
	refreshTokens   map[string]*refreshToken
	revoked         map[string]int // refresh token → AADSTS code
	refreshes       int
	delegates       map[string]map[string]bool // mailbox → users who may send from it
}

type listener struct {
	srv *http.Server
	url string
}

// NewServer starts a sandbox tenant. Both listeners serve HTTPS with a
// certificate signed by a CA generated for this server; use HTTPClient,
// CertPool or CACertPEM to trust it. Call Close when done.
func NewServer(opts Options) (*Server, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Server{
		tenantID:       strings.ToLower(cmpOr(opts.TenantID, DefaultTenantID)),
		tenantDomain:   strings.ToLower(cmpOr(opts.TenantDomain, DefaultTenantDomain)),
		lifetime:       opts.TokenLifetime,
		refreshIn:      opts.RefreshIn,
		now:            now,
		log:            opts.Logger,
		dir:            opts.Dir,
		mailboxes:      map[string]string{},
		restDisabled:   map[string]bool{},
		sendAs:         map[string]map[string]bool{},
		unresolved:     map[string]bool{},
		tokens:         map[string]int{},
		mail:           newMailState(opts.MailboxConcurrency),
		issuers:        map[string]*federatedIssuer{},
		identityHeader: randomToken(18),
	}
	if s.lifetime <= 0 {
		s.lifetime = time.Hour
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.refreshIn == 0 && s.lifetime >= 2*time.Hour {
		s.refreshIn = s.lifetime / 2
	}

	apps := opts.Apps
	if len(apps) == 0 {
		secret, err := NewSecret()
		if err != nil {
			return nil, err
		}
		apps = []App{{ClientID: DefaultClientID, Secret: secret}}
	}
	for _, a := range apps {
		if a.ClientID == "" {
			return nil, errors.New("graphmailtest: an App has no ClientID")
		}
		s.apps = append(s.apps, cloneApp(a))
	}
	mailboxes := opts.Mailboxes
	if len(mailboxes) == 0 {
		mailboxes = []string{DefaultMailbox}
	}
	for _, m := range mailboxes {
		s.mailboxes[strings.ToLower(m)] = m
	}
	if s.dir != "" {
		if err := os.MkdirAll(s.dir, 0o700); err != nil {
			return nil, fmt.Errorf("graphmailtest: %w", err)
		}
	}

	var err error
	if s.pki, err = newPKI(now()); err != nil {
		return nil, err
	}
	s.client = newHTTPClient(s.pki.pool)
	if s.key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, fmt.Errorf("graphmailtest: generate signing key: %w", err)
	}
	s.kid = keyID(&s.key.PublicKey)

	s.ctx, s.cancel = context.WithCancel(context.Background())
	if s.authority, err = s.listen(cmpOr(opts.AuthorityAddr, "127.0.0.1:0"), s.identityHandler()); err != nil {
		s.cancel()
		return nil, err
	}
	if s.graph, err = s.listen(cmpOr(opts.GraphAddr, "127.0.0.1:0"), s.graphHandler()); err != nil {
		s.cancel()
		_ = s.authority.srv.Close()
		return nil, err
	}
	if err = s.startSMTP(cmpOr(opts.SMTPAddr, "127.0.0.1:0")); err != nil {
		s.cancel()
		_ = s.authority.srv.Close()
		_ = s.graph.srv.Close()
		return nil, err
	}
	s.log.Info("graphmailtest: sandbox tenant started",
		"authority", s.authority.url, "graph", s.graph.url, "smtp", s.SMTPAddr(), "tenant", s.tenantID)
	return s, nil
}

func (s *Server) listen(addr string, h http.Handler) (*listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("graphmailtest: %w", err)
	}
	srv := &http.Server{
		Handler:           s.track(h),
		TLSConfig:         s.pki.tlsConf.Clone(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0), // TLS noise from clients that do not trust the CA
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return &listener{srv: srv, url: "https://" + ln.Addr().String()}, nil
}

// track counts running handlers so that Close can wait for them.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// An HTTP/2 request read before Close may start its handler after
		// Close has cut the connection: it must not touch the state of a
		// closed server (a test may be over), nor Add to handlers while
		// Close waits on it.
		s.hmu.Lock()
		if s.closed {
			s.hmu.Unlock()
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.handlers.Add(1)
		s.hmu.Unlock()
		defer s.handlers.Done()
		h.ServeHTTP(w, r)
	})
}

// Close stops both listeners, cuts open connections (a pending Delay ends
// at once) and waits for running handlers to return.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.hmu.Lock()
		s.closed = true
		s.hmu.Unlock()
		s.cancel()
		_ = s.authority.srv.Close()
		_ = s.graph.srv.Close()
		_ = s.smtp.Close()
		s.handlers.Wait()
		s.client.CloseIdleConnections()
	})
}

// AuthorityHost returns the login host's base URL, such as
// "https://127.0.0.1:41001". The authority for MSAL is
// AuthorityHost()+"/"+TenantID() (or the tenant domain).
func (s *Server) AuthorityHost() string { return s.authority.url }

// Authority returns AuthorityHost()+"/"+TenantID().
func (s *Server) Authority() string { return s.authority.url + "/" + s.tenantID }

// GraphEndpoint returns the Graph host's base URL, such as
// "https://127.0.0.1:41002"; API paths start with /v1.0/.
func (s *Server) GraphEndpoint() string { return s.graph.url }

// TenantID returns the tenant (directory) ID.
func (s *Server) TenantID() string { return s.tenantID }

// TenantDomain returns the tenant's domain alias.
func (s *Server) TenantDomain() string { return s.tenantDomain }

// App returns a copy of the first registered app, whose ClientID and
// Secret make a ready-made sandbox configuration.
func (s *Server) App() App {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *cloneApp(*s.apps[0])
}

// Mailboxes returns the mailboxes that exist, as configured.
func (s *Server) Mailboxes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.mailboxes))
	for _, m := range s.mailboxes {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

// MailboxExists reports whether a mailbox with this UPN exists.
func (s *Server) MailboxExists(upn string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.mailboxes[strings.ToLower(upn)]
	return ok
}

// AddMailbox creates a mailbox.
func (s *Server) AddMailbox(upn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailboxes[strings.ToLower(upn)] = upn
}

// SetMailboxRESTDisabled marks a mailbox as not enabled for the REST API
// (unlicensed, on-premises or inactive): sendMail for it answers 404
// MailboxNotEnabledForRESTAPI.
func (s *Server) SetMailboxRESTDisabled(upn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.restDisabled[strings.ToLower(upn)] = true
}

// RevokeIssuedTokens makes Graph refuse every access token issued so far
// with 401 InvalidAuthenticationToken and no claims challenge, as after a
// revoked session or a signing-key rollover; tokens issued afterwards are
// accepted. Token issue times (iat) have one-second resolution, so a
// token issued in the same second is dated the next one.
func (s *Server) RevokeIssuedTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revokedUntil = s.now().Truncate(time.Second)
}

// tokenRevoked reports whether the token c was issued before
// RevokeIssuedTokens.
func (s *Server) tokenRevoked(c *Claims) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.revokedUntil.IsZero() && !c.IssuedAt.After(s.revokedUntil)
}

// SetUnresolvable makes Exchange refuse addr as it does an address it
// cannot resolve: Graph refuses any MIME message with addr among its
// recipients with 400 ErrorInvalidRecipients ("Recipient '…' is not
// resolved"), the whole message; SMTP refuses its RCPT TO alone with 550
// 5.1.10.
func (s *Server) SetUnresolvable(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unresolved[strings.ToLower(addr)] = true
}

func (s *Server) unresolvable(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unresolved[strings.ToLower(addr)]
}

// GrantSendAs lets mailbox send with message.from set to from (Exchange's
// SendAs permission). Without it a from address other than the mailbox
// itself gives 403 ErrorSendAsDenied.
func (s *Server) GrantSendAs(mailbox, from string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(mailbox)
	if s.sendAs[k] == nil {
		s.sendAs[k] = map[string]bool{}
	}
	s.sendAs[k][strings.ToLower(from)] = true
}

// SetRoles replaces the application permissions granted to an app. Tokens
// issued before keep their roles until they expire, as in Entra ID.
func (s *Server) SetRoles(clientID string, roles []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.Roles = slices.Clone(roles)
		if a.Roles == nil {
			a.Roles = []string{}
		}
	}
}

// AddApp registers another app (or replaces one with the same ClientID).
func (s *Server) AddApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := cloneApp(a)
	for i, old := range s.apps {
		if strings.EqualFold(old.ClientID, a.ClientID) {
			s.apps[i] = c
			return
		}
	}
	s.apps = append(s.apps, c)
}

// AddCertificate registers another certificate on an app.
func (s *Server) AddCertificate(clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.Certificates = append(a.Certificates, cert)
	}
}

// AddSecret registers another client secret on an app, as adding one
// under Certificates & secrets does.
func (s *Server) AddSecret(clientID string, secret SecretCredential) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.Secrets = append(a.Secrets, secret)
	}
}

// RemoveSecret deletes a client secret from an app (Secret or one of
// Secrets), as deleting it in the portal does: requests with it get
// AADSTS7000215.
func (s *Server) RemoveSecret(clientID, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		if a.Secret == value {
			a.Secret = ""
		}
		a.Secrets = slices.DeleteFunc(a.Secrets, func(c SecretCredential) bool { return c.Value == value })
	}
}

// RemoveCertificate deletes a certificate from an app: assertions it
// signs get AADSTS700027.
func (s *Server) RemoveCertificate(clientID string, cert *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.Certificates = slices.DeleteFunc(a.Certificates, func(c *x509.Certificate) bool { return c.Equal(cert) })
	}
}

// SetSecret replaces an app's client secret ("" removes it).
func (s *Server) SetSecret(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.Secret = secret
	}
}

func (s *Server) appLocked(clientID string) *App {
	for _, a := range s.apps {
		if strings.EqualFold(a.ClientID, clientID) {
			return a
		}
	}
	return nil
}

// lookupApp returns a copy of the app registration, if any.
func (s *Server) lookupApp(clientID string) (App, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.appLocked(clientID)
	if a == nil {
		return App{}, false
	}
	return *cloneApp(*a), true
}

// TokenRequests returns how many access tokens were issued for a resource
// (ResourceGraph or ResourceOutlook). Failed requests are not counted.
func (s *Server) TokenRequests(resource string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[canonicalResource(resource)]
}

// TotalTokenRequests returns how many access tokens were issued in all.
func (s *Server) TotalTokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.tokens {
		n += c
	}
	return n
}

// Messages returns the messages delivered so far, in order.
func (s *Server) Messages() []Delivered {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.messages)
}

// Reset forgets delivered messages, token counts and queued failures.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = nil
	s.tokens = map[string]int{}
	s.failures = nil
	s.mail.reset()
}
