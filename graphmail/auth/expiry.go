package auth

import (
	"bytes"
	"context"
	"crypto/sha1" // #nosec G505 -- the thumbprint Entra ID records is SHA-1
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// CredentialKind is the kind of a client credential.
type CredentialKind string

// The kinds of client credentials that expire.
const (
	KindSecret      CredentialKind = "secret"
	KindCertificate CredentialKind = "certificate"
)

// ExpirySource says where a credential's expiry comes from.
type ExpirySource string

// The sources of an expiry date.
const (
	// ExpiryUnknown: nothing says when the credential expires.
	ExpiryUnknown ExpirySource = ""
	// ExpiryFromCertificate: the certificate's NotAfter.
	ExpiryFromCertificate ExpirySource = "certificate"
	// ExpiryFromConfig: the date configured for the secret
	// (CredentialFiles.SecretExpires).
	ExpiryFromConfig ExpirySource = "configuration"
	// ExpiryFromRegistration: the endDateTime the app registration
	// records (see FetchRegistration).
	ExpiryFromRegistration ExpirySource = "app registration"
)

// CredentialInfo describes one client credential of a Provider without
// its secret or key.
type CredentialInfo struct {
	// Kind is KindSecret or KindCertificate.
	Kind CredentialKind
	// ID names the credential: the certificate's SHA-1 thumbprint as the
	// portal shows it, or the secret file's base name ("client_secret" for
	// a secret given directly). It never contains a part of the secret.
	ID string
	// File is the file the credential was read from, or "".
	File string
	// Subject is the certificate's common name ("" for a secret).
	Subject string
	// Expires is when the credential stops being accepted; zero when not
	// known.
	Expires time.Time
	// Source says where Expires comes from.
	Source ExpirySource
	// Active is true for the credential the provider uses now.
	Active bool
}

// ExpiryState is how close a credential is to its expiry.
type ExpiryState int

// The expiry states, in increasing order of trouble.
const (
	// StateUnknown: the expiry is not known.
	StateUnknown ExpiryState = iota
	// StateValid: it expires after the warning window.
	StateValid
	// StateExpiring: it expires within the warning window.
	StateExpiring
	// StateExpired: it has expired.
	StateExpired
)

// State says whether c has expired at now, or expires within warnDays.
func (c CredentialInfo) State(now time.Time, warnDays int) ExpiryState {
	switch {
	case c.Expires.IsZero():
		return StateUnknown
	case !now.Before(c.Expires):
		return StateExpired
	case c.Expires.Sub(now) < time.Duration(warnDays)*24*time.Hour:
		return StateExpiring
	}
	return StateValid
}

// DaysLeft is the number of whole days from now until c expires (negative
// once it has expired); 0 when the expiry is not known.
func (c CredentialInfo) DaysLeft(now time.Time) int {
	if c.Expires.IsZero() {
		return 0
	}
	d := c.Expires.Sub(now)
	days := int(d / (24 * time.Hour))
	if d < 0 && d%(24*time.Hour) != 0 {
		days--
	}
	return days
}

// Name describes the credential for people: "certificate CN=x (thumbprint
// …)" or "client secret from secret.txt".
func (c CredentialInfo) Name() string {
	if c.Kind == KindCertificate {
		if c.Subject != "" {
			return fmt.Sprintf("certificate %q (thumbprint %s)", c.Subject, c.ID)
		}
		return "certificate " + c.ID
	}
	if c.File != "" {
		return "client secret from " + filepath.Base(c.File)
	}
	return "client secret"
}

// LogValue logs the credential's kind, ID and expiry.
func (c CredentialInfo) LogValue() slog.Value {
	attrs := []slog.Attr{slog.String("kind", string(c.Kind)), slog.String("id", c.ID)}
	if !c.Expires.IsZero() {
		attrs = append(attrs, slog.Time("expires", c.Expires), slog.String("source", string(c.Source)))
	}
	return slog.GroupValue(attrs...)
}

// Credentials describes the client secrets or certificates the provider
// holds, in the order they are tried, with what is known of their expiry:
// a certificate's NotAfter, the configured date of the first secret, and,
// when reg is not nil, the endDateTime the app registration records for a
// matching secret (by its hint) or certificate (by its thumbprint). It is
// empty for the other methods: a federated credential, a managed identity
// and a signed-in user have no client credential that expires.
func (p *Provider) Credentials(reg *Registration) []CredentialInfo {
	slots, active := p.slotsSnapshot()
	var out []CredentialInfo
	for i, s := range slots {
		c := s.cred
		if c.cert == nil && c.secret == "" {
			continue // workload identity
		}
		info := CredentialInfo{Kind: c.kind(), ID: c.id(), File: c.file, Expires: c.expires, Active: i == active}
		if !c.expires.IsZero() {
			info.Source = ExpiryFromConfig
		}
		if c.cert != nil {
			info.Subject = c.cert.Chain[0].Subject.CommonName
			info.Source = ExpiryFromCertificate
		}
		if reg != nil {
			if end, ok := reg.match(c); ok && (c.cert == nil || info.Expires.IsZero()) {
				info.Expires, info.Source = end, ExpiryFromRegistration
			}
		}
		out = append(out, info)
	}
	return out
}

// Registration is what the app registration records of its credentials
// (Microsoft Graph's application resource). Reading it needs the
// Application.Read.All or Application.ReadWrite.OwnedBy application
// permission; see FetchRegistration.
type Registration struct {
	// Secrets are the passwordCredentials.
	Secrets []RegisteredCredential
	// Certificates are the keyCredentials.
	Certificates []RegisteredCredential
}

// RegisteredCredential is one credential of the app registration. Its
// String method leaves out the secret's hint.
type RegisteredCredential struct {
	// KeyID is the credential's keyId.
	KeyID string
	// DisplayName is its description.
	DisplayName string
	// End is its endDateTime.
	End time.Time
	// hint is the first characters of a secret (passwordCredentials).
	hint string
	// thumbprint is a certificate's customKeyIdentifier: the SHA-1
	// thumbprint (keyCredentials).
	thumbprint []byte
}

// String describes the credential without the secret's hint.
func (r RegisteredCredential) String() string {
	return fmt.Sprintf("%s %q ends %s", r.KeyID, r.DisplayName, r.End.UTC().Format(time.RFC3339))
}

// GoString implements fmt.GoStringer without the secret's hint.
func (r RegisteredCredential) GoString() string { return r.String() }

// match finds c in the registration and returns its endDateTime.
func (reg *Registration) match(c clientCred) (time.Time, bool) {
	if c.cert != nil {
		sum := sha1.Sum(c.cert.Chain[0].Raw) // #nosec G401 -- an identifier
		for _, r := range reg.Certificates {
			if bytes.Equal(r.thumbprint, sum[:]) {
				return r.End, true
			}
		}
		return time.Time{}, false
	}
	var found []time.Time
	for _, r := range reg.Secrets {
		if r.hint != "" && strings.HasPrefix(c.secret, r.hint) {
			found = append(found, r.End)
		}
	}
	if len(found) != 1 {
		return time.Time{}, false // two secrets with the same hint: ambiguous
	}
	return found[0], true
}

// RegistrationError is a failure to read the app registration.
type RegistrationError struct {
	// StatusCode is Graph's HTTP status (0 when Graph was not reached).
	StatusCode int
	// Code is Graph's error code, for example
	// "Authorization_RequestDenied".
	Code string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *RegistrationError) Error() string {
	switch {
	case e.StatusCode != 0 && e.Code != "":
		return fmt.Sprintf("auth: reading the app registration: HTTP %d %s", e.StatusCode, e.Code)
	case e.StatusCode != 0:
		return fmt.Sprintf("auth: reading the app registration: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	return "auth: reading the app registration: " + oneLine(fmt.Sprint(e.Err))
}

// Unwrap returns the underlying error.
func (e *RegistrationError) Unwrap() error { return e.Err }

// NotPermitted reports whether Graph refused because the app may not read
// its own registration (no Application.Read.All or
// Application.ReadWrite.OwnedBy permission): an optional permission, not a
// fault.
func (e *RegistrationError) NotPermitted() bool {
	return e.StatusCode == http.StatusForbidden || e.StatusCode == http.StatusUnauthorized
}

// FetchRegistration reads the credentials of the app registration clientID
// with GET {graphEndpoint}/v1.0/applications(appId='{clientID}'),
// authenticated with a Graph token from tokens. hc nil means
// http.DefaultClient. Errors are *RegistrationError, or the token error.
func FetchRegistration(ctx context.Context, hc *http.Client, graphEndpoint, graphScope, clientID string, tokens interface {
	Token(ctx context.Context, scope string, forceRefresh bool) (Token, error)
}) (*Registration, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	tok, err := tokens.Token(ctx, graphScope, false)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(graphEndpoint, "/") + "/v1.0/applications(appId='" + url.PathEscape(strings.ReplaceAll(clientID, "'", "''")) + "')?$select=passwordCredentials,keyCredentials"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, &RegistrationError{Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+tok.Value)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, &RegistrationError{Err: err}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, &RegistrationError{StatusCode: resp.StatusCode, Err: err}
	}
	if resp.StatusCode != http.StatusOK {
		var ge struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		_ = json.Unmarshal(body, &ge)
		return nil, &RegistrationError{StatusCode: resp.StatusCode, Code: oneLine(ge.Error.Code)}
	}
	return parseRegistration(body)
}

// parseRegistration reads the application resource's credentials.
func parseRegistration(body []byte) (*Registration, error) {
	type cred struct {
		KeyID               string    `json:"keyId"`
		DisplayName         string    `json:"displayName"`
		EndDateTime         time.Time `json:"endDateTime"`
		Hint                string    `json:"hint"`
		CustomKeyIdentifier string    `json:"customKeyIdentifier"`
	}
	var v struct {
		PasswordCredentials []cred `json:"passwordCredentials"`
		KeyCredentials      []cred `json:"keyCredentials"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, &RegistrationError{StatusCode: http.StatusOK, Err: errors.New("the answer is not an application resource")}
	}
	reg := &Registration{}
	for _, c := range v.PasswordCredentials {
		reg.Secrets = append(reg.Secrets, RegisteredCredential{KeyID: oneLine(c.KeyID), DisplayName: oneLine(c.DisplayName), End: c.EndDateTime, hint: c.Hint})
	}
	for _, c := range v.KeyCredentials {
		reg.Certificates = append(reg.Certificates, RegisteredCredential{KeyID: oneLine(c.KeyID), DisplayName: oneLine(c.DisplayName), End: c.EndDateTime, thumbprint: thumbprintBytes(c.CustomKeyIdentifier)})
	}
	return reg, nil
}

// thumbprintBytes decodes a customKeyIdentifier: base64 of the SHA-1
// thumbprint, or of the thumbprint written in hex (both occur).
func thumbprintBytes(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	if len(b) == 40 {
		if h, err := hex.DecodeString(string(b)); err == nil {
			return h
		}
	}
	return b
}
