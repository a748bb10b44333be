package auth

import (
	"errors"
	"strings"
	"testing"
)

// TestDelegatedErrors maps refresh-token failures to permanent errors with
// the hint to sign in again, and a missing account to "login first".
func TestDelegatedErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
		hint string
	}{
		{"expired", errors.New(`http call: reply status code was 400: {"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired"}`), "AADSTS700082", "run 'graphmail login' again"},
		{"consent revoked", errors.New(`{"error":"invalid_grant","error_description":"AADSTS65001: not consented"}`), "AADSTS65001", "consent to Mail.Send"},
		{"mfa", errors.New(`{"error":"interaction_required","error_description":"AADSTS50076: MFA"}`), "AADSTS50076", "multi-factor"},
		{"conditional access", errors.New(`{"error":"interaction_required","error_description":"AADSTS53003: blocked"}`), "AADSTS53003", "Conditional Access"},
		{"bare invalid_grant", errors.New(`{"error": "invalid_grant"}`), "invalid_grant", "run 'graphmail login' again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wrapMethod(MethodDelegated, GraphScope, tt.err).(*Error)
			if e.Code != tt.code || e.Temporary() || !strings.Contains(e.Hint(), tt.hint) {
				t.Errorf("got code %q temporary %t hint %q; want %q, permanent, hint with %q", e.Code, e.Temporary(), e.Hint(), tt.code, tt.hint)
			}
		})
	}
	e := &Error{Method: MethodDelegated, Err: &NotSignedInError{}}
	if e.Temporary() || !strings.Contains(e.Hint(), "run 'graphmail login' first") {
		t.Errorf("not signed in: temporary %t, hint %q", e.Temporary(), e.Hint())
	}
	if got := (&NotSignedInError{Cached: []string{"a@x", "b@x"}}).Hint(); !strings.Contains(got, "delegated.user") {
		t.Errorf("several accounts: hint %q", got)
	}
}
