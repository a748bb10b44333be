package graphmailtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// aadError is an Entra ID error as the token and discovery endpoints
// return it.
type aadError struct {
	status int
	err    string // OAuth error, e.g. "invalid_client"
	code   int    // AADSTS number; 0 for none
	desc   string // text after "AADSTSnnn: "
}

// aadErrorInfo gives the HTTP status, OAuth error and a description
// template (one %s: the client ID or tenant) for the AADSTS codes the
// sandbox produces or is commonly asked to inject.
var aadErrorInfo = map[int]struct {
	status int
	err    string
	desc   string
}{
	50012:   {401, "invalid_client", "Client assertion contains an invalid signature or claims."},
	50027:   {400, "invalid_request", "JWT token is invalid or malformed."},
	50049:   {400, "invalid_instance", "Unknown or invalid instance."},
	50011:   {400, "invalid_request", "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application."},
	50034:   {400, "invalid_grant", "The user account %s does not exist in the directory."},
	50076:   {400, "interaction_required", "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '00000003-0000-0000-c000-000000000000'."},
	50148:   {400, "invalid_grant", "The code_verifier does not match the code_challenge supplied in the authorization request for PKCE."},
	53003:   {400, "interaction_required", "Access has been blocked by Conditional Access policies. The access policy does not allow token issuance."},
	65001:   {400, "invalid_grant", "The user or administrator has not consented to use the application with ID '%s'. Send an interactive authorization request for this user and resource."},
	70000:   {400, "invalid_grant", "Provided grant is invalid or malformed."},
	70008:   {400, "invalid_grant", "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource."},
	70016:   {400, "authorization_pending", "OAuth 2.0 device flow error. Authorization is pending. Continue polling."},
	70019:   {400, "expired_token", "Verification code expired."},
	700082:  {400, "invalid_grant", "The refresh token has expired due to inactivity. The token was issued for app '%s' and was inactive for 90.00:00:00."},
	9002313: {400, "invalid_grant", "Invalid request. Request is malformed or invalid."},
	70003:   {400, "unsupported_grant_type", "The app requested an unsupported grant type '%s'."},
	70011:   {400, "invalid_scope", "The provided request must include a 'scope' input parameter."},
	90002:   {400, "invalid_request", "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."},
	500011:  {400, "invalid_resource", "The resource principal named %s was not found in the tenant. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."},
	70021:   {400, "invalid_request", "No matching federated identity record found for presented assertion. Assertion Issuer and Subject must match a federated identity credential of the application."},
	700016:  {400, "unauthorized_client", "Application with identifier '%s' was not found in the directory 'sandbox'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."},
	700021:  {401, "invalid_client", "Client assertion application identifier doesn't match 'client_id' parameter."},
	700022:  {400, "invalid_scope", "The provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid."},
	700024:  {400, "invalid_client", "Client assertion is not within its valid time range."},
	700027:  {401, "invalid_client", "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s']"},
	900144:  {400, "invalid_request", "The request body must contain the following parameter: '%s'."},
	900382:  {400, "invalid_request", "Confidential Client is not supported in Cross Cloud request."},
	1002012: {400, "invalid_scope", "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."},
	7000112: {401, "unauthorized_client", "Application '%s' is disabled."},
	7000215: {401, "invalid_client", "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'."},
	7000218: {401, "invalid_client", "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."},
	7000222: {401, "invalid_client", "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."},
}

// newAADError builds the error for an AADSTS code; arg fills the
// description's %s.
func newAADError(code int, arg string) aadError {
	info, ok := aadErrorInfo[code]
	if !ok {
		return aadError{status: http.StatusBadRequest, err: "invalid_request", code: code, desc: "Injected error."}
	}
	desc := info.desc
	if strings.Contains(desc, "%s") {
		desc = fmt.Sprintf(desc, arg)
	}
	return aadError{status: info.status, err: info.err, code: code, desc: desc}
}

// parseAADSTS turns "AADSTS7000222", "7000222" or "" into a number.
func parseAADSTS(code string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(code)), "AADSTS"))
	return n, err == nil && n > 0
}

// writeAADError writes e in Entra ID's shape:
//
//	{"error":"invalid_client","error_description":"AADSTS7000215: …\r\nTrace ID: …\r\nCorrelation ID: …\r\nTimestamp: …",
//	 "error_codes":[7000215],"timestamp":"…","trace_id":"…","correlation_id":"…","error_uri":"…"}
func (s *Server) writeAADError(w http.ResponseWriter, r *http.Request, e aadError) {
	traceID := newGUID()
	corrID := r.Header.Get("client-request-id")
	if corrID == "" {
		corrID = newGUID()
	}
	ts := s.now().UTC().Format("2006-01-02 15:04:05Z")
	desc := e.desc
	if e.code != 0 {
		desc = fmt.Sprintf("AADSTS%d: %s", e.code, e.desc)
	}
	body := map[string]any{
		"error":             e.err,
		"error_description": fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", desc, traceID, corrID, ts),
		"timestamp":         ts,
		"trace_id":          traceID,
		"correlation_id":    corrID,
	}
	if e.code != 0 {
		body["error_codes"] = []int{e.code}
		body["error_uri"] = fmt.Sprintf("%s/error?code=%d", s.authority.url, e.code)
	}
	w.Header().Set("x-ms-request-id", traceID)
	w.Header().Set("client-request-id", corrID)
	writeJSON(w, e.status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
