package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// Delegated configures the delegated flow: a public client acting for a
// signed-in user. Login (device code or browser) happens once; afterwards
// Token refreshes silently with the refresh token kept in Options.Cache.
type Delegated struct {
	// User picks the cached account by user name (UPN) and is the login
	// hint of a browser sign-in; "" means the only cached account.
	User string
	// Scopes maps the scope a consumer asks for (for example GraphScope,
	// ".default" as the app-only callers use) to the delegated scopes
	// requested instead (for example "https://graph.microsoft.com/Mail.Send").
	// A scope not in the map is requested as given.
	Scopes map[string][]string
	// OnRefresh, if set, is called after every token that reached the
	// authority with the cached refresh token (not after cache hits), with
	// the account's user name. It must not block.
	OnRefresh func(user string, at time.Time)
}

// NotSignedInError means the delegated flow has no usable account in the
// cache: nobody has signed in yet, the cache was removed, or a user other
// than Delegated.User is cached.
type NotSignedInError struct {
	// User is the account asked for ("" for any).
	User string
	// Cached lists the user names in the cache.
	Cached []string
}

// Error implements error.
func (e *NotSignedInError) Error() string {
	switch {
	case e.User != "" && len(e.Cached) > 0:
		return fmt.Sprintf("auth: %s is not signed in (the token cache holds %s)", e.User, strings.Join(e.Cached, ", "))
	case e.User != "":
		return "auth: " + e.User + " is not signed in"
	case len(e.Cached) > 1:
		return "auth: several accounts are signed in (" + strings.Join(e.Cached, ", ") + ")"
	}
	return "auth: nobody is signed in"
}

// DeviceCodePrompt is what a person needs to finish a device code sign-in
// on another device.
type DeviceCodePrompt struct {
	// VerificationURL is where to sign in (https://microsoft.com/devicelogin).
	VerificationURL string
	// UserCode is the code to type there.
	UserCode string
	// Message is the authority's instruction text.
	Message string
	// ExpiresOn is when the code stops working.
	ExpiresOn time.Time
}

// Account is a signed-in user.
type Account struct {
	// Username is the user principal name (preferred_username).
	Username string
	// HomeAccountID identifies the account in the cache.
	HomeAccountID string
}

func (p *Provider) newPublic(opts Options, host string) error {
	popts := []public.Option{
		public.WithAuthority(host + "/" + opts.TenantID),
		public.WithInstanceDiscovery(opts.InstanceDiscovery),
	}
	if opts.HTTPClient != nil {
		popts = append(popts, public.WithHTTPClient(opts.HTTPClient))
	}
	if opts.Cache != nil {
		popts = append(popts, public.WithCache(opts.Cache))
	}
	var err error
	if p.pub, err = public.New(opts.ClientID, popts...); err != nil {
		return fmt.Errorf("auth: creating the MSAL public client: %w", err)
	}
	p.delegated = *opts.Delegated
	return nil
}

// delegatedScopes maps a consumer's scope to the delegated scopes.
func (p *Provider) delegatedScopes(scope string) []string {
	if s, ok := p.delegated.Scopes[scope]; ok && len(s) > 0 {
		return s
	}
	return []string{scope}
}

// account returns the cached account to act for.
func (p *Provider) account(ctx context.Context) (public.Account, error) {
	accts, err := p.pub.Accounts(ctx)
	if err != nil {
		return public.Account{}, err
	}
	var names []string
	for _, a := range accts {
		names = append(names, a.PreferredUsername)
		if p.delegated.User != "" && strings.EqualFold(a.PreferredUsername, p.delegated.User) {
			return a, nil
		}
	}
	if p.delegated.User == "" && len(accts) == 1 {
		return accts[0], nil
	}
	return public.Account{}, &NotSignedInError{User: p.delegated.User, Cached: names}
}

// Account returns the signed-in user the provider acts for, or a
// *NotSignedInError (wrapped in *Error) when there is none. It is only
// for the delegated method.
func (p *Provider) Account(ctx context.Context) (Account, error) {
	if p.method != MethodDelegated {
		return Account{}, errors.New("auth: accounts exist only with the delegated method")
	}
	a, err := p.account(ctx)
	if err != nil {
		return Account{}, &Error{Err: err, Method: MethodDelegated}
	}
	return Account{Username: a.PreferredUsername, HomeAccountID: a.HomeAccountID}, nil
}

func (p *Provider) acquireDelegated(ctx context.Context, scope string, forceRefresh bool) (Token, error) {
	acct, err := p.account(ctx)
	if err != nil {
		return Token{}, &Error{Scope: scope, Err: err, Method: MethodDelegated}
	}
	opts := []public.AcquireSilentOption{public.WithSilentAccount(acct)}
	if forceRefresh {
		opts = append(opts, public.WithClaims(fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, p.now().Unix())))
	}
	res, err := p.pub.AcquireTokenSilent(ctx, p.delegatedScopes(scope), opts...)
	if err != nil {
		err = wrapMethod(MethodDelegated, scope, err)
		p.log.Debug("token request failed", "scope", scope, "method", p.method, "error", err)
		return Token{}, err
	}
	t := tokenFrom(res)
	if !t.FromCache && p.delegated.OnRefresh != nil {
		p.delegated.OnRefresh(acct.PreferredUsername, p.now())
	}
	p.log.Debug("token acquired", "scope", scope, "method", p.method, "from_cache", t.FromCache, "expires_on", t.ExpiresOn)
	return t, nil
}

// LoginDeviceCode signs a user in with the device code flow for scope
// (mapped through Delegated.Scopes): it asks the authority for a code,
// calls prompt so that a person can enter it on any device, and waits
// until they have signed in, the code expires or ctx ends. The tokens land
// in the cache.
func (p *Provider) LoginDeviceCode(ctx context.Context, scope string, prompt func(DeviceCodePrompt) error) (Account, error) {
	if p.method != MethodDelegated {
		return Account{}, errors.New("auth: login is only for the delegated method")
	}
	dc, err := p.pub.AcquireTokenByDeviceCode(ctx, p.delegatedScopes(scope))
	if err != nil {
		return Account{}, wrapMethod(MethodDelegated, scope, err)
	}
	if err := prompt(DeviceCodePrompt{VerificationURL: dc.Result.VerificationURL, UserCode: dc.Result.UserCode, Message: dc.Result.Message, ExpiresOn: dc.Result.ExpiresOn}); err != nil {
		return Account{}, err
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		return Account{}, wrapMethod(MethodDelegated, scope, err)
	}
	return p.loggedIn(res), nil
}

// LoginBrowser signs a user in with the authorization code flow and PKCE:
// MSAL listens on redirectURI (http://localhost:PORT; port 0 or none
// picks a free port), open is called with the sign-in URL, and the code
// the browser brings back is redeemed. Delegated.User is the login hint.
func (p *Provider) LoginBrowser(ctx context.Context, scope, redirectURI string, open func(url string) error) (Account, error) {
	if p.method != MethodDelegated {
		return Account{}, errors.New("auth: login is only for the delegated method")
	}
	opts := []public.AcquireInteractiveOption{public.WithOpenURL(open)}
	if redirectURI != "" {
		opts = append(opts, public.WithRedirectURI(redirectURI))
	}
	if p.delegated.User != "" {
		opts = append(opts, public.WithLoginHint(p.delegated.User))
	}
	res, err := p.pub.AcquireTokenInteractive(ctx, p.delegatedScopes(scope), opts...)
	if err != nil {
		return Account{}, wrapMethod(MethodDelegated, scope, err)
	}
	return p.loggedIn(res), nil
}

func (p *Provider) loggedIn(res public.AuthResult) Account {
	if p.delegated.OnRefresh != nil {
		p.delegated.OnRefresh(res.Account.PreferredUsername, p.now())
	}
	p.log.Debug("signed in", "user", res.Account.PreferredUsername, "expires_on", res.ExpiresOn)
	return Account{Username: res.Account.PreferredUsername, HomeAccountID: res.Account.HomeAccountID}
}

// Logout removes every cached account (with its refresh and access
// tokens) and returns the user names removed.
func (p *Provider) Logout(ctx context.Context) ([]string, error) {
	if p.method != MethodDelegated {
		return nil, errors.New("auth: logout is only for the delegated method")
	}
	accts, err := p.pub.Accounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: reading the token cache: %w", err)
	}
	var names []string
	for _, a := range accts {
		if err := p.pub.RemoveAccount(ctx, a); err != nil {
			return names, fmt.Errorf("auth: removing %s: %w", a.PreferredUsername, err)
		}
		names = append(names, a.PreferredUsername)
	}
	return names, nil
}
