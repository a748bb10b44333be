package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// Error is a failure to obtain a token.
type Error struct {
	// Scope is the scope that was asked for.
	Scope string
	// Code is the identity platform's error code, for example "AADSTS7000215",
	// or "" when the authority was not reached.
	Code string
	// StatusCode is the HTTP status of the token response (0 when none).
	StatusCode int
	// Err is the underlying error. Its text comes from MSAL and holds the
	// authority's error description, never a secret.
	Err error
	// Method is the credential method of the failed request ("" when not
	// known).
	Method Method

	userAssigned bool // managed identity: a client ID was given
}

// Error implements error.
func (e *Error) Error() string {
	msg := "auth: acquiring a token"
	if e.Scope != "" {
		msg += " for " + e.Scope
	}
	if e.Code != "" {
		msg += ": " + e.Code
		if d := describe[e.Code]; d != "" {
			msg += " (" + d + ")"
		}
		return msg
	}
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(": HTTP %d", e.StatusCode)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed: the authority
// could not be reached, timed out, throttled, or failed on its side.
func (e *Error) Temporary() bool {
	var fe *FederatedTokenError
	if errors.As(e.Err, &fe) {
		return false
	}
	if e.Code != "" {
		_, permanent := describe[e.Code]
		if permanent {
			return false
		}
	}
	switch {
	case e.StatusCode == 429 || e.StatusCode >= 500:
		return true
	case e.StatusCode != 0:
		return false
	}
	var ne net.Error
	return errors.As(e.Err, &ne) || errors.Is(e.Err, context.DeadlineExceeded)
}

// Hint returns the next step for a person, or "" when there is no specific
// advice for this error.
func (e *Error) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	if h := methodHints[e.Method][e.Code]; h != "" {
		return h
	}
	if e.Method == MethodManagedIdentity && e.StatusCode >= 400 && e.StatusCode < 500 {
		if e.userAssigned {
			return "no managed identity with managed_identity_client_id is assigned to this resource; check the client ID (not the object ID) of the user-assigned identity and that it is added under the resource's Identity page"
		}
		return "this resource has no system-assigned managed identity; turn it on under the resource's Identity page, or set managed_identity_client_id to a user-assigned identity's client ID"
	}
	if h := hints[e.Code]; h != "" {
		return h
	}
	if e.Code == "" && e.Temporary() {
		return "the identity platform could not be reached; check the network, proxy and authority_host, then try again"
	}
	return ""
}

// describe gives a short explanation of AADSTS codes that are permanent
// (a retry with the same configuration cannot succeed).
var describe = map[string]string{
	"AADSTS7000215": "invalid client secret",
	"AADSTS7000222": "the client secret has expired",
	"AADSTS700016":  "application not found in the tenant",
	"AADSTS90002":   "tenant not found",
	"AADSTS700027":  "client assertion failed signature validation",
	"AADSTS50049":   "unknown or invalid authority",
	"AADSTS700022":  "the scope mixes resources",
	"AADSTS1002012": "client credentials need a /.default scope",
	"AADSTS7000112": "the application is disabled",
	"AADSTS900382":  "confidential client is not supported in this cloud",
	"AADSTS900023":  "the tenant identifier is not valid",
	"AADSTS700024":  "the client assertion is not within its valid time range",
	"AADSTS70021":   "no matching federated identity credential",
	"AADSTS700211":  "no matching federated identity issuer",
	"AADSTS700082":  "the refresh token expired after 90 days without use",
	"AADSTS65001":   "the user or an administrator has not consented, or consent was revoked",
	"AADSTS50076":   "multi-factor authentication is required",
	"AADSTS53003":   "blocked by a Conditional Access policy",
	"AADSTS50173":   "the refresh token was revoked (password changed or sessions revoked)",
	"AADSTS50078":   "the multi-factor authentication claim has expired",
	"AADSTS70000":   "the grant is invalid or malformed",
	"AADSTS70008":   "the refresh token or code has expired",
	"AADSTS50011":   "the redirect URI is not registered on the application",
	"AADSTS50148":   "the PKCE code verifier does not match the challenge",
	"invalid_grant": "the sign-in is no longer valid",
}

var hints = map[string]string{
	"AADSTS7000215": "the client secret is wrong; copy the secret's Value (not its Secret ID) from the app registration's Certificates & secrets page into client_secret",
	"AADSTS7000222": "the client secret has expired; create a new one under Certificates & secrets and update client_secret",
	"AADSTS700016":  "check client_id (the Application (client) ID on the app registration's Overview page) and that the app belongs to tenant_id",
	"AADSTS90002":   "check tenant_id (the Directory (tenant) ID) and cloud: a national-cloud tenant needs cloud: usgov, usgovdod or china",
	"AADSTS700027":  "the certificate is not registered on the app, or its key does not match; upload the certificate's public part under Certificates & secrets",
	"AADSTS50049":   "check authority_host and cloud",
	"AADSTS700022":  "request one resource's /.default scope at a time",
	"AADSTS1002012": "use a scope ending in /.default for app-only tokens",
	"AADSTS7000112": "the application is disabled in the tenant; ask an administrator to enable it (Enterprise applications → Properties)",
	"AADSTS900382":  "the tenant is in another cloud; set cloud to match it",
	"AADSTS900023":  "tenant_id must be the Directory (tenant) ID GUID or a verified domain name",
}

var aadstsRE = regexp.MustCompile(`AADSTS\d{5,8}`)

// methodHints override hints for one credential method.
var methodHints = map[Method]map[string]string{
	MethodWorkloadIdentity: {
		"AADSTS700024": "the federated token in federated_token_file has expired; check that the platform (AKS workload identity, the CI job's OIDC step) keeps rewriting the file",
		"AADSTS70021":  "no federated credential of the app matches the token's issuer, subject and audience (api://AzureADTokenExchange); add one under Certificates & secrets → Federated credentials",
		"AADSTS700027": "the federated token's signature is not valid for its issuer; check the issuer URL of the federated credential",
		"AADSTS700211": "no federated credential of the app has the token's issuer; add one under Certificates & secrets → Federated credentials",
	},
	MethodDelegated: {
		"AADSTS700082":  reLogin + " (the refresh token expired: unused for 90 days)",
		"AADSTS65001":   reLogin + " and consent to Mail.Send (consent was revoked or never given)",
		"AADSTS50076":   reLogin + " interactively to complete multi-factor authentication",
		"AADSTS50078":   reLogin + " interactively to complete multi-factor authentication",
		"AADSTS53003":   reLogin + " from a device and location that Conditional Access allows",
		"AADSTS50173":   reLogin + " (the password was changed or sessions were revoked)",
		"AADSTS70000":   reLogin,
		"AADSTS70008":   reLogin,
		"invalid_grant": reLogin,
		"AADSTS7000218": "the app registration does not allow public client flows; turn on Authentication → Allow public client flows",
		"AADSTS50011":   "add http://localhost as a redirect URI of the Mobile and desktop applications platform under Authentication",
	},
}

// reLogin is the hint for a delegated sign-in that cannot be refreshed.
const reLogin = "the sign-in has expired or was revoked; run 'graphmail login' again"

// wrapMethod turns an MSAL error for a credential method into *Error.
func wrapMethod(m Method, scope string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Scope: scope, Err: err, Method: m}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		e.StatusCode = ce.Resp.StatusCode
	}
	if m := aadstsRE.FindString(err.Error()); m != "" {
		e.Code = m
	} else if e.Method == MethodDelegated && grantErrRE.MatchString(err.Error()) {
		// A refresh token refused without an AADSTS code.
		e.Code = "invalid_grant"
	} else if e.StatusCode == 0 {
		// MSAL reports some HTTP failures only as text; keep the status when present.
		if m := statusRE.FindStringSubmatch(err.Error()); m != nil {
			e.StatusCode, _ = strconv.Atoi(m[1])
		}
	}
	return e
}

var grantErrRE = regexp.MustCompile(`"error"\s*:\s*"(invalid_grant|interaction_required)"`)

var statusRE = regexp.MustCompile(`status code was (\d{3})`)
