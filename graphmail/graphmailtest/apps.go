package graphmailtest

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

func cloneApp(a App) *App {
	c := a
	c.Certificates = slices.Clone(a.Certificates)
	c.Secrets = slices.Clone(a.Secrets)
	c.RedirectURIs = slices.Clone(a.RedirectURIs)
	if a.Roles == nil {
		c.Roles = []string{"Mail.Send", "SMTP.SendAsApp"}
	} else {
		c.Roles = slices.Clone(a.Roles)
	}
	return &c
}

// NewSecret returns a random client secret in the shape Entra ID uses
// (40 characters, "Q~" at positions 4–5).
func NewSecret() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-~"
	b := make([]byte, 40)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("graphmailtest: %w", err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	b[3], b[4] = '8', 'Q'
	b[5] = '~'
	return string(b), nil
}

func cmpOr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// SecretCredential is a client secret of an app registration with its
// lifetime (a passwordCredential).
type SecretCredential struct {
	// Value is the secret; never logged.
	Value string
	// End is when it expires (endDateTime); zero means never.
	End time.Time
	// DisplayName is its description.
	DisplayName string
}

// String describes the secret without its value.
func (c SecretCredential) String() string {
	return fmt.Sprintf("graphmailtest.SecretCredential{Value: %s, End: %s, DisplayName: %q}", redacted(c.Value), c.End.Format(time.RFC3339), c.DisplayName)
}

// GoString implements fmt.GoStringer without the value.
func (c SecretCredential) GoString() string { return c.String() }

// checkSecret is the token endpoint's verdict on a client secret: 0 when
// it is accepted, else the AADSTS code (7000215 unknown, 7000222
// expired).
func (a App) checkSecret(secret string, now time.Time) int {
	if a.Secret != "" && subtle.ConstantTimeCompare([]byte(a.Secret), []byte(secret)) == 1 {
		return 0
	}
	for _, c := range a.Secrets {
		if c.Value != "" && subtle.ConstantTimeCompare([]byte(c.Value), []byte(secret)) == 1 {
			if !c.End.IsZero() && !now.Before(c.End) {
				return 7000222
			}
			return 0
		}
	}
	return 7000215
}

// String describes the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("graphmailtest.App{ClientID: %q, Secret: %s, Secrets: %d, Certificates: %d, Roles: %v}",
		a.ClientID, redacted(a.Secret), len(a.Secrets), len(a.Certificates), a.Roles)
}

// GoString implements fmt.GoStringer without the secrets.
func (a App) GoString() string { return a.String() }

// LogValue logs the app without its secret.
func (a App) LogValue() slog.Value {
	return slog.GroupValue(slog.String("client_id", a.ClientID), slog.String("secret", redacted(a.Secret)),
		slog.Int("certificates", len(a.Certificates)), slog.Any("roles", a.Roles))
}

func redacted(secret string) string {
	if secret == "" {
		return "(none)"
	}
	return "REDACTED"
}
