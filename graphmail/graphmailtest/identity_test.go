package graphmailtest

import (
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

type tokenResp struct {
	status int
	body   map[string]any
}

func postToken(t *testing.T, srv *Server, tenant string, form url.Values) tokenResp {
	t.Helper()
	resp, err := srv.HTTPClient().PostForm(srv.AuthorityHost()+"/"+tenant+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("token response is not JSON: %s", b)
	}
	return tokenResp{resp.StatusCode, m}
}

func parseKey(t *testing.T, keyPEM []byte) *rsa.PrivateKey {
	t.Helper()
	blk, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*rsa.PrivateKey)
}

func TestTokenEndpoint(t *testing.T) {
	srv := newTestServer(t, Options{})
	app := srv.App()
	_, keyPEM, cert, _ := srv.IssueCertificate("app")
	srv.AddCertificate(app.ClientID, cert)
	key := parseKey(t, keyPEM)
	_, otherKeyPEM, _, _ := srv.IssueCertificate("other")
	otherKey := parseKey(t, otherKeyPEM)
	tokenURL := srv.AuthorityHost() + "/" + srv.TenantID() + "/oauth2/v2.0/token"
	s256 := sha256.Sum256(cert.Raw)
	s1 := sha1.Sum(cert.Raw)

	type assertion struct {
		method jwt.SigningMethod
		key    *rsa.PrivateKey
		header map[string]any
		claims jwt.MapClaims
	}
	sign := func(a assertion) string {
		tok := jwt.NewWithClaims(a.method, a.claims)
		for k, v := range a.header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(a.key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"aud": tokenURL, "iss": app.ClientID, "sub": app.ClientID, "jti": "j1",
			"nbf": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	x5tS256 := map[string]any{"x5t#S256": base64.StdEncoding.EncodeToString(s256[:])}
	form := func(scope string, kv ...string) url.Values {
		f := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID}, "scope": {scope}}
		for i := 0; i < len(kv); i += 2 {
			f.Set(kv[i], kv[i+1])
		}
		return f
	}
	withAssertion := func(a assertion) url.Values {
		return form("https://graph.microsoft.com/.default", "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", sign(a))
	}
	graph := "https://graph.microsoft.com/.default openid profile offline_access"

	tests := []struct {
		name       string
		tenant     string
		form       url.Values
		wantStatus int
		wantError  string
		wantCode   int
	}{
		{"secret", srv.TenantID(), form(graph, "client_secret", app.Secret), 200, "", 0},
		{"graph app id scope", srv.TenantID(), form("00000003-0000-0000-c000-000000000000/.default", "client_secret", app.Secret), 200, "", 0},
		{"PS256 x5t#S256", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(nil)}), 200, "", 0},
		{"RS256 x5t", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodRS256, key, map[string]any{"x5t": base64.RawURLEncoding.EncodeToString(s1[:])}, claims(nil)}), 200, "", 0},
		{"aud with domain", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(func(c jwt.MapClaims) {
			c["aud"] = srv.AuthorityHost() + "/" + DefaultTenantDomain + "/oauth2/v2.0/token"
		})}), 200, "", 0},
		{"wrong key", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, otherKey, x5tS256, claims(nil)}), 401, "invalid_client", 700027},
		{"no thumbprint", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, nil, claims(nil)}), 401, "invalid_client", 700027},
		{"wrong aud", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(func(c jwt.MapClaims) { c["aud"] = "https://login.microsoftonline.com/x/oauth2/v2.0/token" })}), 401, "invalid_client", 50012},
		{"wrong iss", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(func(c jwt.MapClaims) { c["iss"] = "someone" })}), 401, "invalid_client", 700021},
		{"no jti", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(func(c jwt.MapClaims) { delete(c, "jti") })}), 401, "invalid_client", 50012},
		{"expired", srv.TenantID(), withAssertion(assertion{jwt.SigningMethodPS256, key, x5tS256, claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })}), 400, "invalid_client", 700024},
		{"HS256", srv.TenantID(), form(graph, "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil)).SignedString([]byte("k"))
			return s
		}()), 401, "invalid_client", 700027},
		{"no credential", srv.TenantID(), form(graph), 401, "invalid_client", 7000218},
		{"wrong secret", srv.TenantID(), form(graph, "client_secret", "x"), 401, "invalid_client", 7000215},
		{"unknown client", srv.TenantID(), form(graph, "client_id", "nobody", "client_secret", app.Secret), 400, "unauthorized_client", 700016},
		{"unknown tenant", "contoso.com", form(graph, "client_secret", app.Secret), 400, "invalid_request", 90002},
		{"two resources", srv.TenantID(), form("https://graph.microsoft.com/.default https://outlook.office365.com/.default", "client_secret", app.Secret), 400, "invalid_scope", 700022},
		{"no scope", srv.TenantID(), form("openid profile", "client_secret", app.Secret), 400, "invalid_scope", 70011},
		{"delegated scope", srv.TenantID(), form("Mail.Send", "client_secret", app.Secret), 400, "invalid_scope", 1002012},
		{"password grant", srv.TenantID(), form(graph, "grant_type", "password", "client_secret", app.Secret), 400, "unsupported_grant_type", 70003},
	}
	descRE := regexp.MustCompile(`^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := postToken(t, srv, tt.tenant, tt.form)
			if r.status != tt.wantStatus {
				t.Fatalf("status %d, want %d: %v", r.status, tt.wantStatus, r.body)
			}
			if tt.wantStatus == 200 {
				if r.body["token_type"] != "Bearer" || r.body["expires_in"] != float64(3599) || r.body["ext_expires_in"] != float64(3599) || r.body["access_token"] == "" {
					t.Errorf("success body %v", r.body)
				}
				if _, ok := r.body["refresh_in"]; ok {
					t.Error("refresh_in sent for a 1h token")
				}
				return
			}
			desc, _ := r.body["error_description"].(string)
			codes, _ := r.body["error_codes"].([]any)
			if r.body["error"] != tt.wantError || len(codes) != 1 || codes[0] != float64(tt.wantCode) || !descRE.MatchString(desc) ||
				!strings.HasPrefix(desc, "AADSTS"+strings.TrimSpace(jsonNum(tt.wantCode))+":") ||
				r.body["trace_id"] == nil || r.body["correlation_id"] == nil || r.body["timestamp"] == nil {
				t.Errorf("error body %q", r.body)
			}
		})
	}
	if got := srv.TokenRequests(ResourceGraph); got != 5 {
		t.Errorf("TokenRequests(graph) = %d, want 5", got)
	}
}

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestOpenIDConfiguration(t *testing.T) {
	srv := newTestServer(t, Options{})
	get := func(path string) (int, map[string]any) {
		resp, err := srv.HTTPClient().Get(srv.AuthorityHost() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	for _, tenant := range []string{srv.TenantID(), strings.ToUpper(DefaultTenantDomain)} {
		st, m := get("/" + tenant + "/v2.0/.well-known/openid-configuration")
		if st != 200 || m["token_endpoint"] != srv.AuthorityHost()+"/"+srv.TenantID()+"/oauth2/v2.0/token" ||
			m["issuer"] != srv.AuthorityHost()+"/"+srv.TenantID()+"/v2.0" || m["authorization_endpoint"] == "" {
			t.Errorf("%s: %d %v", tenant, st, m)
		}
		st, m = get("/" + tenant + "/discovery/v2.0/keys")
		if keys, _ := m["keys"].([]any); st != 200 || len(keys) != 1 {
			t.Errorf("keys: %d %v", st, m)
		}
	}
	st, m := get("/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration")
	if codes, _ := m["error_codes"].([]any); st != 400 || len(codes) != 1 || codes[0] != float64(90002) {
		t.Errorf("unknown tenant: %d %v", st, m)
	}
}

func TestRefreshIn(t *testing.T) {
	srv := newTestServer(t, Options{TokenLifetime: 24 * time.Hour})
	app := srv.App()
	r := postToken(t, srv, srv.TenantID(), url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID},
		"client_secret": {app.Secret}, "scope": {"https://outlook.office365.com/.default"}})
	if r.body["refresh_in"] != float64(12*3600) || r.body["expires_in"] != float64(24*3600-1) {
		t.Errorf("body %v, want refresh_in 43200", r.body)
	}
}

func TestParseToken(t *testing.T) {
	clock := &testClock{t: time.Now()}
	srv := newTestServer(t, Options{Now: clock.Now, TokenLifetime: 10 * time.Minute})
	tok, err := srv.IssueToken(srv.App().ClientID, "https://outlook.office365.com/.default")
	if err != nil {
		t.Fatal(err)
	}
	c, err := srv.ParseToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Audience != ResourceOutlook || c.Issuer != "https://sts.windows.net/"+srv.TenantID()+"/" || !c.HasRole("smtp.sendasapp") ||
		c.Expiry.Sub(c.IssuedAt) != 10*time.Minute || c.ObjectID == "" {
		t.Errorf("claims %+v", c)
	}
	clock.Advance(11 * time.Minute)
	if _, err := srv.ParseToken(tok); !errorsIs(err, ErrTokenExpired) {
		t.Errorf("after expiry: %v, want ErrTokenExpired", err)
	}
	if _, err := srv.ParseToken(tok[:len(tok)-4] + "AAAA"); !errorsIs(err, ErrTokenInvalid) {
		t.Errorf("tampered: %v, want ErrTokenInvalid", err)
	}
	if _, err := srv.IssueToken("nobody", ResourceGraph); err == nil {
		t.Error("IssueToken for an unknown app succeeded")
	}
}

func TestSetRoles(t *testing.T) {
	srv := newTestServer(t, Options{})
	id := srv.App().ClientID
	srv.SetRoles(id, nil)
	tok, _ := srv.IssueToken(id, ResourceGraph)
	c, _ := srv.ParseToken(tok)
	if len(c.Roles) != 0 {
		t.Errorf("roles %v after SetRoles(nil)", c.Roles)
	}
	if got := srv.App().Roles; got == nil || len(got) != 0 {
		t.Errorf("App().Roles = %#v, want empty", got)
	}
}

func TestTLS(t *testing.T) {
	srv := newTestServer(t, Options{})
	if _, err := http.Get(srv.GraphEndpoint() + "/v1.0/"); err == nil {
		t.Error("default client trusted the sandbox CA")
	}
	leaf := srv.TLSConfig().Certificates[0].Leaf
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: srv.CertPool()}); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	blk, _ := pem.Decode(srv.CACertPEM())
	if blk == nil || blk.Type != "CERTIFICATE" {
		t.Error("CACertPEM is not a PEM certificate")
	}
}
