package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"unicode"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// Error is a failure to obtain a token.
type Error struct {
	// Scope is the scope that was asked for.
	Scope string
	// Code is the identity platform's error code, for example "AADSTS7000215",
	// or "" when the authority was not reached. An authority that answers
	// with a plain RFC 6749 error and no AADSTS code (AD FS, a proxy) leaves
	// it "" and sets OAuthError.
	Code string
	// OAuthError is the RFC 6749 "error" of the token response, for example
	// "invalid_client", or "".
	OAuthError string
	// Description is the first line of the response's "error_description"
	// (control characters removed), or "".
	Description string
	// URL is the token endpoint that answered (without a query), or "".
	URL string
	// StatusCode is the HTTP status of the token response (0 when none).
	StatusCode int
	// Err is the underlying error. Error() does not print its text when the
	// authority answered (it is MSAL's dump of the response); it never holds
	// a secret.
	Err error
	// Method is the credential method of the failed request ("" when not
	// known).
	Method Method
	// UserAssigned reports, for a managed identity, whether a client ID
	// selected a user-assigned identity.
	UserAssigned bool
}

// Error implements error. It reads like net/http's errors: what failed,
// on what, why, on one line.
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
		where := "the token request"
		if e.URL != "" {
			where = "token request to " + e.URL
		}
		msg += ": " + where
		if e.OAuthError != "" {
			msg += " rejected: " + e.OAuthError
			if e.Description != "" {
				msg += ": " + e.Description
			}
			return msg
		}
		return msg + fmt.Sprintf(" failed: HTTP %d %s", e.StatusCode, http.StatusText(e.StatusCode))
	}
	if e.Err != nil {
		msg += ": " + oneLine(e.Err.Error())
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

// ConfigProblem reports whether the identity platform says the
// configuration points at the wrong tenant or cloud, rather than refusing
// the credential.
func (e *Error) ConfigProblem() bool { return configCodes[e.Code] }

// AuthFailure reports whether the credential or the sign-in was refused for
// a lasting reason: the error is neither temporary, nor a configuration
// problem, nor the caller giving up.
func (e *Error) AuthFailure() bool {
	return !e.Temporary() && !e.ConfigProblem() && !errors.Is(e.Err, context.Canceled)
}

// configCodes are identity-platform errors that mean the configuration
// points at the wrong tenant or cloud, rather than a credential problem.
var configCodes = map[string]bool{"AADSTS90002": true, "AADSTS50049": true, "AADSTS900023": true, "AADSTS900382": true}

// Describe returns the identity platform's meaning of an AADSTS code that
// is permanent (a retry with the same configuration cannot succeed), for
// example "invalid client secret", or "".
func Describe(code string) string { return describe[code] }

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

var aadstsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`AADSTS\d{5,8}`) })

// wrapMethod turns an MSAL error for a credential method into *Error.
func wrapMethod(m Method, scope string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Scope: scope, Err: err, Method: m}
	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		e.StatusCode = ce.Resp.StatusCode
		if ce.Req != nil && ce.Req.URL != nil {
			u := *ce.Req.URL
			u.RawQuery, u.Fragment, u.User = "", "", nil
			e.URL = u.String()
		}
		e.OAuthError, e.Description = oauthError(ce.Resp)
	}
	if m := aadstsRE().FindString(err.Error()); m != "" {
		e.Code = m
	} else if e.Method == MethodDelegated && (e.OAuthError == "invalid_grant" || e.OAuthError == "interaction_required" || grantErrRE().MatchString(err.Error())) {
		// A refresh token refused without an AADSTS code.
		e.Code = "invalid_grant"
	} else if e.StatusCode == 0 {
		// MSAL reports some HTTP failures only as text; keep the status when present.
		if m := statusRE().FindStringSubmatch(err.Error()); m != nil {
			e.StatusCode, _ = strconv.Atoi(m[1])
		}
	}
	return e
}

var grantErrRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`"error"\s*:\s*"(invalid_grant|interaction_required)"`)
})

var statusRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`status code was (\d{3})`) })

// oauthError reads the RFC 6749 error and the first line of its
// description from a token response (MSAL leaves the body readable).
func oauthError(resp *http.Response) (code, description string) {
	if resp == nil || resp.Body == nil {
		return "", ""
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", ""
	}
	var v struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) != nil {
		return "", ""
	}
	d := v.Description
	if i := strings.IndexAny(d, "\r\n"); i >= 0 {
		d = d[:i]
	}
	return oneLine(v.Error), oneLine(d)
}

// oneLine removes control characters and trims s to one readable line.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' || r == '\t' {
			return ' '
		}
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// CheckAuthority fetches the tenant's OpenID configuration
// ({authorityHost}/{tenant}/v2.0/.well-known/openid-configuration) the way
// MSAL does before its first token request, and reports an *Error when
// the authority cannot be reached or refuses (with the AADSTS code of its
// answer, if any). hc nil means http.DefaultClient.
func CheckAuthority(ctx context.Context, hc *http.Client, authorityHost, tenant string) error {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimRight(authorityHost, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &Error{Err: err, URL: u}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &Error{Err: err, URL: u}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e := &Error{StatusCode: resp.StatusCode, URL: u, Code: aadstsRE().FindString(string(body))}
	var v struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if json.Unmarshal(body, &v) == nil {
		e.OAuthError = oneLine(v.Error)
		d, _, _ := strings.Cut(v.Description, "\n")
		e.Description = oneLine(d)
	}
	return e
}
