package graphmailtest

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FederatedAudience is the audience Entra ID expects in federated tokens
// (workload identity federation), and the default of Federation.Audience.
const FederatedAudience = "api://AzureADTokenExchange"

// Federation is a federated identity credential on an app registration:
// the app trusts tokens from an outside OpenID Connect issuer (a Kubernetes
// cluster, GitHub Actions, GitLab) for one subject.
type Federation struct {
	// ClientID is the app that trusts the issuer.
	ClientID string
	// Issuer is the iss the tokens must carry, such as
	// "https://oidc.prod-aks.azure.com/{tenant}/{cluster}/".
	Issuer string
	// Subject is the sub the tokens must carry, such as
	// "system:serviceaccount:mail:graphmail".
	Subject string
	// Audience is the aud the tokens must carry; default FederatedAudience.
	Audience string
}

// federatedIssuer is an outside OIDC issuer whose signing key (its JWKS)
// the tenant has fetched.
type federatedIssuer struct {
	key *rsa.PrivateKey
	kid string
}

// AddFederation registers a federated identity credential and, for an
// issuer not seen before, generates that issuer's signing key (standing in
// for the JWKS Entra ID would fetch from the issuer). Mint tokens it
// accepts with MintFederatedToken.
func (s *Server) AddFederation(f Federation) error {
	if f.ClientID == "" || f.Issuer == "" || f.Subject == "" {
		return errors.New("graphmailtest: a Federation needs ClientID, Issuer and Subject")
	}
	if f.Audience == "" {
		f.Audience = FederatedAudience
	}
	s.mu.Lock()
	_, known := s.issuers[f.Issuer]
	s.mu.Unlock()
	if !known {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return fmt.Errorf("graphmailtest: generate issuer key: %w", err)
		}
		s.mu.Lock()
		if _, known = s.issuers[f.Issuer]; !known {
			s.issuers[f.Issuer] = &federatedIssuer{key: key, kid: keyID(&key.PublicKey)}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.federations = append(s.federations, f)
	return nil
}

// MintFederatedToken signs a token as the outside issuer would (RS256 with
// the issuer's key, registered by AddFederation): iss issuer, sub subject,
// aud audience ("" means FederatedAudience), valid from the server's now
// for lifetime (negative gives an already expired token).
func (s *Server) MintFederatedToken(issuer, subject, audience string, lifetime time.Duration) (string, error) {
	s.mu.Lock()
	is := s.issuers[issuer]
	s.mu.Unlock()
	if is == nil {
		return "", fmt.Errorf("graphmailtest: no federation with issuer %q", issuer)
	}
	if audience == "" {
		audience = FederatedAudience
	}
	now := s.now()
	iat := now
	if lifetime < 0 {
		iat = now.Add(2 * lifetime)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer,
		"sub": subject,
		"aud": audience,
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": now.Add(lifetime).Unix(),
		"jti": randomToken(12),
	})
	t.Header["kid"] = is.kid
	raw, err := t.SignedString(is.key)
	if err != nil {
		return "", fmt.Errorf("graphmailtest: sign federated token: %w", err)
	}
	return raw, nil
}

// FederatedRequests returns how many tokens were issued in exchange for a
// federated assertion.
func (s *Server) FederatedRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.federatedIssued
}

// isFederatedAssertion reports whether a client assertion comes from an
// outside issuer: iss other than the client ID and no certificate
// thumbprint in the header (a certificate assertion always names its
// certificate).
func isFederatedAssertion(clientID, raw string) bool {
	claims := jwt.MapClaims{}
	t, _, err := jwt.NewParser().ParseUnverified(raw, claims)
	if err != nil {
		return false
	}
	_, x5t := t.Header["x5t"]
	_, x5t256 := t.Header["x5t#S256"]
	iss, _ := claims.GetIssuer()
	return iss != "" && !strings.EqualFold(iss, clientID) && !x5t && !x5t256
}

// verifyFederatedAssertion checks a federated client assertion the way
// Entra ID does: signed by the key of a known issuer, within its validity
// (AADSTS700024 otherwise), and matching a federated credential of the app
// by issuer, subject and audience (AADSTS70021 otherwise).
func (s *Server) verifyFederatedAssertion(app App, raw string) *aadError {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		iss, _ := t.Claims.GetIssuer()
		s.mu.Lock()
		is := s.issuers[iss]
		s.mu.Unlock()
		if is == nil {
			return nil, errUnknownIssuer
		}
		return &is.key.PublicKey, nil
	},
		jwt.WithValidMethods([]string{"RS256", "PS256"}),
		jwt.WithTimeFunc(s.now),
		jwt.WithExpirationRequired(),
	)
	switch {
	case errors.Is(err, errUnknownIssuer):
		e := newAADError(70021, "")
		return &e
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet):
		e := newAADError(700024, "")
		return &e
	case err != nil:
		return &aadError{status: 401, err: "invalid_client", code: 700027,
			desc: "Client assertion failed signature validation. [Reason - The key used to sign the federated token is not in the issuer's key set.]"}
	}
	iss, _ := claims.GetIssuer()
	sub, _ := claims.GetSubject()
	aud, _ := claims.GetAudience()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.federations {
		if strings.EqualFold(f.ClientID, app.ClientID) && f.Issuer == iss && f.Subject == sub && containsFold(aud, f.Audience) {
			return nil
		}
	}
	e := newAADError(70021, "")
	return &e
}

var errUnknownIssuer = errors.New("unknown federated issuer")
