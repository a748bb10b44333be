package main

import (
	"errors"
	"strings"
	"testing"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/smtpfallback"
)

// TestHints checks the CLI's wording for the facts the libraries report:
// each error gets the next step that names what to change.
func TestHints(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"wrong secret", &auth.Error{Code: "AADSTS7000215"}, "Value (not its Secret ID)"},
		{"expired secret", &auth.Error{Code: "AADSTS7000222"}, "has expired; create a new one"},
		{"unknown app", &auth.Error{Code: "AADSTS700016"}, "check client_id"},
		{"unknown tenant", &auth.Error{Code: "AADSTS90002"}, "check tenant_id"},
		{"unregistered certificate", &auth.Error{Code: "AADSTS700027"}, "not registered"},
		{"federated: untrusted subject", &auth.Error{Code: "AADSTS70021", Method: auth.MethodWorkloadIdentity}, "Federated credentials"},
		{"federated: file missing", &auth.Error{Method: auth.MethodWorkloadIdentity, Err: &auth.FederatedTokenError{Path: "/x", Problem: "does not exist"}}, "mounted at federated_token_file"},
		{"delegated: refresh token expired", &auth.Error{Code: "AADSTS700082", Method: auth.MethodDelegated}, "run 'graphmail login' again"},
		{"delegated: consent revoked", &auth.Error{Code: "AADSTS65001", Method: auth.MethodDelegated}, "consent to Mail.Send"},
		{"delegated: bare invalid_grant", &auth.Error{Code: "invalid_grant", Method: auth.MethodDelegated}, "run 'graphmail login' again"},
		{"not signed in", &auth.Error{Method: auth.MethodDelegated, Err: &auth.NotSignedInError{}}, "run 'graphmail login' first"},
		{"several accounts", &auth.Error{Method: auth.MethodDelegated, Err: &auth.NotSignedInError{Cached: []string{"a@x", "b@x"}}}, "set delegated.user"},
		{"managed: none assigned", &auth.Error{Method: auth.MethodManagedIdentity, StatusCode: 400}, "system-assigned managed identity"},
		{"managed: user-assigned", &auth.Error{Method: auth.MethodManagedIdentity, StatusCode: 400, UserAssigned: true}, "client ID (not the object ID)"},
		{"oauth invalid_client", &auth.Error{StatusCode: 401, OAuthError: "invalid_client"}, "check client_id and the credential"},
		{"oauth invalid_scope", &auth.Error{StatusCode: 400, OAuthError: "invalid_scope"}, "graph_scope"},
		{"authority unreachable", &auth.Error{Err: &netErr{}}, "could not be reached"},
		{"graph 403", &graphmail.GraphError{StatusCode: 403, Code: "ErrorAccessDenied"}, "Mail.Send application permission"},
		{"graph send as", &graphmail.GraphError{StatusCode: 403, Code: "ErrorSendAsDenied"}, "Send As"},
		{"graph 503", &graphmail.GraphError{StatusCode: 503}, "try again later"},
		{"graph no mailbox", &graphmail.GraphError{StatusCode: 404, Code: "ErrorInvalidUser"}, "set sender"},
		{"smtp auth disabled", &smtpfallback.SMTPError{Code: 535, EnhancedCode: [3]int{5, 7, 139}, Stage: smtpfallback.StageAuth}, "SmtpClientAuthenticationDisabled"},
		{"config", &config.Error{Key: "tenant_id", Problem: "not set", Hint: "set tenant_id"}, "set tenant_id"},
		{"input", &inputError{err: errors.New("x"), hint: "check the path"}, "check the path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hintsFor(tt.err, "graphmail send")
			if len(h) == 0 || !strings.Contains(h[0], tt.want) {
				t.Errorf("hintsFor(%v) = %q, want the first to contain %q", tt.err, h, tt.want)
			}
		})
	}
}

// TestUsageHintNamesTheCommand: a usage error points at the failing
// command's own --help, not always at send's.
func TestUsageHintNamesTheCommand(t *testing.T) {
	for _, cmd := range []string{"graphmail sendmail", "graphmail queue show", "graphmail send"} {
		h := hintsFor(usagef("bad"), cmd)
		want := "run '" + cmd + " --help' for usage and examples"
		if len(h) != 1 || h[0] != want {
			t.Errorf("%s: hints %q, want [%q]", cmd, h, want)
		}
	}
}

type netErr struct{}

func (*netErr) Error() string   { return "dial tcp 127.0.0.1:1: connection refused" }
func (*netErr) Timeout() bool   { return false }
func (*netErr) Temporary() bool { return true }
