package graphmailtest

import (
	"crypto/rsa"
	"crypto/sha1" // #nosec G505 -- x5t is defined as a SHA-1 thumbprint
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// errUnregisteredCert is returned by the assertion key function when the
// thumbprint in the header matches no certificate of the app.
type errUnregisteredCert struct{ thumbprint string }

func (e errUnregisteredCert) Error() string { return "certificate not registered: " + e.thumbprint }

// verifyAssertion checks a client assertion the way Entra ID does: a JWT
// signed with PS256 or RS256 by the key of a certificate registered on the
// app (found by the x5t#S256 or x5t header), aud the tenant's token
// endpoint, iss and sub the client ID, a jti, and a valid time range.
func (s *Server) verifyAssertion(app App, raw string) *aadError {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		key, cert, err := findAssertionKey(app, t.Header)
		if err == nil && !s.now().Before(cert.NotAfter) {
			return nil, errExpiredCert{thumbprint: strings.ToUpper(hex.EncodeToString(sha1Sum(cert.Raw))), start: cert.NotBefore, end: cert.NotAfter}
		}
		return key, err
	},
		jwt.WithValidMethods([]string{"PS256", "RS256"}),
		jwt.WithTimeFunc(s.now),
		jwt.WithLeeway(5*time.Minute),
		jwt.WithExpirationRequired(),
	)
	var unreg errUnregisteredCert
	var expired errExpiredCert
	switch {
	case errors.As(err, &unreg):
		e := newAADError(700027, unreg.thumbprint)
		return &e
	case errors.As(err, &expired):
		return &aadError{status: 401, err: "invalid_client", code: 700027,
			desc: "Client assertion failed signature validation. [Reason - The key used is expired., Thumbprint of key used by client: '" + expired.thumbprint + "', Found key 'Start=" +
				expired.start.UTC().Format("01/02/2006 15:04:05") + ", End=" + expired.end.UTC().Format("01/02/2006 15:04:05") + "']"}
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return &aadError{status: 401, err: "invalid_client", code: 700027,
			desc: "Client assertion failed signature validation. [Reason - The key used to sign the assertion does not match the registered certificate.]"}
	case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		e := newAADError(700024, "")
		return &e
	case err != nil:
		return &aadError{status: 400, err: "invalid_request", code: 50027, desc: "JWT token is invalid or malformed."}
	}

	aud, _ := claims.GetAudience()
	if !s.validAssertionAudience(aud) {
		return &aadError{status: 401, err: "invalid_client", code: 50012,
			desc: "Client assertion audience claim does not match Realm issuer. Expected " + s.tokenEndpoint() + "."}
	}
	iss, _ := claims.GetIssuer()
	sub, _ := claims.GetSubject()
	if !strings.EqualFold(iss, app.ClientID) || !strings.EqualFold(sub, app.ClientID) {
		e := newAADError(700021, "")
		return &e
	}
	if jti, _ := claims["jti"].(string); jti == "" {
		return &aadError{status: 401, err: "invalid_client", code: 50012, desc: "Client assertion is missing the jti claim."}
	}
	return nil
}

// validAssertionAudience accepts the tenant's token endpoint, v2.0 or v1,
// with the tenant ID or the domain in the path.
func (s *Server) validAssertionAudience(aud jwt.ClaimStrings) bool {
	for _, a := range aud {
		for _, tenant := range []string{s.tenantID, s.tenantDomain} {
			for _, p := range []string{"/oauth2/v2.0/token", "/oauth2/token"} {
				if strings.EqualFold(a, s.authority.url+"/"+tenant+p) {
					return true
				}
			}
		}
	}
	return false
}

// findAssertionKey returns the public key of the app certificate named by
// the JOSE header's x5t#S256 (SHA-256) or x5t (SHA-1) thumbprint. MSAL
// encodes thumbprints with standard base64; base64url is accepted too.
func findAssertionKey(app App, header map[string]any) (any, *x509.Certificate, error) {
	var want []byte
	var sum func([]byte) []byte
	if v, ok := header["x5t#S256"].(string); ok {
		want = decodeThumbprint(v)
		sum = func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	} else if v, ok := header["x5t"].(string); ok {
		want = decodeThumbprint(v)
		sum = func(b []byte) []byte { h := sha1.Sum(b); return h[:] } // #nosec G401
	} else {
		return nil, nil, errUnregisteredCert{thumbprint: "(no x5t or x5t#S256 header)"}
	}
	for _, c := range app.Certificates {
		if c != nil && string(sum(c.Raw)) == string(want) {
			if pub, ok := c.PublicKey.(*rsa.PublicKey); ok {
				return pub, c, nil
			}
		}
	}
	return nil, nil, errUnregisteredCert{thumbprint: strings.ToUpper(hex.EncodeToString(want))}
}

// errExpiredCert is returned by the assertion key function when the
// certificate that signed the assertion is past its end date: Entra ID
// refuses it (AADSTS700027, "The key used is expired").
type errExpiredCert struct {
	thumbprint string
	start, end time.Time
}

func (e errExpiredCert) Error() string { return "certificate expired: " + e.thumbprint }

func sha1Sum(b []byte) []byte { h := sha1.Sum(b); return h[:] } // #nosec G401 -- a thumbprint

func decodeThumbprint(v string) []byte {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b
		}
	}
	return nil
}
