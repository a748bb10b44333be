package graphmailtest

import (
	"crypto/sha1" // #nosec G505 -- customKeyIdentifier is the SHA-1 thumbprint
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// RegistrationReadRoles are the application permissions that let an app
// read its own registration (GET /applications(appId='…')); without one
// of them Graph answers 403 Authorization_RequestDenied.
var RegistrationReadRoles = []string{"Application.Read.All", "Application.ReadWrite.OwnedBy", "Application.ReadWrite.All"}

// applicationPathRE matches /v1.0/applications(appId='…') and
// /v1.0/applications/{id} paths.
var applicationPathRE = regexp.MustCompile(`(?i)^/v1\.0/applications(?:\(appId='([^']*)'\)|/([^/]+))$`)

// serveApplication answers GET /v1.0/applications(appId='{client_id}')
// with the app's passwordCredentials (hint: the secret's first three
// characters, as Entra ID keeps it) and keyCredentials (customKeyIdentifier:
// the certificate's SHA-1 thumbprint). It reports whether the path was an
// application path.
func (s *Server) serveApplication(w http.ResponseWriter, r *http.Request, gr graphRequest) bool {
	m := applicationPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil {
		return false
	}
	if r.Method != http.MethodGet {
		s.writeGraphError(w, r, gr, graphError{status: 405, code: "Request_BadRequest", message: "The HTTP method '" + r.Method + "' is not supported."})
		return true
	}
	claims, ge := s.authorizeGraph(r)
	if ge != nil {
		s.writeGraphError(w, r, gr, *ge)
		return true
	}
	permitted := false
	for _, role := range RegistrationReadRoles {
		permitted = permitted || claims.Permits(role)
	}
	if !permitted {
		s.writeGraphError(w, r, gr, graphError{status: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation."})
		return true
	}
	appID := m[1]
	if appID == "" {
		appID = m[2]
	}
	app, ok := s.lookupApp(appID)
	if !ok {
		s.writeGraphError(w, r, gr, graphError{status: 404, code: "Request_ResourceNotFound", message: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", appID)})
		return true
	}
	writeJSON(w, http.StatusOK, applicationResource(app))
	return true
}

// applicationResource renders an app registration as Graph's application
// resource (the credential properties only; secretText is never returned).
func applicationResource(app App) map[string]any {
	type secret struct {
		value, name string
		end         time.Time
	}
	var secrets []secret
	if app.Secret != "" {
		secrets = append(secrets, secret{value: app.Secret, name: "graphmailtest"})
	}
	for _, c := range app.Secrets {
		secrets = append(secrets, secret{value: c.Value, name: c.DisplayName, end: c.End})
	}
	passwords := []map[string]any{}
	for i, c := range secrets {
		p := map[string]any{
			"customKeyIdentifier": nil,
			"displayName":         c.name,
			"hint":                c.value[:min(3, len(c.value))],
			"keyId":               fmt.Sprintf("00000000-0000-0000-0000-%012d", i+1),
			"secretText":          nil,
			"endDateTime":         nil,
		}
		if !c.end.IsZero() {
			p["endDateTime"] = c.end.UTC().Format(time.RFC3339)
		}
		passwords = append(passwords, p)
	}
	keys := []map[string]any{}
	for i, c := range app.Certificates {
		sum := sha1.Sum(c.Raw) // #nosec G401 -- a thumbprint
		keys = append(keys, map[string]any{
			"customKeyIdentifier": base64.StdEncoding.EncodeToString(sum[:]),
			"displayName":         "CN=" + c.Subject.CommonName,
			"endDateTime":         c.NotAfter.UTC().Format(time.RFC3339),
			"startDateTime":       c.NotBefore.UTC().Format(time.RFC3339),
			"keyId":               fmt.Sprintf("10000000-0000-0000-0000-%012d", i+1),
			"type":                "AsymmetricX509Cert",
			"usage":               "Verify",
			"key":                 nil,
		})
	}
	return map[string]any{
		"@odata.context":      "https://graph.microsoft.com/v1.0/$metadata#applications/$entity",
		"appId":               app.ClientID,
		"displayName":         strings.TrimSpace("graphmailtest " + app.ClientID),
		"passwordCredentials": passwords,
		"keyCredentials":      keys,
	}
}
