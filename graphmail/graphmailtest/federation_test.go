package graphmailtest

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFederatedAssertion(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	const iss, sub = "https://token.actions.githubusercontent.com", "repo:contoso/mailer:ref:refs/heads/main"
	if err := srv.AddFederation(Federation{ClientID: app.ClientID, Issuer: iss, Subject: sub}); err != nil {
		t.Fatal(err)
	}
	if err := srv.AddFederation(Federation{ClientID: app.ClientID, Issuer: "https://other.example", Subject: "x"}); err != nil {
		t.Fatal(err)
	}
	mint := func(iss, sub, aud string, life time.Duration) string {
		tok, err := srv.MintFederatedToken(iss, sub, aud, life)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name      string
		assertion string
		status    int
		code      float64
	}{
		{"trusted", mint(iss, sub, "", time.Hour), 200, 0},
		{"expired", mint(iss, sub, "", -time.Minute), 400, 700024},
		{"other subject", mint(iss, "repo:contoso/mailer:pull_request", "", time.Hour), 400, 70021},
		{"other audience", mint(iss, sub, "api://something-else", time.Hour), 400, 70021},
		{"issuer not federated with this subject", mint("https://other.example", sub, "", time.Hour), 400, 70021},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := postToken(t, srv, srv.TenantID(), url.Values{
				"grant_type":            {"client_credentials"},
				"client_id":             {app.ClientID},
				"scope":                 {"https://graph.microsoft.com/.default"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {tt.assertion},
			})
			var code float64
			if codes, ok := got.body["error_codes"].([]any); ok && len(codes) > 0 {
				code, _ = codes[0].(float64)
			}
			if got.status != tt.status || code != tt.code {
				t.Errorf("got %d AADSTS%v, want %d AADSTS%v", got.status, code, tt.status, tt.code)
			}
		})
	}
	if n := srv.FederatedRequests(); n != 1 {
		t.Errorf("FederatedRequests %d, want 1", n)
	}
	if _, err := srv.MintFederatedToken("https://unknown.example", sub, "", time.Hour); err == nil {
		t.Error("minted a token for an unknown issuer")
	}
}

func TestManagedIdentityEndpoint(t *testing.T) {
	srv := newTestServer(t, Options{})
	const system, user = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-8999-aaaaaaaaaaaa"
	env := srv.ManagedIdentityEnv()
	get := func(t *testing.T, header, clientID, resource string) (int, string) {
		t.Helper()
		q := url.Values{"api-version": {"2019-08-01"}, "resource": {resource}}
		if clientID != "" {
			q.Set("client_id", clientID)
		}
		req, _ := http.NewRequest("GET", env["IDENTITY_ENDPOINT"]+"?"+q.Encode(), nil)
		req.Header.Set("X-IDENTITY-HEADER", header)
		resp, err := srv.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Nothing assigned yet.
	if st, body := get(t, env["IDENTITY_HEADER"], "", ResourceGraph); st != 400 || !strings.Contains(body, "Identity not found") {
		t.Errorf("no identity: %d %s", st, body)
	}
	srv.AssignManagedIdentity(ManagedIdentity{ClientID: system, SystemAssigned: true})
	srv.AssignManagedIdentity(ManagedIdentity{ClientID: user, Roles: []string{"Mail.Send"}})
	tests := []struct {
		name, header, clientID, resource string
		status                           int
		appID                            string
	}{
		{"system-assigned", env["IDENTITY_HEADER"], "", ResourceGraph, 200, system},
		{"user-assigned", env["IDENTITY_HEADER"], user, ResourceOutlook, 200, user},
		{"wrong client id", env["IDENTITY_HEADER"], "00000000-0000-4000-8000-00000000dead", ResourceGraph, 400, ""},
		{"wrong header", "nope", "", ResourceGraph, 401, ""},
		{"unknown resource", env["IDENTITY_HEADER"], "", "https://vault.azure.net", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, body := get(t, tt.header, tt.clientID, tt.resource)
			if st != tt.status {
				t.Fatalf("status %d, want %d: %s", st, tt.status, body)
			}
			if tt.appID == "" {
				return
			}
			i := strings.Index(body, `"access_token":"`)
			tok := body[i+len(`"access_token":"`):]
			tok = tok[:strings.IndexByte(tok, '"')]
			c, err := srv.ParseToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if c.AppID != tt.appID || c.Audience != tt.resource {
				t.Errorf("token for %s/%s", c.AppID, c.Audience)
			}
		})
	}
}
