package graphmailtest

import (
	"net/http"
	"strings"
)

// issuerV2 is the issuer in the tenant's OpenID configuration. Its scheme
// and host equal the authority's, which MSAL checks.
func (s *Server) issuerV2() string { return s.authority.url + "/" + s.tenantID + "/v2.0" }

// tokenEndpoint is the token endpoint for the tenant, with the tenant ID
// in the path as Entra ID advertises it even when asked by domain.
func (s *Server) tokenEndpoint() string {
	return s.authority.url + "/" + s.tenantID + "/oauth2/v2.0/token"
}

// resolveTenant maps a path segment (tenant ID or domain, any case) to
// the tenant, reporting whether it is this one.
func (s *Server) resolveTenant(seg string) bool {
	seg = strings.ToLower(seg)
	return seg == s.tenantID || seg == s.tenantDomain
}

func (s *Server) identityHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.handleOpenIDConfig)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.handleKeys)
	mux.HandleFunc("GET /common/discovery/keys", s.handleKeys)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.handleToken)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.handleDeviceCode)
	mux.HandleFunc("GET /{tenant}/oauth2/v2.0/authorize", s.handleAuthorize)
	mux.HandleFunc("GET /msi/token", s.handleManagedIdentity)
	return mux
}

func (s *Server) handleOpenIDConfig(w http.ResponseWriter, r *http.Request) {
	tenant := r.PathValue("tenant")
	if !s.resolveTenant(tenant) {
		s.writeAADError(w, r, newAADError(90002, tenant))
		return
	}
	base := s.authority.url + "/" + s.tenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.issuerV2(),
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     s.graph.url + "/oidc/userinfo",
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"http_logout_supported":                 true,
		"frontchannel_logout_supported":         true,
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "nbf", "tid", "oid", "roles"},
		"tenant_region_scope":                   "WW",
		"cloud_instance_name":                   "sandbox.invalid",
		"cloud_graph_host_name":                 strings.TrimPrefix(s.graph.url, "https://"),
		"msgraph_host":                          strings.TrimPrefix(s.graph.url, "https://"),
	})
}

func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	if t := r.PathValue("tenant"); t != "" && !s.resolveTenant(t) {
		s.writeAADError(w, r, newAADError(90002, t))
		return
	}
	writeJSON(w, http.StatusOK, s.jwks())
}

// tokenRequest is what the log and errors may show of a token request:
// never the secret, the assertion or the token.
type tokenRequest struct {
	clientID, scope, credential string
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, aadError{status: 400, err: "invalid_request", code: 900144, desc: "The request body must contain the following parameter: 'grant_type'."})
		return
	}
	f := r.PostForm
	req := tokenRequest{clientID: f.Get("client_id"), scope: f.Get("scope"), credential: "none"}
	switch {
	case f.Get("client_assertion") != "" && isFederatedAssertion(req.clientID, f.Get("client_assertion")):
		req.credential = "federated"
	case f.Get("client_assertion") != "":
		req.credential = "certificate"
	case f.Get("client_secret") != "":
		req.credential = "secret"
	}
	logFail := func(e aadError) {
		s.log.Warn("graphmailtest: token request refused", "client_id", req.clientID, "scope", req.scope,
			"credential", req.credential, "status", e.status, "error", e.err, "code", e.code)
		s.writeAADError(w, r, e)
	}

	if fl := s.takeFailure(EndpointToken); fl != nil {
		if !s.delay(r, fl.Delay) {
			return
		}
		e := fl.aadError(req.clientID)
		if fl.RetryAfter != "" {
			w.Header().Set("Retry-After", fl.RetryAfter)
		}
		logFail(e)
		return
	}

	if tenant := r.PathValue("tenant"); !s.resolveTenant(tenant) {
		logFail(newAADError(90002, tenant))
		return
	}
	if s.tokenDelegated(w, r, logFail) {
		return
	}
	switch gt := f.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		logFail(newAADError(900144, "grant_type"))
		return
	default:
		logFail(newAADError(70003, gt))
		return
	}
	if req.clientID == "" {
		logFail(newAADError(900144, "client_id"))
		return
	}
	app, ok := s.lookupApp(req.clientID)
	if !ok {
		logFail(newAADError(700016, req.clientID))
		return
	}

	switch req.credential {
	case "certificate", "federated":
		if at := f.Get("client_assertion_type"); at != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" {
			logFail(aadError{status: 400, err: "invalid_request", code: 50027, desc: "Invalid client_assertion_type '" + at + "'."})
			return
		}
		verify := s.verifyAssertion
		if req.credential == "federated" {
			verify = s.verifyFederatedAssertion
		}
		if e := verify(app, f.Get("client_assertion")); e != nil {
			logFail(*e)
			return
		}
	case "secret":
		if code := app.checkSecret(f.Get("client_secret"), s.now()); code != 0 {
			logFail(newAADError(code, app.ClientID))
			return
		}
	default:
		logFail(newAADError(7000218, ""))
		return
	}

	resource, scope, e := parseScope(req.scope)
	if e != nil {
		logFail(*e)
		return
	}
	tok, _, err := s.issueAccessToken(app.ClientID, resource, rolesFor(resource, app.Roles))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.tokens[resource]++
	n := s.tokens[resource]
	if req.credential == "federated" {
		s.federatedIssued++
	}
	s.mu.Unlock()
	s.log.Info("graphmailtest: token issued", "client_id", app.ClientID, "scope", scope,
		"credential", req.credential, "count", n)

	lifetime := int(s.lifetime.Seconds())
	expiresIn := max(lifetime-1, 1)
	body := map[string]any{
		"token_type":     "Bearer",
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   tok,
	}
	if s.refreshIn > 0 {
		body["refresh_in"] = int(s.refreshIn.Seconds())
	}
	w.Header().Set("client-request-id", r.Header.Get("client-request-id"))
	writeJSON(w, http.StatusOK, body)
}

// defaultScopes are the OIDC scopes MSAL adds to every request.
var defaultScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true}

// parseScope checks a client-credentials scope: exactly one known resource
// with "/.default". It returns the canonical resource and the scope.
func parseScope(raw string) (resource, scope string, e *aadError) {
	var resources []string
	var scopes []string
	for sc := range strings.FieldsSeq(raw) {
		if defaultScopes[strings.ToLower(sc)] {
			continue
		}
		base, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			err := newAADError(1002012, sc)
			return "", "", &err
		}
		r := canonicalResource(base)
		scopes = append(scopes, sc)
		if !containsFold(resources, r) {
			resources = append(resources, r)
		}
	}
	switch {
	case len(resources) == 0:
		err := newAADError(70011, "")
		return "", "", &err
	case len(resources) > 1:
		err := newAADError(700022, strings.Join(scopes, " "))
		return "", "", &err
	case resources[0] != ResourceGraph && resources[0] != ResourceOutlook:
		err := newAADError(500011, resources[0])
		return "", "", &err
	}
	return resources[0], scopes[0], nil
}

// canonicalResource maps the identifiers of Graph and Exchange Online
// (URI or app ID, any case, trailing slash) to ResourceGraph or
// ResourceOutlook; other values are returned trimmed.
func canonicalResource(r string) string {
	switch strings.TrimRight(strings.ToLower(r), "/") {
	case "https://graph.microsoft.com", "00000003-0000-0000-c000-000000000000":
		return ResourceGraph
	case "https://outlook.office365.com", "https://outlook.office.com", "00000002-0000-0ff1-ce00-000000000000":
		return ResourceOutlook
	}
	return strings.TrimRight(r, "/")
}

// exchangeRoles are application permissions of the Office 365 Exchange
// Online API; they appear in Outlook tokens only.
var exchangeRoles = map[string]bool{
	"smtp.sendasapp": true, "imap.accessasapp": true, "pop.accessasapp": true,
	"full_access_as_app": true, "ews.accessasapp": true, "exchange.manageasapp": true,
}

// rolesFor picks the roles that belong in a token for resource.
func rolesFor(resource string, roles []string) []string {
	var out []string
	for _, r := range roles {
		if exchangeRoles[strings.ToLower(r)] == (resource == ResourceOutlook) {
			out = append(out, r)
		}
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}
