package graphmailtest

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The delegated flow: users sign in to a public client with the device
// code flow or the authorization code flow with PKCE, and the client
// renews access tokens with refresh tokens. Delegated access tokens carry
// scp (the delegated permissions), upn and the user's oid, and idtyp
// "user".

// deviceCodeLifetime is how long a device code may be redeemed.
const deviceCodeLifetime = 15 * time.Minute

// user is a user account that can sign in.
type user struct {
	upn, oid string
}

// deviceCode is a pending device code sign-in.
type deviceCode struct {
	clientID, scope string
	userCode        string
	expires         time.Time
	user            string // UPN, set by ApproveDeviceCode
}

// authCode is an authorization code waiting to be redeemed.
type authCode struct {
	clientID, redirectURI, challenge, scope, user string
	expires                                       time.Time
}

// refreshToken is an issued refresh token.
type refreshToken struct {
	clientID, user string
}

// AddUser creates a user who can sign in with the delegated flow, and a
// mailbox with the same address.
func (s *Server) AddUser(upn string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := strings.ToLower(upn)
	s.mailboxes[k] = upn
	if s.users == nil {
		s.users = map[string]*user{}
	}
	if _, ok := s.users[k]; !ok {
		s.users[k] = &user{upn: upn, oid: s.servicePrincipalID("user:" + k)}
	}
	if s.smtp != nil {
		s.smtp.AllowMailbox(upn)
	}
}

// EnablePublicClient allows the public client flows (device code,
// authorization code with PKCE, refresh tokens without a client
// credential) for an app, with the given redirect URIs. A loopback
// redirect URI "http://localhost" matches any port, as in Entra ID.
func (s *Server) EnablePublicClient(clientID string, redirectURIs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.appLocked(clientID); a != nil {
		a.PublicClient = true
		a.RedirectURIs = append(a.RedirectURIs, redirectURIs...)
	}
}

// ApproveDeviceCode completes the user's part of a device code sign-in:
// user signs in at the verification URL and enters userCode. The next poll
// of the client gets tokens for user.
func (s *Server) ApproveDeviceCode(userCode, upn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.users[strings.ToLower(upn)] == nil {
		return fmt.Errorf("graphmailtest: no user %q (AddUser first)", upn)
	}
	for _, dc := range s.deviceCodes {
		if dc.userCode == userCode {
			dc.user = upn
			return nil
		}
	}
	return fmt.Errorf("graphmailtest: no pending device code %q", userCode)
}

// PendingUserCodes returns the user codes of device code sign-ins that
// wait for ApproveDeviceCode, oldest first.
func (s *Server) PendingUserCodes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, dc := range s.deviceCodeOrder {
		if d := s.deviceCodes[dc]; d != nil && d.user == "" {
			out = append(out, d.userCode)
		}
	}
	return out
}

// RevokeRefreshTokens invalidates every refresh token of the user: the
// next refresh fails with AADSTS700082, as after 90 days without use.
func (s *Server) RevokeRefreshTokens(upn string) { s.revoke(upn, 700082) }

// RevokeConsent withdraws the user's consent to the app: the next refresh
// fails with AADSTS65001.
func (s *Server) RevokeConsent(upn string) { s.revoke(upn, 65001) }

func (s *Server) revoke(upn string, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.revoked == nil {
		s.revoked = map[string]int{}
	}
	for rt, t := range s.refreshTokens {
		if strings.EqualFold(t.user, upn) {
			s.revoked[rt] = code
		}
	}
}

// RefreshTokenRequests returns how many refresh token grants succeeded.
func (s *Server) RefreshTokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// IssuedRefreshTokens returns every refresh token the server issued
// (revoked or not), so that tests can look for them where they must not be.
func (s *Server) IssuedRefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.refreshTokens))
	for rt := range s.refreshTokens {
		out = append(out, rt)
	}
	return out
}

// handleDeviceCode answers POST /{tenant}/oauth2/v2.0/devicecode.
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeAADError(w, r, newAADError(900144, "client_id"))
		return
	}
	if tenant := r.PathValue("tenant"); !s.resolveTenant(tenant) {
		s.writeAADError(w, r, newAADError(90002, tenant))
		return
	}
	clientID := r.PostForm.Get("client_id")
	app, ok := s.lookupApp(clientID)
	switch {
	case !ok:
		s.writeAADError(w, r, newAADError(700016, clientID))
		return
	case !app.PublicClient:
		s.writeAADError(w, r, newAADError(7000218, ""))
		return
	}
	if _, _, e := parseDelegatedScope(r.PostForm.Get("scope")); e != nil {
		s.writeAADError(w, r, *e)
		return
	}
	dc := &deviceCode{clientID: app.ClientID, scope: r.PostForm.Get("scope"), userCode: userCode(), expires: s.now().Add(deviceCodeLifetime)}
	device := randomToken(32)
	s.mu.Lock()
	if s.deviceCodes == nil {
		s.deviceCodes = map[string]*deviceCode{}
	}
	s.deviceCodes[device] = dc
	s.deviceCodeOrder = append(s.deviceCodeOrder, device)
	s.mu.Unlock()
	verify := s.authority.url + "/devicelogin"
	writeJSON(w, http.StatusOK, map[string]any{
		"user_code":        dc.userCode,
		"device_code":      device,
		"verification_uri": verify,
		"expires_in":       int(deviceCodeLifetime.Seconds()),
		"interval":         1,
		"message":          fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, dc.userCode),
	})
}

// userCode returns a 9-character code like Entra ID's.
func userCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := []byte(randomToken(9))
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// handleAuthorize answers GET /{tenant}/oauth2/v2.0/authorize as if the
// user had signed in: the user is login_hint, else the only user. It
// redirects to redirect_uri with a code bound to the PKCE challenge.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if tenant := r.PathValue("tenant"); !s.resolveTenant(tenant) {
		http.Error(w, "AADSTS90002: tenant not found", http.StatusBadRequest)
		return
	}
	app, ok := s.lookupApp(q.Get("client_id"))
	if !ok {
		http.Error(w, "AADSTS700016: application not found", http.StatusBadRequest)
		return
	}
	redirect := q.Get("redirect_uri")
	if !redirectAllowed(app, redirect) {
		http.Error(w, "AADSTS50011: the redirect URI is not registered", http.StatusBadRequest)
		return
	}
	if q.Get("response_type") != "code" || q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" {
		http.Error(w, "AADSTS9002325: Proof Key for Code Exchange is required (S256)", http.StatusBadRequest)
		return
	}
	upn := q.Get("login_hint")
	s.mu.Lock()
	if upn == "" && len(s.users) == 1 {
		for _, u := range s.users {
			upn = u.upn
		}
	}
	u := s.users[strings.ToLower(upn)]
	s.mu.Unlock()
	if u == nil {
		http.Error(w, "AADSTS50034: the user account does not exist", http.StatusBadRequest)
		return
	}
	code := randomToken(32)
	s.mu.Lock()
	if s.authCodes == nil {
		s.authCodes = map[string]*authCode{}
	}
	s.authCodes[code] = &authCode{clientID: app.ClientID, redirectURI: redirect, challenge: q.Get("code_challenge"),
		scope: q.Get("scope"), user: u.upn, expires: s.now().Add(10 * time.Minute)}
	s.mu.Unlock()
	if q.Get("response_mode") == "form_post" {
		// What Entra ID sends the browser: a form that posts itself.
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<html><body onload="document.forms[0].submit()"><form method="post" action="%s">`+
			`<input type="hidden" name="code" value="%s"><input type="hidden" name="state" value="%s"></form></body></html>`,
			html.EscapeString(redirect), html.EscapeString(code), html.EscapeString(q.Get("state")))
		return
	}
	target, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	tq := target.Query()
	tq.Set("code", code)
	tq.Set("state", q.Get("state"))
	target.RawQuery = tq.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// redirectAllowed matches a redirect URI against the app's; a registered
// http://localhost matches any port and path on localhost.
func redirectAllowed(app App, redirect string) bool {
	u, err := url.Parse(redirect)
	if err != nil {
		return false
	}
	for _, r := range app.RedirectURIs {
		if r == redirect {
			return true
		}
		if ru, err := url.Parse(r); err == nil && ru.Scheme == "http" && u.Scheme == "http" &&
			ru.Hostname() == u.Hostname() && (ru.Hostname() == "localhost" || ru.Hostname() == "127.0.0.1") && ru.Port() == "" {
			return true
		}
	}
	return false
}

// tokenDelegated handles the device code, authorization code and refresh
// token grants. It reports whether it answered.
func (s *Server) tokenDelegated(w http.ResponseWriter, r *http.Request, logFail func(aadError)) bool {
	f := r.PostForm
	gt := f.Get("grant_type")
	switch gt {
	case "urn:ietf:params:oauth:grant-type:device_code", "device_code", "authorization_code", "refresh_token":
	default:
		return false
	}
	app, ok := s.lookupApp(f.Get("client_id"))
	switch {
	case !ok:
		logFail(newAADError(700016, f.Get("client_id")))
		return true
	case f.Get("client_secret") != "":
		if app.Secret == "" || subtle.ConstantTimeCompare([]byte(app.Secret), []byte(f.Get("client_secret"))) != 1 {
			logFail(newAADError(7000215, app.ClientID))
			return true
		}
	case !app.PublicClient:
		logFail(newAADError(7000218, ""))
		return true
	}
	var upn, scope string
	s.mu.Lock()
	now := s.now()
	switch gt {
	case "authorization_code":
		c := s.authCodes[f.Get("code")]
		delete(s.authCodes, f.Get("code")) // one use only
		s.mu.Unlock()
		switch {
		case c == nil || c.clientID != app.ClientID || now.After(c.expires):
			logFail(newAADError(70008, ""))
			return true
		case c.redirectURI != f.Get("redirect_uri"):
			logFail(newAADError(50011, f.Get("redirect_uri")))
			return true
		case !pkceMatches(f.Get("code_verifier"), c.challenge):
			logFail(newAADError(50148, ""))
			return true
		}
		upn, scope = c.user, f.Get("scope")
	case "refresh_token":
		rt := s.refreshTokens[f.Get("refresh_token")]
		code := s.revoked[f.Get("refresh_token")]
		s.mu.Unlock()
		switch {
		case rt == nil || rt.clientID != app.ClientID:
			logFail(newAADError(9002313, ""))
			return true
		case code != 0:
			logFail(newAADError(code, app.ClientID))
			return true
		}
		upn, scope = rt.user, f.Get("scope")
	default:
		dc := s.deviceCodes[f.Get("device_code")]
		var pending bool
		if dc != nil {
			pending = dc.user == ""
			if !pending || now.After(dc.expires) {
				delete(s.deviceCodes, f.Get("device_code"))
			}
		}
		s.mu.Unlock()
		switch {
		case dc == nil || dc.clientID != app.ClientID:
			logFail(newAADError(70000, ""))
			return true
		case now.After(dc.expires):
			logFail(newAADError(70019, ""))
			return true
		case pending:
			s.writeAADError(w, r, newAADError(70016, "")) // not worth a warning
			return true
		}
		upn, scope = dc.user, dc.scope
	}
	s.issueDelegated(w, r, app, upn, scope, gt == "refresh_token", logFail)
	return true
}

// pkceMatches checks an S256 code verifier against its challenge.
func pkceMatches(verifier, challenge string) bool {
	if verifier == "" {
		return false
	}
	h := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(h[:])), []byte(challenge)) == 1
}

// parseDelegatedScope checks delegated scopes: one resource, each scope
// "<resource>/<permission>" (".default" grants the resource's delegated
// permission). It returns the resource and the permissions.
func parseDelegatedScope(raw string) (resource string, perms []string, e *aadError) {
	var scopes []string
	for sc := range strings.FieldsSeq(raw) {
		if defaultScopes[strings.ToLower(sc)] {
			continue
		}
		i := strings.LastIndex(sc, "/")
		if i < 0 {
			// A bare permission means Graph, as in Entra ID.
			sc = ResourceGraph + "/" + sc
			i = len(ResourceGraph)
		}
		r := canonicalResource(sc[:i])
		if resource != "" && r != resource {
			err := newAADError(700022, raw)
			return "", nil, &err
		}
		resource = r
		scopes = append(scopes, sc)
		p := sc[i+1:]
		if p == ".default" {
			p = map[string]string{ResourceGraph: "Mail.Send", ResourceOutlook: "SMTP.Send"}[r]
		}
		if p != "" && !slices.Contains(perms, p) {
			perms = append(perms, p)
		}
	}
	switch {
	case resource == "":
		err := newAADError(70011, "")
		return "", nil, &err
	case resource != ResourceGraph && resource != ResourceOutlook:
		err := newAADError(500011, resource)
		return "", nil, &err
	}
	return resource, perms, nil
}

// issueDelegated answers with an access token, a new refresh token, an
// ID token and client_info for upn.
func (s *Server) issueDelegated(w http.ResponseWriter, r *http.Request, app App, upn, scope string, refresh bool, logFail func(aadError)) {
	resource, perms, e := parseDelegatedScope(scope)
	if e != nil {
		logFail(*e)
		return
	}
	s.mu.Lock()
	u := s.users[strings.ToLower(upn)]
	s.mu.Unlock()
	if u == nil {
		logFail(newAADError(50034, upn))
		return
	}
	now := s.now()
	c := accessClaims{
		Aud: resource, Iss: s.stsIssuer(), Iat: now.Unix(), Nbf: now.Unix(), Exp: now.Add(s.lifetime).Unix(),
		AppID: app.ClientID, Azp: app.ClientID, IDTyp: "user", Oid: u.oid, Sub: u.oid, Tid: s.tenantID, Ver: "1.0",
		UTI: randomToken(16), Scp: strings.Join(perms, " "), Upn: u.upn, UniqueName: u.upn,
	}
	at, err := s.sign(c)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	id, err := s.sign(jwt.MapClaims{
		"aud": app.ClientID, "iss": s.issuerV2(), "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"oid": u.oid, "sub": u.oid, "tid": s.tenantID, "preferred_username": u.upn, "name": u.upn, "ver": "2.0",
	})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ci, _ := json.Marshal(map[string]string{"uid": u.oid, "utid": s.tenantID})
	rt := "0.RT" + randomToken(48)
	s.mu.Lock()
	if s.refreshTokens == nil {
		s.refreshTokens = map[string]*refreshToken{}
	}
	s.refreshTokens[rt] = &refreshToken{clientID: app.ClientID, user: u.upn}
	s.tokens[resource]++
	if refresh {
		s.refreshes++
	}
	s.mu.Unlock()
	s.log.Info("graphmailtest: delegated token issued", "client_id", app.ClientID, "user", u.upn, "resource", resource, "scp", c.Scp, "refresh", refresh)
	granted := make([]string, len(perms))
	for i, p := range perms {
		granted[i] = resource + "/" + p
	}
	expiresIn := max(int(s.lifetime.Seconds())-1, 1)
	body := map[string]any{
		"token_type":     "Bearer",
		"scope":          strings.Join(append(granted, "openid", "profile", "offline_access"), " "),
		"expires_in":     expiresIn,
		"ext_expires_in": expiresIn,
		"access_token":   at,
		"refresh_token":  rt,
		"id_token":       id,
		"client_info":    base64.RawURLEncoding.EncodeToString(ci),
	}
	if s.refreshIn > 0 {
		body["refresh_in"] = int(s.refreshIn.Seconds())
	}
	writeJSON(w, http.StatusOK, body)
}

// sign signs claims with the server's key.
func (s *Server) sign(claims jwt.Claims) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.kid
	t.Header["x5t"] = s.kid
	raw, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("graphmailtest: sign token: %w", err)
	}
	return raw, nil
}

// formActionRE and formInputRE pick the action and the hidden fields of
// the form_post page.
var (
	formActionRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`<form method="post" action="([^"]*)">`) })
	formInputRE  = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	})
)

// BrowserSignIn plays the browser of an authorization code sign-in: it
// opens authorizeURL (as a client's openURL callback receives it), signs
// in as the user the authorize endpoint picks (login_hint, else the only
// user) and delivers the code to the redirect URI, posting the form for
// response_mode=form_post as MSAL asks, or following the redirect.
func (s *Server) BrowserSignIn(authorizeURL string) error {
	c := s.HTTPClient()
	resp, err := c.Get(authorizeURL)
	if err != nil {
		return fmt.Errorf("graphmailtest: browser: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("graphmailtest: browser: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	m := formActionRE().FindSubmatch(body)
	if m == nil {
		return nil // a redirect was followed to the loopback listener
	}
	form := url.Values{}
	for _, in := range formInputRE().FindAllSubmatch(body, -1) {
		form.Set(html.UnescapeString(string(in[1])), html.UnescapeString(string(in[2])))
	}
	post, err := c.PostForm(html.UnescapeString(string(m[1])), form)
	if err != nil {
		return fmt.Errorf("graphmailtest: browser: %w", err)
	}
	_, _ = io.Copy(io.Discard, post.Body)
	return post.Body.Close()
}
