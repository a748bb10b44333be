package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"golang.org/x/sync/singleflight"
)

// Well-known scopes of the global cloud.
const (
	GraphScope   = "https://graph.microsoft.com/.default"
	OutlookScope = "https://outlook.office365.com/.default"
)

// Options configure a Provider.
type Options struct {
	// AuthorityHost is the identity platform's base URL, for example
	// "https://login.microsoftonline.com". It must be https.
	AuthorityHost string
	// TenantID is the Directory (tenant) ID or a verified domain.
	TenantID string
	// ClientID is the Application (client) ID.
	ClientID string
	// ClientSecret authenticates the app with a secret. Exactly one of
	// ClientSecret, Certificate, FederatedTokenFile and ManagedIdentity
	// must be set.
	ClientSecret string
	// SecretExpires is when the client secret (ClientSecret, or the first
	// of Files.Secrets) expires, as the portal shows it next to the
	// secret; zero when not known. See Provider.Credentials.
	SecretExpires time.Time
	// Certificate authenticates the app with a certificate.
	Certificate *Certificate
	// Files authenticates the app with client secrets or certificates read
	// from files, which the provider reads again when they change
	// (ReloadCredentials) and when the authority refuses every credential;
	// with two files, the second is tried when the first is refused.
	Files *CredentialFiles
	// FederatedTokenFile authenticates the app with workload identity
	// federation: the file holds a token from an outside issuer that the
	// app registration trusts (a federated identity credential), as
	// written by AKS workload identity (AZURE_FEDERATED_TOKEN_FILE) or a
	// CI job's OIDC step. The file is read again for every token request,
	// so rotation needs no restart.
	FederatedTokenFile string
	// ManagedIdentity authenticates as an Azure managed identity through
	// MSAL's managedidentity package. The endpoint is discovered from the
	// environment as MSAL does (IDENTITY_ENDPOINT and IDENTITY_HEADER on
	// App Service, Functions and Container Apps, IMDS on VMs, Azure Arc…).
	// TenantID, ClientID, AuthorityHost, InstanceDiscovery and Cache are
	// not used: MSAL keeps managed identity tokens in its own memory cache.
	ManagedIdentity *ManagedIdentity
	// Delegated makes the provider a public client acting for a signed-in
	// user (see Delegated, LoginDeviceCode, LoginBrowser). No client
	// credential is used; refresh tokens live in Cache, so give it one
	// unless every process signs in again.
	Delegated *Delegated
	// HTTPClient is used for every call to the authority; nil means a client
	// with default TLS settings. Use it to trust an extra CA (ca_file).
	HTTPClient *http.Client
	// InstanceDiscovery asks login.microsoftonline.com to validate the
	// authority. Set it false for private or test authorities.
	InstanceDiscovery bool
	// Cache persists MSAL's token cache between processes; nil keeps tokens
	// in memory only.
	Cache cache.ExportReplace
	// CacheFor, when set, gives each client secret or certificate its own
	// persistent cache instead of Cache: key is the credential's key
	// material (the secret's bytes, or the certificate's private key as
	// PKCS #8 DER) and index its place in Files. It is called again for a
	// credential that changed.
	CacheFor func(key []byte, index int) cache.ExportReplace
	// Logger receives one debug line per token acquisition (scope, source,
	// expiry); never a token. Nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Token is an access token with its lifetime. Its String method redacts the
// value, so a Token can be logged safely.
type Token struct {
	// Value is the bearer token. Never log it.
	Value string
	// ExpiresOn is when the token stops being accepted.
	ExpiresOn time.Time
	// RefreshOn is when MSAL will renew the token proactively (zero if the
	// authority did not say).
	RefreshOn time.Time
	// FromCache is true when no request reached the authority.
	FromCache bool
}

// String implements fmt.Stringer without revealing the token.
func (t Token) String() string {
	return fmt.Sprintf("token(expires %s, cached %t)", t.ExpiresOn.UTC().Format(time.RFC3339), t.FromCache)
}

// GoString implements fmt.GoStringer without revealing the token.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer without revealing the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Time("expires_on", t.ExpiresOn), slog.Bool("from_cache", t.FromCache))
}

// Provider acquires tokens for any resource with one MSAL client
// (confidential, managed identity, or public for the delegated method). It
// is safe for concurrent use.
type Provider struct {
	method Method
	mi     managedidentity.Client
	miUser bool // a user-assigned managed identity
	pub    public.Client
	// delegated holds the delegated options (method delegated only).
	delegated Delegated
	tenantID  string
	clientID  string
	log       *slog.Logger
	now       func() time.Time
	group     singleflight.Group
	staleMu   sync.Mutex
	stale     map[string]bool  // scopes whose cached token a server refused (Invalidate)
	memo      map[string]Token // the last token per scope, handed out while fresh

	// The confidential client methods (secret, certificate, workload
	// identity): one MSAL client per credential, see rotation.go.
	authority         string
	httpClient        *http.Client
	instanceDiscovery bool
	cache             cache.ExportReplace
	cacheFor          func(key []byte, index int) cache.ExportReplace
	files             *CredentialFiles // rmu
	hasFiles          bool             // Files was set; fixed at New
	secretExpires     time.Time
	rmu               sync.Mutex  // serializes ReloadCredentials
	stamps            []fileStamp // the files as last read (rmu)
	cmu               sync.Mutex  // guards slots, active and changed
	slots             []*slot
	active            int
	changed           chan struct{}
}

// New creates a Provider. It does not contact the authority.
func New(opts Options) (*Provider, error) {
	method, err := opts.method()
	if err != nil {
		return nil, err
	}
	p := &Provider{method: method, tenantID: opts.TenantID, clientID: opts.ClientID, log: opts.Logger, now: opts.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if method == MethodManagedIdentity {
		if err := p.newManagedIdentity(opts); err != nil {
			return nil, err
		}
		return p, nil
	}
	host := strings.TrimRight(opts.AuthorityHost, "/")
	if host == "" {
		host = "https://login.microsoftonline.com"
	}
	if !strings.HasPrefix(host, "https://") {
		return nil, errors.New("auth: the authority host must be an https URL")
	}
	if opts.TenantID == "" || opts.ClientID == "" {
		return nil, errors.New("auth: tenant id and client id are required")
	}
	if method == MethodDelegated {
		if err := p.newPublic(opts, host); err != nil {
			return nil, err
		}
		return p, nil
	}
	p.authority = host + "/" + opts.TenantID
	p.httpClient, p.instanceDiscovery, p.cache, p.cacheFor = opts.HTTPClient, opts.InstanceDiscovery, opts.Cache, opts.CacheFor
	p.changed, p.secretExpires = make(chan struct{}), opts.SecretExpires
	if method == MethodWorkloadIdentity {
		client, err := p.newConfidential(confidential.NewCredFromAssertionCallback(federatedAssertion(opts.FederatedTokenFile, p.now)), nil)
		if err != nil {
			return nil, err
		}
		p.slots = []*slot{{client: client}}
		return p, nil
	}
	var creds []clientCred
	switch {
	case opts.Files != nil:
		p.files, p.hasFiles = opts.Files, true
		for _, path := range p.files.paths() {
			p.stamps = append(p.stamps, stampOf(path))
		}
		if creds, err = p.files.load(p.secretExpires); err != nil {
			return nil, err
		}
	case opts.Certificate != nil:
		creds = []clientCred{{cert: opts.Certificate, expires: opts.Certificate.Chain[0].NotAfter}}
	default:
		creds = []clientCred{{secret: opts.ClientSecret, expires: opts.SecretExpires}}
	}
	for i, c := range creds {
		s, err := p.newSlot(c, i)
		if err != nil {
			return nil, err
		}
		p.slots = append(p.slots, s)
	}
	return p, nil
}

// method reports which credential opts configure; exactly one must be set.
func (opts Options) method() (Method, error) {
	var set []Method
	if opts.ClientSecret != "" {
		set = append(set, MethodSecret)
	}
	if opts.Certificate != nil {
		set = append(set, MethodCertificate)
	}
	if f := opts.Files; f != nil {
		switch {
		case len(f.Secrets) > 0 && len(f.Certificates) > 0:
			return "", errors.New("auth: set secret files or certificate files, not both")
		case len(f.Secrets) > 0:
			set = append(set, MethodSecret)
		case len(f.Certificates) > 0:
			set = append(set, MethodCertificate)
		default:
			return "", errors.New("auth: Files names no file")
		}
	}
	if opts.FederatedTokenFile != "" {
		set = append(set, MethodWorkloadIdentity)
	}
	if opts.ManagedIdentity != nil {
		set = append(set, MethodManagedIdentity)
	}
	if opts.Delegated != nil {
		set = append(set, MethodDelegated)
	}
	switch len(set) {
	case 0:
		return "", errors.New("auth: a client secret, a certificate, a federated token file, a managed identity or the delegated flow is required")
	case 1:
		return set[0], nil
	}
	return "", fmt.Errorf("auth: set one credential, not %s and %s", set[0], set[1])
}

// Method returns the credential method the provider uses.
func (p *Provider) Method() Method { return p.method }

// Token returns an access token for scope (for example GraphScope). A cached
// token is returned while it is valid for more than five minutes. With
// forceRefresh the cache is bypassed: use it once after a server rejected a
// cached token. Concurrent calls for the same scope share one request.
func (p *Provider) Token(ctx context.Context, scope string, forceRefresh bool) (Token, error) {
	p.staleMu.Lock()
	if p.stale[scope] {
		delete(p.stale, scope)
		forceRefresh = true
	}
	if t, ok := p.memo[scope]; ok && !forceRefresh && p.fresh(t) {
		// A daemon asks for every message: the token it got last is
		// handed out while fresh, without MSAL's cache lookup (and the
		// token cache file's lock, read and decryption).
		p.staleMu.Unlock()
		t.FromCache = true
		return t, nil
	}
	p.staleMu.Unlock()
	key := scope
	if forceRefresh {
		key = "refresh\x00" + scope
	}
	ch := p.group.DoChan(key, func() (any, error) {
		// The shared request must not die with the first caller's context.
		return p.acquire(context.WithoutCancel(ctx), scope, forceRefresh)
	})
	select {
	case <-ctx.Done():
		return Token{}, &Error{Scope: scope, Err: ctx.Err()}
	case r := <-ch:
		if r.Err != nil {
			return Token{}, r.Err
		}
		t := r.Val.(Token)
		p.staleMu.Lock()
		if p.memo == nil {
			p.memo = map[string]Token{}
		}
		p.memo[scope] = t
		p.staleMu.Unlock()
		return t, nil
	}
}

// fresh reports whether a token handed out before may be handed out
// again: it is valid for more than five minutes, and MSAL would not renew
// it yet (RefreshOn).
func (p *Provider) fresh(t Token) bool {
	now := p.now()
	return t.ExpiresOn.After(now.Add(5*time.Minute)) && (t.RefreshOn.IsZero() || now.Before(t.RefreshOn))
}

// forget drops the tokens handed out, so that the next Token call asks
// MSAL (after a credential change).
func (p *Provider) forget() {
	p.staleMu.Lock()
	p.memo = nil
	p.staleMu.Unlock()
}

func (p *Provider) acquire(ctx context.Context, scope string, forceRefresh bool) (Token, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var opts []confidential.AcquireByCredentialOption
	if forceRefresh {
		// A claims request bypasses MSAL's cache; asking for a token issued
		// no earlier than now is what a CAE claims challenge asks for too.
		opts = append(opts, confidential.WithClaims(fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, p.now().Unix())))
	}
	switch p.method {
	case MethodManagedIdentity:
		return p.acquireManaged(ctx, scope, forceRefresh)
	case MethodDelegated:
		return p.acquireDelegated(ctx, scope, forceRefresh)
	}
	return p.acquireConfidential(ctx, scope, opts)
}

// Invalidate tells p that a server refused its cached token for scope (a
// 401 without a claims challenge: a revoked session, a signing-key
// rollover; or a 403 from a token that predates a permission just
// granted): the next Token call for scope asks the identity platform for
// a new one instead of using the cache.
func (p *Provider) Invalidate(scope string) {
	p.staleMu.Lock()
	defer p.staleMu.Unlock()
	if p.stale == nil {
		p.stale = map[string]bool{}
	}
	p.stale[scope] = true
	delete(p.memo, scope)
}

// TenantID returns the tenant the provider authenticates against.
func (p *Provider) TenantID() string { return p.tenantID }

// ClientID returns the application (client) ID.
func (p *Provider) ClientID() string { return p.clientID }

// Source returns a view of p bound to one scope, with the method the SMTP
// fallback's TokenSource interface asks for.
func (p *Provider) Source(scope string) *ScopedSource {
	return &ScopedSource{p: p, scope: scope}
}

// ScopedSource yields tokens of one scope from a Provider.
type ScopedSource struct {
	p     *Provider
	scope string
}

// Token returns the bearer token for the source's scope.
func (s *ScopedSource) Token(ctx context.Context, forceRefresh bool) (string, error) {
	t, err := s.p.Token(ctx, s.scope, forceRefresh)
	return t.Value, err
}

// Scope returns the scope the source is bound to.
func (s *ScopedSource) Scope() string { return s.scope }

// tokenFrom converts MSAL's result (the same type for the confidential,
// public and managed identity clients) into a Token.
func tokenFrom(res confidential.AuthResult) Token {
	return Token{
		Value:     res.AccessToken,
		ExpiresOn: res.ExpiresOn,
		RefreshOn: res.Metadata.RefreshOn,
		FromCache: res.Metadata.TokenSource == confidential.TokenSourceCache,
	}
}
