package auth

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// Claims are the claims of a JWT that graphmail shows people or acts on:
// those of an Entra ID access token (audience, tenant, app, permissions)
// and those of a federated token (issuer, subject, expiry).
type Claims struct {
	// Audience is "aud". A token naming several audiences (a JSON array)
	// has them here separated by spaces.
	Audience string
	// Issuer is "iss".
	Issuer string
	// Subject is "sub".
	Subject string
	// TenantID is "tid", the Entra ID tenant.
	TenantID string
	// AppID is "appid" (v1.0 access tokens) or else "azp" (v2.0).
	AppID string
	// Roles is "roles", the application permissions of an app-only token.
	// A single string counts as one role.
	Roles []string
	// Scp is "scp", the space-separated delegated permissions of a user's
	// token. A JSON array is joined with spaces.
	Scp string
	// UPN is "upn", the user of a user's token.
	UPN string
	// Expiry is "exp"; the zero time when it is absent or not a number.
	Expiry time.Time
	// IssuedAt is "iat"; the zero time when it is absent or not a number.
	IssuedAt time.Time
	// Raw holds every claim of the payload as decoded by encoding/json
	// (numbers are float64). It is never nil.
	Raw map[string]any
}

// ClaimsError reports a token whose claims cannot be read. It holds no
// part of the token.
type ClaimsError struct {
	// Problem says what is wrong, for example "is not a JWT".
	Problem string
}

// Error implements error.
func (e *ClaimsError) Error() string { return "auth: the token " + e.Problem }

// The problems DecodeClaims reports.
const (
	problemNotJWT    = "is not a JWT (three dot-separated parts)"
	problemNotBase64 = "has a payload that is not base64url"
	problemNotJSON   = "has a payload that is not a JSON object"
)

// DecodeClaims returns the claims in the payload of a JWS compact JWT
// (header.payload.signature). It does not verify the signature, nor check
// the header, the expiry or anything else: the resource that receives a
// token verifies it. Use it only to show or act on a token this process
// was just given by the authority or by its platform, never to decide
// whether to trust a token someone else presented.
//
// The payload may be base64url with or without padding. Claims of an
// unexpected JSON type leave their field empty (they are still in Raw);
// only a token that is not three dot-separated parts, or whose payload is
// not base64url or not a JSON object, is an error: a *[ClaimsError], whose
// text never contains the token. The token is used as given: trim white
// space around it first.
func DecodeClaims(token string) (*Claims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, &ClaimsError{Problem: problemNotJWT}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, &ClaimsError{Problem: problemNotBase64}
	}
	var raw map[string]any
	// The JSON error is dropped: it may quote the payload.
	if json.Unmarshal(payload, &raw) != nil || raw == nil {
		return nil, &ClaimsError{Problem: problemNotJSON}
	}
	c := &Claims{
		Audience: strings.Join(stringList(raw["aud"]), " "),
		Issuer:   stringClaim(raw["iss"]),
		Subject:  stringClaim(raw["sub"]),
		TenantID: stringClaim(raw["tid"]),
		AppID:    stringClaim(raw["appid"]),
		Roles:    stringList(raw["roles"]),
		Scp:      strings.Join(stringList(raw["scp"]), " "),
		UPN:      stringClaim(raw["upn"]),
		Expiry:   timeClaim(raw["exp"]),
		IssuedAt: timeClaim(raw["iat"]),
		Raw:      raw,
	}
	if c.AppID == "" {
		c.AppID = stringClaim(raw["azp"])
	}
	return c, nil
}

// HasRole reports whether the token grants role, compared without regard
// to case, as an application permission (Roles) or, in a user's token, as a
// delegated one (Scp).
func (c *Claims) HasRole(role string) bool {
	for _, r := range append(strings.Fields(c.Scp), c.Roles...) {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}

// stringClaim returns v if it is a string, else "".
func stringClaim(v any) string {
	s, _ := v.(string)
	return s
}

// stringList returns v as a list of strings: a string is a list of one, an
// array keeps its string elements, anything else is no list.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// timeClaim returns v, a JSON number of seconds since the Unix epoch (RFC
// 7519's NumericDate), as a time truncated to the second, or the zero time
// if v is not a number or too large to be a time.
func timeClaim(v any) time.Time {
	f, ok := v.(float64)
	if !ok || math.Abs(f) >= 1<<62 {
		return time.Time{}
	}
	return time.Unix(int64(f), 0)
}
