package graphmailtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type graphResp struct {
	status int
	header http.Header
	code   string
	body   []byte
}

func postSendMail(t *testing.T, ctx context.Context, srv *Server, token, mailbox, contentType string, body []byte, gz bool) (graphResp, error) {
	t.Helper()
	payload := body
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		_ = zw.Close()
		payload = b.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.GraphEndpoint()+"/v1.0/users/"+mailbox+"/sendMail", bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("client-request-id", "11111111-2222-4333-8444-555555555555")
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		return graphResp{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := graphResp{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 {
		var e struct {
			Error struct {
				Code       string            `json:"code"`
				Message    string            `json:"message"`
				InnerError map[string]string `json:"innerError"`
			} `json:"error"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("error body is not JSON: %v: %s", err, b)
		}
		r.code = e.Error.Code
		if e.Error.Message == "" || e.Error.InnerError["request-id"] == "" || e.Error.InnerError["date"] == "" ||
			e.Error.InnerError["client-request-id"] != "11111111-2222-4333-8444-555555555555" {
			t.Errorf("error body not in Graph's shape: %s", b)
		}
	}
	return r, nil
}

const sdkJSON = `{"Message":{"@odata.type":"#microsoft.graph.message","subject":"Hello ünïcode",
 "body":{"content":"<p>Hi <img src=\"cid:logo\"></p>","contentType":"HTML"},
 "toRecipients":[{"emailAddress":{"address":"to@example.com","name":"To Person"}}],
 "ccRecipients":[{"emailAddress":{"address":"cc@example.com"}}],
 "bccRecipients":[{"emailAddress":{"address":"hidden@example.com"}}],
 "importance":"high","internetMessageId":"<abc.123@sandbox.onmicrosoft.com>",
 "internetMessageHeaders":[{"name":"X-Job","value":"42"}],
 "attachments":[
  {"@odata.type":"#microsoft.graph.fileAttachment","name":"a.txt","contentType":"text/plain","contentBytes":"aGVsbG8="},
  {"@odata.type":"#microsoft.graph.fileAttachment","name":"logo.png","contentType":"image/png","contentBytes":"iVBORw0=","isInline":true,"contentId":"logo"}]},
 "SaveToSentItems":false}`

func TestSendMail(t *testing.T) {
	clock := &testClock{t: time.Now()}
	srv := newTestServer(t, Options{Now: clock.Now})
	other := newTestServer(t, Options{})
	app := srv.App()
	graphTok, err := srv.IssueToken(app.ClientID, ResourceGraph)
	if err != nil {
		t.Fatal(err)
	}
	outlookTok, _ := srv.IssueToken(app.ClientID, ResourceOutlook)
	foreignTok, _ := other.IssueToken(other.App().ClientID, ResourceGraph)
	clock.Advance(-2 * time.Hour)
	expiredTok, _ := srv.IssueToken(app.ClientID, ResourceGraph)
	clock.Advance(2 * time.Hour)
	srv.AddApp(App{ClientID: "no-roles", Secret: "x", Roles: []string{"SMTP.SendAsApp"}})
	noRoleTok, _ := srv.IssueToken("no-roles", ResourceGraph)
	srv.AddMailbox("onprem@sandbox.onmicrosoft.com")
	srv.SetMailboxRESTDisabled("onprem@sandbox.onmicrosoft.com")

	msg := func(inner string) []byte {
		return []byte(`{"message":{` + inner + `}}`)
	}
	to := `"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]`
	mimeMsg := "From: sandbox@sandbox.onmicrosoft.com\r\nTo: a@example.com\r\nSubject: hi\r\nMessage-Id: <m1@x>\r\n\r\nbody\r\n"
	b64 := func(s string) []byte { return []byte(base64.StdEncoding.EncodeToString([]byte(s))) }

	tests := []struct {
		name        string
		token       string
		mailbox     string
		contentType string
		body        []byte
		gzip        bool
		wantStatus  int
		wantCode    string
	}{
		{"sdk json", graphTok, DefaultMailbox, "application/json", []byte(sdkJSON), false, 202, ""},
		{"gzip json", graphTok, "SANDBOX@sandbox.onmicrosoft.com", "application/json; charset=utf-8", msg(`"subject":"gz",` + to), true, 202, ""},
		{"mime", graphTok, DefaultMailbox, "text/plain", b64(mimeMsg), false, 202, ""},
		{"gzip mime", graphTok, DefaultMailbox, "text/plain", b64(mimeMsg), true, 202, ""},
		{"no token", "", DefaultMailbox, "application/json", msg(to), false, 401, "InvalidAuthenticationToken"},
		{"garbage token", "abc", DefaultMailbox, "application/json", msg(to), false, 401, "InvalidAuthenticationToken"},
		{"expired token", expiredTok, DefaultMailbox, "application/json", msg(to), false, 401, "InvalidAuthenticationToken"},
		{"outlook audience", outlookTok, DefaultMailbox, "application/json", msg(to), false, 401, "InvalidAuthenticationToken"},
		{"other server's token", foreignTok, DefaultMailbox, "application/json", msg(to), false, 401, "InvalidAuthenticationToken"},
		{"no Mail.Send", noRoleTok, DefaultMailbox, "application/json", msg(to), false, 403, "ErrorAccessDenied"},
		{"unknown mailbox", graphTok, "nobody@sandbox.onmicrosoft.com", "application/json", msg(to), false, 404, "ErrorInvalidUser"},
		{"rest disabled", graphTok, "onprem@sandbox.onmicrosoft.com", "application/json", msg(to), false, 404, "MailboxNotEnabledForRESTAPI"},
		{"unknown message property", graphTok, DefaultMailbox, "application/json", msg(`"subjekt":"x",` + to), false, 400, "RequestBodyRead"},
		{"unknown nested property", graphTok, DefaultMailbox, "application/json", msg(`"toRecipients":[{"emailAddress":{"address":"a@example.com","nam":"x"}}]`), false, 400, "RequestBodyRead"},
		{"unknown parameter", graphTok, DefaultMailbox, "application/json", []byte(`{"message":{` + to + `},"saveToSent":true}`), false, 400, "RequestBodyRead"},
		{"subject not string", graphTok, DefaultMailbox, "application/json", msg(`"subject":1,` + to), false, 400, "RequestBodyRead"},
		{"bad body type", graphTok, DefaultMailbox, "application/json", msg(`"body":{"contentType":"rtf","content":"x"},` + to), false, 400, "RequestBodyRead"},
		{"bad recipient", graphTok, DefaultMailbox, "application/json", msg(`"toRecipients":[{"emailAddress":{"address":"not an address"}}]`), false, 400, "ErrorInvalidRecipients"},
		{"no recipients", graphTok, DefaultMailbox, "application/json", msg(`"subject":"x"`), false, 400, "ErrorInvalidRecipients"},
		{"header without x-", graphTok, DefaultMailbox, "application/json", msg(to + `,"internetMessageHeaders":[{"name":"Foo","value":"1"}]`), false, 400, "InvalidInternetMessageHeader"},
		{"bad contentBytes", graphTok, DefaultMailbox, "application/json", msg(to + `,"attachments":[{"@odata.type":"#microsoft.graph.fileAttachment","name":"a","contentBytes":"!!!"}]`), false, 400, "RequestBodyRead"},
		{"attachment without type", graphTok, DefaultMailbox, "application/json", msg(to + `,"attachments":[{"name":"a","contentBytes":"aGk="}]`), false, 400, "RequestBodyRead"},
		{"send as other", graphTok, DefaultMailbox, "application/json", msg(to + `,"from":{"emailAddress":{"address":"ceo@sandbox.onmicrosoft.com"}}`), false, 403, "ErrorSendAsDenied"},
		{"invalid json", graphTok, DefaultMailbox, "application/json", []byte(`{"message":`), false, 400, "RequestBodyRead"},
		{"bad base64 mime", graphTok, DefaultMailbox, "text/plain", []byte("not*base64"), false, 400, "ErrorMimeContentInvalidBase64String"},
		{"mime without recipients", graphTok, DefaultMailbox, "text/plain", b64("Subject: x\r\n\r\nbody"), false, 400, "ErrorInvalidRecipients"},
		{"too large", graphTok, DefaultMailbox, "text/plain", bytes.Repeat([]byte("QUFB"), MaxRequestBytes/4+1), true, 413, "RequestEntityTooLarge"},
		{"unsupported content type", graphTok, DefaultMailbox, "application/xml", []byte("<x/>"), false, 415, "UnsupportedMediaType"},
	}
	accepted := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := postSendMail(t, context.Background(), srv, tt.token, tt.mailbox, tt.contentType, tt.body, tt.gzip)
			if err != nil {
				t.Fatal(err)
			}
			if r.status != tt.wantStatus || r.code != tt.wantCode {
				t.Fatalf("got %d %q, want %d %q; body %s", r.status, r.code, tt.wantStatus, tt.wantCode, r.body)
			}
			if r.header.Get("request-id") == "" || r.header.Get("client-request-id") != "11111111-2222-4333-8444-555555555555" || r.header.Get("Date") == "" {
				t.Errorf("missing request-id/client-request-id/Date headers: %v", r.header)
			}
			if tt.wantStatus == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer ") {
				t.Errorf("401 without WWW-Authenticate: %v", r.header)
			}
			if r.status == 202 {
				accepted++
				if len(r.body) != 0 {
					t.Errorf("202 with body %q", r.body)
				}
			}
		})
	}
	msgs := srv.Messages()
	if len(msgs) != accepted {
		t.Fatalf("Messages() has %d, want %d", len(msgs), accepted)
	}
	d := msgs[0]
	if d.Transport != TransportGraphJSON || d.Mailbox != DefaultMailbox || d.SaveToSentItems || d.Message == nil ||
		d.Message.Subject != "Hello ünïcode" || d.Message.Body.ContentType != "html" || len(d.Message.Attachments) != 2 ||
		string(d.Message.Attachments[0].ContentBytes) != "hello" || d.MessageID != "<abc.123@sandbox.onmicrosoft.com>" ||
		d.ClientRequestID != "11111111-2222-4333-8444-555555555555" || d.AppID != app.ClientID {
		t.Errorf("first delivery = %+v", d)
	}
	if got, want := strings.Join(d.Recipients, ","), "to@example.com,cc@example.com,hidden@example.com"; got != want {
		t.Errorf("Recipients = %q, want %q", got, want)
	}
	if !msgs[1].SaveToSentItems || msgs[1].Mailbox != DefaultMailbox || msgs[1].Message.Subject != "gz" {
		t.Errorf("gzip delivery = %+v", msgs[1])
	}
	if m := msgs[2]; m.Transport != TransportGraphMIME || string(m.MIME) != mimeMsg || m.JSON != nil || m.Message != nil || m.MessageID != "<m1@x>" {
		t.Errorf("MIME delivery = %+v", m)
	}
}

func TestSendMailGrantSendAs(t *testing.T) {
	srv := newTestServer(t, Options{})
	tok, _ := srv.IssueToken(srv.App().ClientID, ResourceGraph)
	srv.GrantSendAs(DefaultMailbox, "Shared@sandbox.onmicrosoft.com")
	body := `{"message":{"from":{"emailAddress":{"address":"shared@sandbox.onmicrosoft.com","name":"Shared"}},"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]}}`
	r, err := postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "application/json", []byte(body), false)
	if err != nil || r.status != 202 {
		t.Fatalf("got %v %d %s, want 202", err, r.status, r.body)
	}
	if !bytes.Contains(srv.Messages()[0].MIME, []byte(`From: "Shared" <shared@sandbox.onmicrosoft.com>`)) {
		t.Errorf("rendered From wrong:\n%s", srv.Messages()[0].MIME)
	}
}

func TestInjectedGraphFailures(t *testing.T) {
	srv := newTestServer(t, Options{})
	tok, _ := srv.IssueToken(srv.App().ClientID, ResourceGraph)
	body := []byte(`{"message":{"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]}}`)

	srv.Fail(Failure{Endpoint: EndpointGraph, Status: 429, RetryAfter: "7"})
	srv.Fail(Failure{Endpoint: EndpointGraph, Status: 503, Code: "ServiceUnavailable", Times: 2})
	srv.Fail(Failure{Endpoint: EndpointToken, Code: "AADSTS7000222"}) // not for Graph
	want := []struct {
		status     int
		code       string
		retryAfter string
	}{
		{429, "ApplicationThrottled", "7"},
		{503, "ServiceUnavailable", ""},
		{503, "ServiceUnavailable", ""},
		{202, "", ""},
	}
	for i, w := range want {
		r, err := postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "application/json", body, false)
		if err != nil {
			t.Fatal(err)
		}
		if r.status != w.status || r.code != w.code || r.header.Get("Retry-After") != w.retryAfter {
			t.Errorf("request %d: got %d %q Retry-After %q, want %d %q %q", i, r.status, r.code, r.header.Get("Retry-After"), w.status, w.code, w.retryAfter)
		}
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want 1", n)
	}

	// Delay: the client gives up first, and the handler returns at once.
	srv.Fail(Failure{Endpoint: EndpointGraph, Status: 504, Delay: time.Minute})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := postSendMail(t, ctx, srv, tok, DefaultMailbox, "application/json", body, false)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context deadline exceeded", err)
	}
	if el := time.Since(start); el > 30*time.Second { // far below the delay, whatever the load
		t.Errorf("delayed request took %v", el)
	}
	// A short delay is served.
	srv.Fail(Failure{Endpoint: EndpointGraph, Status: 503, Delay: 50 * time.Millisecond})
	start = time.Now()
	r, err := postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "application/json", body, false)
	if err != nil || r.status != 503 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("short delay: %v %d after %v", err, r.status, time.Since(start))
	}
	// Close does not wait for a long delay.
	srv.Fail(Failure{Endpoint: EndpointGraph, Status: 503, Delay: time.Hour})
	requests := srv.GraphRequests("")
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "application/json", body, false)
	}()
	// Close once the request is in the handler, about to be delayed.
	for deadline := time.Now().Add(time.Minute); srv.GraphRequests("") == requests; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the delayed request never reached the server")
		}
	}
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // far below the delay, whatever the load
		t.Fatal("Close blocked on a delayed request")
	}
	<-done
}

func TestDirFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	srv := newTestServer(t, Options{Dir: dir})
	tok, _ := srv.IssueToken(srv.App().ClientID, ResourceGraph)
	if r, err := postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "application/json", []byte(sdkJSON), true); err != nil || r.status != 202 {
		t.Fatalf("json send: %v %d %s", err, r.status, r.body)
	}
	mimeMsg := "To: a@example.com\r\nSubject: m\r\n\r\nx\r\n"
	b64 := base64.StdEncoding.EncodeToString([]byte(mimeMsg))
	if r, err := postSendMail(t, context.Background(), srv, tok, DefaultMailbox, "text/plain", []byte(b64), false); err != nil || r.status != 202 {
		t.Fatalf("mime send: %v %d %s", err, r.status, r.body)
	}
	if _, err := srv.DeliverSMTP(DefaultMailbox, []string{"b@example.com"}, []byte("To: b@example.com\r\nMessage-Id: <s@x>\r\n\r\nhi\r\n")); err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	wantFiles := map[string][]byte{
		"0001-abc.123@sandbox.onmicrosoft.com.eml":  msgs[0].MIME,
		"0001-abc.123@sandbox.onmicrosoft.com.json": []byte(sdkJSON),
		"0003-s@x.eml": msgs[2].MIME,
	}
	if filepath.Base(msgs[0].Path) != "0001-abc.123@sandbox.onmicrosoft.com.eml" {
		t.Errorf("Path = %q", msgs[0].Path)
	}
	b64Path := strings.TrimSuffix(msgs[1].Path, ".eml") + ".mime.b64"
	wantFiles[filepath.Base(msgs[1].Path)] = []byte(mimeMsg)
	wantFiles[filepath.Base(b64Path)] = []byte(b64)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(wantFiles) {
		t.Errorf("files = %v, want %d", entries, len(wantFiles))
	}
	for name, want := range wantFiles {
		p := filepath.Join(dir, name)
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s content differs:\n%s", name, got)
		}
		if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}
