package graphmailtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are the claims of an access token issued by the sandbox.
type Claims struct {
	// Audience is the aud claim: the resource, such as ResourceGraph.
	Audience string
	// TenantID is the tid claim.
	TenantID string
	// AppID is the appid (and azp) claim: the client ID.
	AppID string
	// Issuer is the iss claim, "https://sts.windows.net/{tid}/".
	Issuer string
	// ObjectID is the oid claim: the app's service principal.
	ObjectID string
	// Roles are the application permissions in the token.
	Roles []string
	// Scopes are the delegated permissions (the scp claim) of a user's
	// token; nil in app-only tokens.
	Scopes []string
	// UPN is the signed-in user of a delegated token ("" for app-only).
	UPN string
	// IDType is the idtyp claim: "app" or "user".
	IDType string
	// Expiry, NotBefore and IssuedAt are the exp, nbf and iat claims.
	Expiry, NotBefore, IssuedAt time.Time
	// UTI is the token's unique identifier (the uti claim).
	UTI string
}

// HasRole reports whether the token carries the application permission.
func (c *Claims) HasRole(role string) bool {
	return slices.ContainsFunc(c.Roles, func(r string) bool { return strings.EqualFold(r, role) })
}

// HasScope reports whether a delegated token carries the permission.
func (c *Claims) HasScope(scope string) bool {
	return slices.ContainsFunc(c.Scopes, func(r string) bool { return strings.EqualFold(r, scope) })
}

// Permits reports whether the token grants perm: as an application
// permission (roles) in an app-only token, as a delegated one (scp) in a
// user's token.
func (c *Claims) Permits(perm string) bool {
	if c.IDType == "user" {
		return c.HasScope(perm)
	}
	return c.HasRole(perm)
}

// Errors from ParseToken, for errors.Is.
var (
	// ErrTokenExpired means the token's exp is in the past.
	ErrTokenExpired = errors.New("graphmailtest: token is expired")
	// ErrTokenInvalid means the token is malformed, not signed by this
	// server, not yet valid, or from another issuer.
	ErrTokenInvalid = errors.New("graphmailtest: token is invalid")
)

// accessClaims is the JSON form of an access token's claims (v1.0 tokens,
// as Entra ID issues for Graph and Exchange Online).
type accessClaims struct {
	Aud   string   `json:"aud"`
	Iss   string   `json:"iss"`
	Iat   int64    `json:"iat"`
	Nbf   int64    `json:"nbf"`
	Exp   int64    `json:"exp"`
	AppID string   `json:"appid"`
	Azp   string   `json:"azp,omitempty"`
	IDTyp string   `json:"idtyp"`
	Oid   string   `json:"oid"`
	Sub   string   `json:"sub"`
	Roles []string `json:"roles,omitempty"`
	Scp   string   `json:"scp,omitempty"`
	Upn   string   `json:"upn,omitempty"`
	Tid   string   `json:"tid"`
	Ver   string   `json:"ver"`
	UTI   string   `json:"uti"`

	UniqueName string `json:"unique_name,omitempty"`
}

func (c accessClaims) GetExpirationTime() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.Exp, 0)), nil
}
func (c accessClaims) GetNotBefore() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.Nbf, 0)), nil
}
func (c accessClaims) GetIssuedAt() (*jwt.NumericDate, error) {
	return jwt.NewNumericDate(time.Unix(c.Iat, 0)), nil
}
func (c accessClaims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Aud}, nil }
func (c accessClaims) GetIssuer() (string, error)             { return c.Iss, nil }
func (c accessClaims) GetSubject() (string, error)            { return c.Sub, nil }

// stsIssuer is the iss of v1.0 access tokens.
func (s *Server) stsIssuer() string { return "https://sts.windows.net/" + s.tenantID + "/" }

// servicePrincipalID derives a stable object ID for an app's service
// principal from its client ID.
func (s *Server) servicePrincipalID(clientID string) string {
	h := sha256.Sum256([]byte(s.tenantID + "/" + strings.ToLower(clientID)))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// issueAccessToken signs an RS256 access token for clientID and resource.
func (s *Server) issueAccessToken(clientID, resource string, roles []string) (string, time.Time, error) {
	now := s.now()
	exp := now.Add(s.lifetime)
	oid := s.servicePrincipalID(clientID)
	iat := now.Unix()
	s.mu.Lock()
	if r := s.revokedUntil; !r.IsZero() && iat <= r.Unix() {
		iat = r.Unix() + 1 // issued after RevokeIssuedTokens, same second
	}
	s.mu.Unlock()
	c := accessClaims{
		Aud:   resource,
		Iss:   s.stsIssuer(),
		Iat:   iat,
		Nbf:   now.Unix(),
		Exp:   exp.Unix(),
		AppID: clientID,
		Azp:   clientID,
		IDTyp: "app",
		Oid:   oid,
		Sub:   oid,
		Roles: roles,
		Tid:   s.tenantID,
		Ver:   "1.0",
		UTI:   randomToken(16),
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	t.Header["kid"] = s.kid
	t.Header["x5t"] = s.kid
	raw, err := t.SignedString(s.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("graphmailtest: sign token: %w", err)
	}
	return raw, exp, nil
}

// ParseToken verifies an access token issued by this server: RS256
// signature with the server's key, exp and nbf against the server's clock
// (no leeway), and the issuer. It does not check the audience or roles;
// the caller decides which resource and permission it needs. Errors wrap
// ErrTokenExpired or ErrTokenInvalid.
func (s *Server) ParseToken(raw string) (*Claims, error) {
	var c accessClaims
	_, err := jwt.ParseWithClaims(raw, &c, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.kid {
			return nil, fmt.Errorf("unknown signing key %q", kid)
		}
		return &s.key.PublicKey, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(s.stsIssuer()),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, fmt.Errorf("%w: %v", ErrTokenExpired, err)
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrTokenInvalid, err)
	case c.Tid != s.tenantID:
		return nil, fmt.Errorf("%w: token is for tenant %q", ErrTokenInvalid, c.Tid)
	}
	return &Claims{
		Audience:  c.Aud,
		TenantID:  c.Tid,
		AppID:     c.AppID,
		Issuer:    c.Iss,
		ObjectID:  c.Oid,
		Roles:     c.Roles,
		Scopes:    strings.Fields(c.Scp),
		UPN:       c.Upn,
		IDType:    c.IDTyp,
		Expiry:    time.Unix(c.Exp, 0),
		NotBefore: time.Unix(c.Nbf, 0),
		IssuedAt:  time.Unix(c.Iat, 0),
		UTI:       c.UTI,
	}, nil
}

// keyID derives a kid from the public key, shaped like Entra's.
func keyID(pub *rsa.PublicKey) string {
	der, _ := x509.MarshalPKIXPublicKey(pub)
	h := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(h[:20])
}

// jwks is the JSON Web Key Set served at discovery/v2.0/keys.
func (s *Server) jwks() map[string]any {
	pub := &s.key.PublicKey
	return map[string]any{"keys": []map[string]any{{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    s.kid,
		"x5t":    s.kid,
		"n":      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"issuer": s.issuerV2(),
	}}}
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newGUID returns a random version-4 UUID.
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// IssueToken signs an access token for a registered app and a resource
// (ResourceGraph, ResourceOutlook or their scopes) without a token
// request, as a shortcut for tests. It is not counted by TokenRequests.
func (s *Server) IssueToken(clientID, resource string) (string, error) {
	app, ok := s.lookupApp(clientID)
	if !ok {
		return "", fmt.Errorf("graphmailtest: no app %q", clientID)
	}
	r := canonicalResource(strings.TrimSuffix(resource, "/.default"))
	tok, _, err := s.issueAccessToken(app.ClientID, r, rolesFor(r, app.Roles))
	return tok, err
}
