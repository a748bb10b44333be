package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// tokenClaims are the claims of an Entra ID access token that people need
// to see. graphmail does not verify the signature (the resource does); it
// only reads the token it was just given.
type tokenClaims struct {
	Audience string    `json:"aud"`
	Issuer   string    `json:"iss"`
	TenantID string    `json:"tid"`
	AppID    string    `json:"appid"`
	Roles    []string  `json:"roles"`
	Scp      string    `json:"scp"` // delegated permissions of a user's token
	UPN      string    `json:"upn"`
	Expiry   time.Time `json:"-"`
	IssuedAt time.Time `json:"-"`
	Raw      map[string]any
}

// decodeClaims reads the payload of a JWT.
func decodeClaims(token string) (*tokenClaims, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errors.New("the access token is not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("the access token's payload is not base64url: %w", err)
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("the access token's payload is not JSON: %w", err)
	}
	if err := json.Unmarshal(payload, &c.Raw); err != nil {
		return nil, err
	}
	if c.AppID == "" {
		c.AppID, _ = c.Raw["azp"].(string)
	}
	if exp, ok := c.Raw["exp"].(float64); ok {
		c.Expiry = time.Unix(int64(exp), 0)
	}
	if iat, ok := c.Raw["iat"].(float64); ok {
		c.IssuedAt = time.Unix(int64(iat), 0)
	}
	return &c, nil
}

// hasRole reports whether the token grants role as an application
// permission or, in a user's token, as a delegated one.
func (c *tokenClaims) hasRole(role string) bool {
	for _, r := range append(strings.Fields(c.Scp), c.Roles...) {
		if strings.EqualFold(r, role) {
			return true
		}
	}
	return false
}
