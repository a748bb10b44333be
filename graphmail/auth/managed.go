package auth

import (
	"context"
	"fmt"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

// newManagedIdentity creates the MSAL managed identity client. MSAL picks
// the source (App Service, IMDS, Azure Arc, Cloud Shell, Azure ML, Service
// Fabric) from the environment when the client is created.
func (p *Provider) newManagedIdentity(opts Options) error {
	id := managedidentity.SystemAssigned()
	if c := opts.ManagedIdentity.ClientID; c != "" {
		id = managedidentity.UserAssignedClientID(c)
		p.clientID = c
	}
	var mopts []managedidentity.ClientOption
	if opts.HTTPClient != nil {
		mopts = append(mopts, managedidentity.WithHTTPClient(opts.HTTPClient))
	}
	var err error
	if p.mi, err = managedidentity.New(id, mopts...); err != nil {
		return fmt.Errorf("auth: creating the MSAL managed identity client: %w", err)
	}
	p.miUser = opts.ManagedIdentity.ClientID != ""
	return nil
}

// ManagedIdentitySource returns where MSAL finds the managed identity
// endpoint in this environment: "AppService", "DefaultToIMDS", "AzureArc"…
func ManagedIdentitySource() string {
	s, err := managedidentity.GetSource()
	if err != nil {
		return "unknown"
	}
	return string(s)
}

func (p *Provider) acquireManaged(ctx context.Context, scope string, forceRefresh bool) (Token, error) {
	var opts []managedidentity.AcquireTokenOption
	if forceRefresh {
		opts = append(opts, managedidentity.WithClaims(fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, p.now().Unix())))
	}
	res, err := p.mi.AcquireToken(ctx, scope, opts...)
	if err != nil {
		e := wrapMethod(MethodManagedIdentity, scope, err).(*Error)
		e.UserAssigned = p.miUser
		p.log.Debug("token request failed", "scope", scope, "method", p.method, "error", e)
		return Token{}, e
	}
	t := tokenFrom(res)
	p.log.Debug("token acquired", "scope", scope, "method", p.method, "from_cache", t.FromCache, "expires_on", t.ExpiresOn)
	return t, nil
}
