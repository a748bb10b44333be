package graphmailtest

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
)

func cloneApp(a App) *App {
	c := a
	c.Certificates = slices.Clone(a.Certificates)
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

// String describes the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("graphmailtest.App{ClientID: %q, Secret: %s, Certificates: %d, Roles: %v}",
		a.ClientID, redacted(a.Secret), len(a.Certificates), a.Roles)
}

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
