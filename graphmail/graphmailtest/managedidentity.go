package graphmailtest

import (
	"crypto/subtle"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// ManagedIdentity is an Azure managed identity assigned to the (fake)
// compute resource: its service principal gets tokens from the managed
// identity endpoint without any secret.
type ManagedIdentity struct {
	// ClientID is the identity's client (application) ID; it becomes the
	// appid of its tokens.
	ClientID string
	// SystemAssigned marks the resource's system-assigned identity, used
	// when a request names no identity. Others are user-assigned and
	// must be asked for by client ID.
	SystemAssigned bool
	// Roles are the application permissions granted to the identity's
	// service principal; nil means {"Mail.Send", "SMTP.SendAsApp"}.
	Roles []string
}

// AssignManagedIdentity assigns an identity to the fake compute resource
// and registers its service principal in the tenant (as an app without
// credentials, so Graph and SMTP accept its tokens).
func (s *Server) AssignManagedIdentity(mi ManagedIdentity) {
	s.AddApp(App{ClientID: mi.ClientID, Roles: mi.Roles})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities = slices.DeleteFunc(s.identities, func(o ManagedIdentity) bool {
		return strings.EqualFold(o.ClientID, mi.ClientID) || (mi.SystemAssigned && o.SystemAssigned)
	})
	s.identities = append(s.identities, mi)
}

// ManagedIdentityEnv returns the environment an App Service (or Functions,
// Container Apps) host gives a process: IDENTITY_ENDPOINT, the URL of the
// tenant's managed identity endpoint, and IDENTITY_HEADER, the secret the
// endpoint wants back in X-IDENTITY-HEADER. MSAL's managedidentity package
// and azidentity discover the endpoint from these variables.
func (s *Server) ManagedIdentityEnv() map[string]string {
	return map[string]string{
		"IDENTITY_ENDPOINT": s.authority.url + "/msi/token",
		"IDENTITY_HEADER":   s.identityHeader,
	}
}

// handleManagedIdentity serves App Service's token endpoint (api-version
// 2019-08-01): GET with resource, optional client_id, and the
// X-IDENTITY-HEADER secret. Errors follow the IMDS shape:
// 400 {"error":"invalid_request","error_description":"Identity not found"}
// when no identity matches.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	fail := func(status int, code, desc string) {
		s.log.Warn("graphmailtest: managed identity token refused", "client_id", q.Get("client_id"),
			"resource", q.Get("resource"), "status", status, "error", code)
		writeJSON(w, status, map[string]any{"error": code, "error_description": desc, "statusCode": status, "message": desc})
	}
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("X-IDENTITY-HEADER")), []byte(s.identityHeader)) != 1 {
		fail(http.StatusUnauthorized, "unauthorized", "The X-IDENTITY-HEADER is missing or wrong.")
		return
	}
	if q.Get("object_id") != "" || q.Get("mi_res_id") != "" {
		fail(http.StatusBadRequest, "invalid_request", "Only client_id selects a user-assigned identity in the sandbox.")
		return
	}
	clientID := q.Get("client_id")
	s.mu.Lock()
	var found *ManagedIdentity
	for i, mi := range s.identities {
		if (clientID == "" && mi.SystemAssigned) || (clientID != "" && strings.EqualFold(mi.ClientID, clientID)) {
			found = &s.identities[i]
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		fail(http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	app, ok := s.lookupApp(found.ClientID)
	if !ok {
		fail(http.StatusBadRequest, "invalid_request", "Identity not found")
		return
	}
	resource := canonicalResource(strings.TrimSuffix(q.Get("resource"), "/.default"))
	if resource != ResourceGraph && resource != ResourceOutlook {
		fail(http.StatusBadRequest, "invalid_resource", "AADSTS500011: The resource principal named "+q.Get("resource")+" was not found in the tenant.")
		return
	}
	tok, exp, err := s.issueAccessToken(app.ClientID, resource, rolesFor(resource, app.Roles))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.tokens[resource]++
	s.mu.Unlock()
	s.log.Info("graphmailtest: token issued", "client_id", app.ClientID, "scope", resource+"/.default", "credential", "managed_identity")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(exp.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    app.ClientID,
	})
}
