package auth

import (
	"errors"
	"strings"
	"testing"
)

// TestDelegatedErrors maps refresh-token failures to permanent
// authentication failures with their code, and a missing account to one
// too (the CLI's hints turn these into "sign in again" and "login first").
func TestDelegatedErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		code string
	}{
		{"expired", errors.New(`http call: reply status code was 400: {"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired"}`), "AADSTS700082"},
		{"consent revoked", errors.New(`{"error":"invalid_grant","error_description":"AADSTS65001: not consented"}`), "AADSTS65001"},
		{"mfa", errors.New(`{"error":"interaction_required","error_description":"AADSTS50076: MFA"}`), "AADSTS50076"},
		{"conditional access", errors.New(`{"error":"interaction_required","error_description":"AADSTS53003: blocked"}`), "AADSTS53003"},
		{"bare invalid_grant", errors.New(`{"error": "invalid_grant"}`), "invalid_grant"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := wrapMethod(MethodDelegated, GraphScope, tt.err).(*Error)
			if e.Code != tt.code || e.Temporary() || !e.AuthFailure() {
				t.Errorf("got code %q temporary %t auth failure %t; want %q, a permanent auth failure", e.Code, e.Temporary(), e.AuthFailure(), tt.code)
			}
			if strings.Contains(e.Error(), "\n") || !strings.Contains(e.Error(), tt.code) {
				t.Errorf("error text %q: want one line naming %s", e.Error(), tt.code)
			}
		})
	}
	e := &Error{Method: MethodDelegated, Err: &NotSignedInError{}}
	if e.Temporary() || !e.AuthFailure() {
		t.Errorf("not signed in: temporary %t, auth failure %t", e.Temporary(), e.AuthFailure())
	}
	if got := (&NotSignedInError{Cached: []string{"a@x", "b@x"}}).Error(); !strings.Contains(got, "a@x, b@x") {
		t.Errorf("several accounts: %q", got)
	}
}
