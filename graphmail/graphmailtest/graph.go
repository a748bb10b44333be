package graphmailtest

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// graphError is a Graph error response.
type graphError struct {
	status        int
	code, message string
}

// graphRequest carries the per-request values every Graph answer needs.
type graphRequest struct {
	requestID, clientRequestID string
}

func (s *Server) graphHandler() http.Handler {
	return http.HandlerFunc(s.serveGraph)
}

// serveGraph answers every request to the Graph host: the Graph API under
// /v1.0 and the upload session URLs. Path segments of the API match without
// regard to case, as in Graph.
func (s *Server) serveGraph(w http.ResponseWriter, r *http.Request) {
	gr := graphRequest{requestID: newGUID(), clientRequestID: r.Header.Get("client-request-id")}
	if gr.clientRequestID == "" {
		gr.clientRequestID = gr.requestID
	}
	h := w.Header()
	h.Set("request-id", gr.requestID)
	h.Set("client-request-id", gr.clientRequestID)
	h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	h.Set("x-ms-ags-diagnostic", `{"ServerInfo":{"DataCenter":"Sandbox","Slice":"E","Ring":"0","ScaleUnit":"000","RoleInstance":"graphmailtest"}}`)
	if strings.HasPrefix(r.URL.Path, uploadPrefix) {
		s.serveUpload(w, r, gr)
		return
	}
	s.mail.count(r)

	if f := s.takeFailure(EndpointGraph); f != nil {
		s.serveFailure(w, r, gr, f)
		return
	}

	if s.serveApplication(w, r, gr) {
		return
	}
	rt, ge := s.route(r)
	if ge == nil {
		release, ok := s.mail.enter(rt.mailbox)
		if !ok {
			h.Set("Retry-After", "1")
			ge = &graphError{status: http.StatusTooManyRequests, code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit."}
		} else {
			defer release()
			if rt.op == opSendMail || rt.op == opSendDraft {
				s.mail.arrive(rt.mailbox)
			}
			s.mail.hold(r)
			ge = s.dispatch(w, r, gr, rt)
		}
	}
	if ge != nil {
		s.writeGraphError(w, r, gr, *ge)
	}
}

// serveFailure answers with an injected failure.
func (s *Server) serveFailure(w http.ResponseWriter, r *http.Request, gr graphRequest, f *Failure) {
	if !s.delay(r, f.Delay) {
		return
	}
	if f.Drop {
		panic(http.ErrAbortHandler) // cut the connection without an answer
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	s.writeGraphError(w, r, gr, f.graphError())
}

// Graph operations the fake implements (graphRoute.op).
const (
	opSendMail            = "sendMail"            // POST users/{id}/sendMail
	opCreateDraft         = "createDraft"         // POST users/{id}/messages
	opDeleteDraft         = "deleteDraft"         // DELETE users/{id}/messages/{mid}
	opAddAttachment       = "addAttachment"       // POST users/{id}/messages/{mid}/attachments
	opCreateUploadSession = "createUploadSession" // POST …/attachments/createUploadSession
	opSendDraft           = "sendDraft"           // POST users/{id}/messages/{mid}/send
)

// graphRoute is a matched Graph API request.
type graphRoute struct {
	mailbox, op, messageID string
	me                     bool // the path was /me/…
}

// meMailbox stands for the signed-in user until dispatch resolves /me.
const meMailbox = "me"

// route matches the API paths the fake implements.
func (s *Server) route(r *http.Request) (graphRoute, *graphError) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(segs) == 0 || !strings.EqualFold(segs[0], "v1.0") {
		return graphRoute{}, &graphError{status: 400, code: "BadRequest", message: fmt.Sprintf("Invalid version: %s", segs[0])}
	}
	me := len(segs) >= 2 && strings.EqualFold(segs[1], "me")
	if me {
		// /me/… is /users/{signed-in user}/…; dispatch resolves it.
		segs = append([]string{segs[0], "users", meMailbox}, segs[2:]...)
	}
	notFound := &graphError{status: 400, code: "BadRequest", message: fmt.Sprintf("Resource not found for the segment '%s'.", segs[len(segs)-1])}
	if len(segs) < 4 || !strings.EqualFold(segs[1], "users") || segs[2] == "" {
		return graphRoute{}, notFound
	}
	rt := graphRoute{mailbox: segs[2]}
	rest := make([]string, len(segs)-3)
	for i, seg := range segs[3:] {
		rest[i] = strings.ToLower(seg)
	}
	method := http.MethodPost
	switch {
	case len(rest) == 1 && rest[0] == "sendmail":
		rt.op = opSendMail
	case len(rest) == 1 && rest[0] == "messages":
		rt.op = opCreateDraft
	case len(rest) == 2 && rest[0] == "messages":
		rt.op, method = opDeleteDraft, http.MethodDelete
	case len(rest) == 3 && rest[0] == "messages" && rest[2] == "attachments":
		rt.op = opAddAttachment
	case len(rest) == 4 && rest[0] == "messages" && rest[2] == "attachments" && rest[3] == "createuploadsession":
		rt.op = opCreateUploadSession
	case len(rest) == 3 && rest[0] == "messages" && rest[2] == "send":
		rt.op = opSendDraft
	default:
		return graphRoute{}, notFound
	}
	if len(rest) >= 2 {
		rt.messageID = segs[4]
	}
	rt.me = me
	if r.Method != method {
		return graphRoute{}, &graphError{status: 405, code: "BadRequest", message: fmt.Sprintf("The HTTP method '%s' is not supported for %s.", r.Method, rt.op)}
	}
	return rt, nil
}

// dispatch runs Graph's checks in Graph's order — token, permission,
// mailbox — and then the operation.
func (s *Server) dispatch(w http.ResponseWriter, r *http.Request, gr graphRequest, rt graphRoute) *graphError {
	claims, ge := s.authorizeGraph(r)
	if ge != nil {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/%s/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`, s.authority.url, s.tenantID))
		return ge
	}
	if ge := s.resolveDelegated(&rt, claims); ge != nil {
		return ge
	}
	role := "Mail.ReadWrite"
	if rt.op == opSendMail || rt.op == opSendDraft {
		role = "Mail.Send"
	}
	if !claims.Permits(role) {
		return &graphError{status: 403, code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again."}
	}
	s.mu.Lock()
	mailbox, exists := s.mailboxes[strings.ToLower(rt.mailbox)]
	disabled := s.restDisabled[strings.ToLower(rt.mailbox)]
	s.mu.Unlock()
	if !exists {
		return &graphError{status: 404, code: "ErrorInvalidUser", message: fmt.Sprintf("The requested user '%s' is invalid.", rt.mailbox)}
	}
	if disabled {
		return &graphError{status: 404, code: "MailboxNotEnabledForRESTAPI", message: "The mailbox is either inactive, soft-deleted, or is hosted on-premise."}
	}
	switch rt.op {
	case opSendMail:
		return s.sendMail(w, r, gr, claims, mailbox)
	case opCreateDraft:
		return s.createDraft(w, r, claims, mailbox)
	case opDeleteDraft:
		return s.deleteDraft(w, mailbox, rt.messageID)
	case opAddAttachment:
		return s.addAttachment(w, r, mailbox, rt.messageID)
	case opCreateUploadSession:
		return s.createUploadSession(w, r, mailbox, rt.messageID)
	default:
		return s.sendDraft(w, gr, claims, mailbox, rt.messageID)
	}
}

// sendMail validates the body and records an accepted message.
func (s *Server) sendMail(w http.ResponseWriter, r *http.Request, gr graphRequest, claims *Claims, mailbox string) *graphError {
	body, ge := readGraphBody(r)
	if ge != nil {
		return ge
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	d := Delivered{Mailbox: mailbox, RequestID: gr.requestID, ClientRequestID: r.Header.Get("client-request-id"), AppID: claims.AppID, User: claims.UPN}
	switch mt {
	case "application/json":
		req, ge := decodeSendMail(body)
		if ge != nil {
			return ge
		}
		if ge := s.checkSendAs(mailbox, req.Message.From); ge != nil {
			return ge
		}
		d.Transport = TransportGraphJSON
		d.JSON, d.Message, d.SaveToSentItems = body, req.Message, req.SaveToSentItems
		rendered, msgID, err := renderMessage(mailbox, req.Message, s.now())
		if err != nil {
			return &graphError{status: 400, code: "ErrorInvalidRequest", message: "graphmailtest: cannot render message: " + err.Error()}
		}
		d.MIME, d.MessageID = rendered, msgID
	case "text/plain":
		mimeBytes, ge := decodeMIMEBody(body)
		if ge != nil {
			return ge
		}
		from, msgID, ge := s.checkMIME(mimeBytes)
		if ge != nil {
			return ge
		}
		if from != nil {
			if ge := s.checkSendAs(mailbox, &Recipient{EmailAddress: EmailAddress{Address: from.Address}}); ge != nil {
				return ge
			}
		}
		d.Transport = TransportGraphMIME
		d.MIME, d.MessageID, d.SaveToSentItems = mimeBytes, msgID, true
		d.raw = body
	default:
		return &graphError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
			message: fmt.Sprintf("Content-Type '%s' is not supported; sendMail takes application/json or text/plain (base64 MIME).", r.Header.Get("Content-Type"))}
	}
	if _, err := s.record(d); err != nil {
		return &graphError{status: 500, code: "InternalServerError", message: "graphmailtest: " + err.Error()}
	}
	s.log.Info("graphmailtest: sendMail accepted", "mailbox", mailbox, "transport", d.Transport,
		"app_id", claims.AppID, "request_id", gr.requestID)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// resolveDelegated applies the rules for the signed-in user of a
// delegated token: /me is their mailbox, and another mailbox needs a
// delegation (GrantDelegate). App-only tokens cannot use /me.
func (s *Server) resolveDelegated(rt *graphRoute, claims *Claims) *graphError {
	if claims.IDType != "user" {
		if rt.me {
			return &graphError{status: 400, code: "BadRequest", message: "/me request is only valid with delegated authentication flow."}
		}
		return nil
	}
	if rt.me {
		rt.mailbox = claims.UPN
		return nil
	}
	if strings.EqualFold(rt.mailbox, claims.UPN) {
		return nil
	}
	s.mu.Lock()
	ok := s.delegates[strings.ToLower(rt.mailbox)][strings.ToLower(claims.UPN)]
	s.mu.Unlock()
	if !ok {
		return &graphError{status: 403, code: "ErrorAccessDenied", message: "Access is denied. Check credentials and try again."}
	}
	return nil
}

// GrantDelegate lets user send from mailbox with a delegated token
// (users/{mailbox}/sendMail), as Exchange's Send As or Send on Behalf
// permission with Mail.Send.Shared does.
func (s *Server) GrantDelegate(mailbox, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delegates == nil {
		s.delegates = map[string]map[string]bool{}
	}
	k := strings.ToLower(mailbox)
	if s.delegates[k] == nil {
		s.delegates[k] = map[string]bool{}
	}
	s.delegates[k][strings.ToLower(user)] = true
}

// authorizeGraph checks the bearer token: present, signed by this
// server, in its lifetime, for Graph.
func (s *Server) authorizeGraph(r *http.Request) (*Claims, *graphError) {
	unauth := func(msg string) *graphError {
		return &graphError{status: 401, code: "InvalidAuthenticationToken", message: msg}
	}
	auth := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(auth, " ")
	tok = strings.TrimSpace(tok)
	if auth == "" || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return nil, unauth("Access token is empty.")
	}
	if strings.Count(tok, ".") != 2 {
		return nil, unauth("IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.")
	}
	c, err := s.ParseToken(tok)
	switch {
	case errors.Is(err, ErrTokenExpired):
		return nil, unauth("Lifetime validation failed, the token is expired.")
	case err != nil:
		return nil, unauth("Access token validation failure.")
	}
	if aud := strings.TrimRight(c.Audience, "/"); aud != ResourceGraph && aud != "00000003-0000-0000-c000-000000000000" {
		return nil, unauth("Access token validation failure. Invalid audience.")
	}
	if s.tokenRevoked(c) {
		// As after continuous access evaluation revoked the session, or a
		// signing-key rollover: valid-looking, refused, no claims
		// challenge.
		return nil, unauth("Access token has been revoked.")
	}
	return c, nil
}

// checkSendAs refuses a from address other than the mailbox unless
// GrantSendAs allowed it.
func (s *Server) checkSendAs(mailbox string, from *Recipient) *graphError {
	if from == nil || strings.EqualFold(from.EmailAddress.Address, mailbox) {
		return nil
	}
	s.mu.Lock()
	ok := s.sendAs[strings.ToLower(mailbox)][strings.ToLower(from.EmailAddress.Address)]
	s.mu.Unlock()
	if ok {
		return nil
	}
	return &graphError{status: 403, code: "ErrorSendAsDenied",
		message: "The user account which was used to submit this request does not have the right to send mail on behalf of the specified sending account., Cannot submit message."}
}

// readGraphBody reads the request body, gunzipping it if the client
// compressed it (kiota's compression middleware does), and enforces the
// 4 MB limit on the decoded body.
func readGraphBody(r *http.Request) ([]byte, *graphError) {
	var rd io.Reader = http.MaxBytesReader(nil, r.Body, 4*MaxRequestBytes)
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip":
		zr, err := gzip.NewReader(rd)
		if err != nil {
			return nil, &graphError{status: 400, code: "BadRequest", message: "The request body is not valid gzip data."}
		}
		defer zr.Close()
		rd = zr
	default:
		return nil, &graphError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
			message: fmt.Sprintf("Content-Encoding '%s' is not supported.", enc)}
	}
	body, err := io.ReadAll(io.LimitReader(rd, MaxRequestBytes+1))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig), err == nil && len(body) > MaxRequestBytes:
		return nil, &graphError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge",
			message: "The maximum request length supported is 4MB."}
	case err != nil:
		return nil, &graphError{status: 400, code: "BadRequest", message: "The request body could not be read: " + err.Error()}
	}
	return body, nil
}

// decodeMIMEBody decodes the base64 MIME sendMail body; like .NET's
// Convert.FromBase64String it ignores white space.
func decodeMIMEBody(body []byte) ([]byte, *graphError) {
	clean := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, body)
	out, err := base64.StdEncoding.DecodeString(string(clean))
	if err != nil || len(out) == 0 {
		return nil, &graphError{status: 400, code: "ErrorMimeContentInvalidBase64String", message: "Invalid base64 string for MIME content."}
	}
	return out, nil
}

// checkMIME parses the decoded MIME message's header and requires at
// least one recipient. It returns the From address, if any, and the
// Message-Id.
func (s *Server) checkMIME(b []byte) (*mail.Address, string, *graphError) {
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return nil, "", &graphError{status: 400, code: "ErrorMimeContentInvalid", message: "The MIME content is invalid: " + err.Error()}
	}
	n := 0
	for _, k := range []string{"To", "Cc", "Bcc"} {
		if m.Header.Get(k) == "" {
			continue
		}
		list, err := m.Header.AddressList(k)
		if err != nil {
			return nil, "", invalidRecipient(m.Header.Get(k))
		}
		for _, a := range list {
			if s.unresolvable(a.Address) {
				return nil, "", invalidRecipient(a.Address)
			}
		}
		n += len(list)
	}
	if n == 0 {
		return nil, "", &graphError{status: 400, code: "ErrorInvalidRecipients",
			message: "At least one recipient is not valid., A message can't be sent because it contains no recipients."}
	}
	var from *mail.Address
	if m.Header.Get("From") != "" {
		list, err := m.Header.AddressList("From")
		if err != nil || len(list) == 0 {
			return nil, "", &graphError{status: 400, code: "ErrorMimeContentInvalid", message: "The From header of the MIME content is invalid."}
		}
		from = list[0]
	}
	return from, m.Header.Get("Message-Id"), nil
}

// writeGraphError writes e in Graph's shape:
//
//	{"error":{"code":"…","message":"…","innerError":{"date":"…","request-id":"…","client-request-id":"…"}}}
func (s *Server) writeGraphError(w http.ResponseWriter, r *http.Request, gr graphRequest, e graphError) {
	s.log.Warn("graphmailtest: graph request refused", "method", r.Method, "path", r.URL.Path,
		"status", e.status, "code", e.code, "request_id", gr.requestID)
	writeJSON(w, e.status, map[string]any{"error": map[string]any{
		"code":    e.code,
		"message": e.message,
		"innerError": map[string]string{
			"date":              s.now().UTC().Format("2006-01-02T15:04:05"),
			"request-id":        gr.requestID,
			"client-request-id": gr.clientRequestID,
		},
	}})
}
