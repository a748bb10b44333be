package auth

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
)

// Method names the way the app proves who it is.
type Method string

// The credential methods a Provider supports.
const (
	// MethodSecret is a client secret (Options.ClientSecret).
	MethodSecret Method = "secret"
	// MethodCertificate is a client certificate (Options.Certificate).
	MethodCertificate Method = "certificate"
	// MethodWorkloadIdentity is workload identity federation: a token from
	// an outside issuer (Kubernetes, GitHub Actions…) read from
	// Options.FederatedTokenFile and sent as the client assertion.
	MethodWorkloadIdentity Method = "workload_identity"
	// MethodManagedIdentity is an Azure managed identity
	// (Options.ManagedIdentity): no credential at all.
	MethodManagedIdentity Method = "managed_identity"
	// MethodDelegated is the delegated flow (Options.Delegated): a user
	// signs in once (device code or browser) and the refresh token in the
	// persistent cache renews access tokens unattended.
	MethodDelegated Method = "delegated"
)

// ManagedIdentity selects the Azure managed identity to use.
type ManagedIdentity struct {
	// ClientID selects a user-assigned identity by its client ID; ""
	// means the resource's system-assigned identity.
	ClientID string
}

// FederatedTokenError is a federated token file that cannot be used: it
// is missing, unreadable, empty or holds an expired token. It never holds
// the token itself.
type FederatedTokenError struct {
	// Path is the federated token file.
	Path string
	// Problem says what is wrong with it.
	Problem string
	// Err is the underlying error, if any.
	Err error
}

// Error implements error.
func (e *FederatedTokenError) Error() string {
	return "federated token file " + e.Path + ": " + e.Problem
}

// Unwrap returns the underlying error.
func (e *FederatedTokenError) Unwrap() error { return e.Err }

// federatedAssertion returns MSAL's assertion callback for workload
// identity: it reads the file on every call, so a rotated token is picked
// up by the next token request without a restart. MSAL calls it only when
// it has to ask the authority (never for a cached token).
func federatedAssertion(path string, now func() time.Time) func(context.Context, confidential.AssertionRequestOptions) (string, error) {
	return func(context.Context, confidential.AssertionRequestOptions) (string, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			problem := "cannot be read"
			if errors.Is(err, fs.ErrNotExist) {
				problem = "does not exist"
			}
			return "", &FederatedTokenError{Path: path, Problem: problem, Err: err}
		}
		tok := strings.TrimSpace(string(data))
		if tok == "" {
			return "", &FederatedTokenError{Path: path, Problem: "is empty"}
		}
		// Catch an expired token here, with a clearer message than
		// AADSTS700024; the signature is the authority's business.
		if c, err := DecodeClaims(tok); err == nil && !c.Expiry.IsZero() {
			if exp := c.Expiry; !exp.After(now()) {
				return "", &FederatedTokenError{Path: path, Problem: fmt.Sprintf("holds a token that expired at %s", exp.UTC().Format(time.RFC3339))}
			}
		}
		return tok, nil
	}
}
