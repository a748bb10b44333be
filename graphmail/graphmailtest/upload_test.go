package graphmailtest

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiClient makes raw requests to the fake's Graph host.
type apiClient struct {
	t     *testing.T
	srv   *Server
	token string
}

type apiResp struct {
	status int
	header http.Header
	code   string
	body   map[string]any
}

func (c apiClient) do(method, url string, body []byte, hdr map[string]string) apiResp {
	c.t.Helper()
	if strings.HasPrefix(url, "/") {
		url = c.srv.GraphEndpoint() + url
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := c.srv.HTTPClient().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := apiResp{status: resp.StatusCode, header: resp.Header}
	_ = json.Unmarshal(b, &r.body)
	if e, ok := r.body["error"].(map[string]any); ok {
		r.code, _ = e["code"].(string)
	}
	return r
}

func newAPI(t *testing.T, roles ...string) apiClient {
	srv := newTestServer(t, Options{})
	app := srv.App()
	if roles != nil {
		srv.SetRoles(app.ClientID, roles)
	}
	tok, err := srv.IssueToken(app.ClientID, ResourceGraph)
	if err != nil {
		t.Fatal(err)
	}
	return apiClient{t: t, srv: srv, token: tok}
}

const draftJSON = `{"subject":"big","toRecipients":[{"emailAddress":{"address":"a@example.com"}}],"internetMessageId":"<d1@x>"}`

func (c apiClient) draft() string {
	c.t.Helper()
	r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages", []byte(draftJSON), nil)
	if r.status != 201 {
		c.t.Fatalf("create draft: %d %s", r.status, r.code)
	}
	return r.body["id"].(string)
}

func (c apiClient) session(id string, size int) string {
	c.t.Helper()
	r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages/"+id+"/attachments/createUploadSession",
		[]byte(fmt.Sprintf(`{"AttachmentItem":{"attachmentType":"file","name":"big.bin","size":%d}}`, size)), nil)
	if r.status != 201 {
		c.t.Fatalf("createUploadSession: %d %s", r.status, r.code)
	}
	if got := r.body["nextExpectedRanges"].([]any)[0]; got != "0-" {
		c.t.Errorf("nextExpectedRanges = %v", got)
	}
	return r.body["uploadUrl"].(string)
}

func (c apiClient) put(url string, data []byte, start, total int, hdr map[string]string) apiResp {
	h := map[string]string{"Authorization": "", "Content-Type": "application/octet-stream",
		"Content-Range": fmt.Sprintf("bytes %d-%d/%d", start, start+len(data)-1, total)}
	for k, v := range hdr {
		h[k] = v
	}
	return c.do("PUT", url, data, h)
}

func TestUploadSessionRules(t *testing.T) {
	const total = 3*ChunkMultiple + 1000
	data := bytes.Repeat([]byte{7}, total)
	one := ChunkMultiple
	tests := []struct {
		name   string
		first  int // bytes PUT successfully first
		start  int
		n      int
		hdr    map[string]string
		url    func(string) string
		status int
		code   string
	}{
		{name: "first chunk", n: one, status: 200},
		{name: "whole file at once", n: total, status: 201},
		{name: "wrong start", start: one, n: one, status: 416, code: "InvalidRange"},
		{name: "repeated chunk", first: one, start: 0, n: one, status: 416, code: "InvalidRange"},
		{name: "not a multiple of 320 KiB", n: one + 1, status: 400, code: "InvalidChunkSize"},
		{name: "short last chunk is fine", first: 3 * one, start: 3 * one, n: 1000, status: 201},
		{name: "authorization header", n: one, hdr: map[string]string{"Authorization": "Bearer x"}, status: 401, code: "InvalidAuthenticationToken"},
		{name: "gzip refused", n: one, hdr: map[string]string{"Content-Encoding": "gzip"}, status: 415, code: "UnsupportedMediaType"},
		{name: "wrong authtoken", n: one, url: func(u string) string { return u[:strings.Index(u, "authtoken=")] + "authtoken=x" }, status: 401},
		{name: "bad content-range", n: one, hdr: map[string]string{"Content-Range": "bytes=0-1"}, status: 400, code: "InvalidContentRange"},
		{name: "wrong total", n: one, hdr: map[string]string{"Content-Range": fmt.Sprintf("bytes 0-%d/%d", one-1, total+1)}, status: 400, code: "InvalidContentRange"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newAPI(t, "Mail.Send", "Mail.ReadWrite")
			url := c.session(c.draft(), total)
			if tt.first > 0 {
				if r := c.put(url, data[:tt.first], 0, total, nil); r.status != 200 {
					t.Fatalf("first put: %d %s", r.status, r.code)
				}
			}
			if tt.url != nil {
				url = tt.url(url)
			}
			r := c.put(url, data[tt.start:tt.start+tt.n], tt.start, total, tt.hdr)
			if r.status != tt.status || tt.code != "" && r.code != tt.code {
				t.Errorf("got %d %s, want %d %s", r.status, r.code, tt.status, tt.code)
			}
		})
	}
}

func TestChunkOver4MB(t *testing.T) {
	c := newAPI(t, "Mail.Send", "Mail.ReadWrite")
	size := 14 * ChunkMultiple
	url := c.session(c.draft(), size)
	if r := c.put(url, make([]byte, 13*ChunkMultiple), 0, size, nil); r.status != 413 {
		t.Errorf("got %d %s, want 413", r.status, r.code)
	}
}

func TestDraftLifecycle(t *testing.T) {
	c := newAPI(t, "Mail.Send", "Mail.ReadWrite")
	id := c.draft()
	url := c.session(id, ChunkMultiple+5)
	data := bytes.Repeat([]byte("abcde"), (ChunkMultiple+5)/5)
	if r := c.put(url, data[:ChunkMultiple], 0, len(data), nil); r.status != 200 || r.body["nextExpectedRanges"].([]any)[0] != fmt.Sprint(ChunkMultiple) {
		t.Fatalf("chunk 1: %d %v", r.status, r.body)
	}
	if r := c.do("GET", url, nil, map[string]string{"Authorization": ""}); r.status != 200 || r.body["nextExpectedRanges"].([]any)[0] != fmt.Sprintf("%d-", ChunkMultiple) {
		t.Fatalf("status: %d %v", r.status, r.body)
	}
	if r := c.put(url, data[ChunkMultiple:], ChunkMultiple, len(data), nil); r.status != 201 || r.header.Get("Location") == "" {
		t.Fatalf("last chunk: %d %v", r.status, r.body)
	}
	small := `{"@odata.type":"#microsoft.graph.fileAttachment","name":"s.txt","contentType":"text/plain","contentBytes":"aGk="}`
	if r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages/"+id+"/attachments", []byte(small), nil); r.status != 201 {
		t.Fatalf("attachment: %d %s", r.status, r.code)
	}
	if r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages/"+id+"/send", nil, nil); r.status != 202 {
		t.Fatalf("send: %d %s", r.status, r.code)
	}
	msgs := c.srv.Messages()
	if len(msgs) != 1 || msgs[0].Transport != TransportGraphDraft || len(msgs[0].Message.Attachments) != 2 ||
		!bytes.Equal(msgs[0].Message.Attachments[0].ContentBytes, data) || msgs[0].MessageID != "<d1@x>" {
		t.Fatalf("delivered %+v", msgs)
	}
	if c.srv.Drafts() != 0 {
		t.Error("draft kept after send")
	}
	for _, tt := range []struct{ method, path string }{{"POST", "/send"}, {"DELETE", ""}, {"POST", "/attachments"}} {
		if r := c.do(tt.method, "/v1.0/users/"+DefaultMailbox+"/messages/"+id+tt.path, []byte(small), nil); r.status != 404 || r.code != "ErrorItemNotFound" {
			t.Errorf("%s %s after send: %d %s", tt.method, tt.path, r.status, r.code)
		}
	}
}

func TestDraftsNeedReadWrite(t *testing.T) {
	c := newAPI(t) // default roles: Mail.Send only
	r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages", []byte(draftJSON), nil)
	if r.status != 403 || r.code != "ErrorAccessDenied" {
		t.Errorf("got %d %s, want 403 ErrorAccessDenied", r.status, r.code)
	}
}

func TestDraftGzipAndDelete(t *testing.T) {
	c := newAPI(t, "Mail.Send", "Mail.ReadWrite")
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	_, _ = zw.Write([]byte(draftJSON))
	_ = zw.Close()
	r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/messages", b.Bytes(), map[string]string{"Content-Encoding": "gzip"})
	if r.status != 201 {
		t.Fatalf("gzip draft: %d %s", r.status, r.code)
	}
	if r := c.do("DELETE", "/v1.0/users/"+DefaultMailbox+"/messages/"+r.body["id"].(string), nil, nil); r.status != 204 {
		t.Fatalf("delete: %d %s", r.status, r.code)
	}
	if c.srv.Drafts() != 0 || c.srv.DeletedDrafts() != 1 {
		t.Errorf("drafts %d deleted %d", c.srv.Drafts(), c.srv.DeletedDrafts())
	}
}

func TestMailboxConcurrency(t *testing.T) {
	c := newAPI(t)
	// Held until two were turned away: the six overlap for certain.
	release := c.srv.HoldGraph()
	defer release()
	body := []byte(`{"message":{"toRecipients":[{"emailAddress":{"address":"a@example.com"}}]}}`)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		statuses = map[int]int{}
	)
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := c.do("POST", "/v1.0/users/"+DefaultMailbox+"/sendMail", body, nil)
			mu.Lock()
			statuses[r.status]++
			if r.status == 429 && (r.code != "ApplicationThrottled" || r.header.Get("Retry-After") == "") {
				t.Errorf("429 without code or Retry-After: %s %v", r.code, r.header)
			}
			mu.Unlock()
		}()
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		turnedAway := statuses[429]
		mu.Unlock()
		if turnedAway >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the fake never turned a request away") // only bounds a hang
		}
	}
	release()
	wg.Wait()
	if statuses[202] != 4 || statuses[429] != 2 || c.srv.MaxInFlight(DefaultMailbox) != 4 || c.srv.Throttled() != 2 {
		t.Errorf("statuses %v, max in flight %d, throttled %d; want 4×202, 2×429", statuses, c.srv.MaxInFlight(DefaultMailbox), c.srv.Throttled())
	}
	if got := c.srv.MaxPerWindow(DefaultMailbox, time.Hour); got != 4 {
		t.Errorf("MaxPerWindow = %d, want 4: those turned away did not arrive", got)
	}
}
