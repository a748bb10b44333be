package auth

import (
	"context"
	"errors"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// TokenCredential adapts p to azcore.TokenCredential, the interface the
// Microsoft Graph SDK authenticates with, so the SDK and the SMTP fallback
// share one MSAL client and cache instead of acquiring tokens twice.
func (p *Provider) TokenCredential() azcore.TokenCredential { return credential{p} }

type credential struct{ p *Provider }

// GetToken implements azcore.TokenCredential. A claims challenge (CAE) in
// opts forces a fresh token.
func (c credential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	if len(opts.Scopes) != 1 {
		return azcore.AccessToken{}, errors.New("auth: exactly one scope per token request")
	}
	t, err := c.p.Token(ctx, opts.Scopes[0], opts.Claims != "")
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return azcore.AccessToken{Token: t.Value, ExpiresOn: t.ExpiresOn, RefreshOn: t.RefreshOn}, nil
}

// Invalidate makes the next token for scope a fresh one (Provider.Invalidate).
func (c credential) Invalidate(scope string) { c.p.Invalidate(scope) }
