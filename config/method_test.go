package config

import (
	"errors"
	"path/filepath"
	"testing"
)

func TestAuthMethod(t *testing.T) {
	dir := t.TempDir()
	tokenFile := writeFile(t, dir, "azure-identity-token", "eyJhbGciOi.x.y\n")
	certFile := writeFile(t, dir, "cert.pem", testCAPEM(t))
	tests := []struct {
		name       string
		set        map[string]any
		env        fakeEnv
		wantMethod AuthMethod
		wantFile   string
		wantErrKey string // "" means valid
	}{
		{name: "secret chosen", wantMethod: MethodSecret},
		{name: "certificate chosen", set: map[string]any{"client_secret": nil, "client_certificate": certFile}, wantMethod: MethodCertificate},
		{name: "workload identity from AZURE_FEDERATED_TOKEN_FILE", set: map[string]any{"client_secret": nil},
			env: fakeEnv{"AZURE_FEDERATED_TOKEN_FILE": tokenFile}, wantMethod: MethodWorkloadIdentity, wantFile: tokenFile},
		{name: "workload identity from the key", set: map[string]any{"client_secret": nil, "federated_token_file": tokenFile},
			wantMethod: MethodWorkloadIdentity, wantFile: tokenFile},
		{name: "explicit workload identity beats an ambient file's precedence", set: map[string]any{"auth.method": "workload_identity"},
			env: fakeEnv{"AZURE_FEDERATED_TOKEN_FILE": tokenFile}, wantMethod: MethodWorkloadIdentity, wantFile: tokenFile},
		{name: "workload identity without a file", set: map[string]any{"client_secret": nil, "auth.method": "workload_identity"},
			wantMethod: MethodWorkloadIdentity, wantErrKey: "federated_token_file"},
		{name: "workload identity with a missing file", set: map[string]any{"client_secret": nil, "federated_token_file": filepath.Join(dir, "nope")},
			wantMethod: MethodWorkloadIdentity, wantErrKey: "federated_token_file"},
		{name: "managed identity needs no tenant or client", set: map[string]any{"client_secret": nil, "tenant_id": nil, "client_id": nil, "auth.method": "managed_identity"},
			wantMethod: MethodManagedIdentity},
		{name: "managed identity, user-assigned", set: map[string]any{"client_secret": nil, "auth.method": "Managed_Identity", "managed_identity_client_id": testClient},
			wantMethod: MethodManagedIdentity},
		{name: "managed identity client id not a GUID", set: map[string]any{"auth.method": "managed_identity", "managed_identity_client_id": "my-identity"},
			wantMethod: MethodManagedIdentity, wantErrKey: "managed_identity_client_id"},
		{name: "unknown method", set: map[string]any{"auth.method": "password"}, wantMethod: "password", wantErrKey: "auth.method"},
		{name: "certificate without a file", set: map[string]any{"auth.method": "certificate"}, wantMethod: MethodCertificate, wantErrKey: "client_certificate"},
		{name: "secret asked, certificate given", set: map[string]any{"client_secret": nil, "client_certificate": certFile, "auth.method": "secret"},
			wantMethod: MethodSecret, wantErrKey: "auth.method"},
		{name: "nothing configured", set: map[string]any{"client_secret": nil}, wantMethod: "", wantErrKey: "client_secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			over := baseOverrides()
			for k, v := range tt.set {
				over[k] = v
			}
			c, err := load(Options{Overrides: over, RequireCredentials: true}, tt.env)
			var errs Errors
			switch {
			case tt.wantErrKey == "" && err != nil:
				t.Fatalf("got error:\n%v\nwant none", err)
			case tt.wantErrKey != "":
				if !errors.As(err, &errs) || errs[0].Key != tt.wantErrKey {
					t.Fatalf("got %v, want an error for %s", err, tt.wantErrKey)
				}
				return
			}
			if c.Auth.Method != tt.wantMethod || c.FederatedTokenFile != tt.wantFile {
				t.Errorf("method %q file %q, want %q %q", c.Auth.Method, c.FederatedTokenFile, tt.wantMethod, tt.wantFile)
			}
		})
	}
}
