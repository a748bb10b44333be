package graphmailtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Upload session rules, as Graph documents them for message attachments.
const (
	// uploadPrefix starts the path of every upload URL. The URL is on the
	// Graph listener but outside /v1.0 and carries its own credential (the
	// authtoken query parameter), like Outlook's upload URLs.
	uploadPrefix = "/upload/AttachmentSessions/"
	// MaxChunkBytes is the largest chunk one PUT may carry.
	MaxChunkBytes = 4 << 20
	// ChunkMultiple: every chunk but the last is a multiple of 320 KiB.
	ChunkMultiple = 320 << 10
	// MaxUploadBytes is the largest attachment an upload session takes.
	MaxUploadBytes = 150 << 20
)

// uploadSession is an attachment being uploaded to a draft.
type uploadSession struct {
	id, token, mailbox, draftID string
	att                         FileAttachment
	size, next                  int64
	expires                     time.Time
}

func (st *mailState) dropSessionsLocked(draftID string) {
	for id, u := range st.sessions {
		if u.draftID == draftID {
			delete(st.sessions, id)
		}
	}
}

// createUploadSession answers POST …/attachments/createUploadSession with
// {"AttachmentItem":{"attachmentType":"file","name":…,"size":…}}.
func (s *Server) createUploadSession(w http.ResponseWriter, r *http.Request, mailbox, id string) *graphError {
	if _, ge := s.mail.lookupDraft(mailbox, id); ge != nil {
		return ge
	}
	body, ge := readGraphBody(r)
	if ge != nil {
		return ge
	}
	top, ge := decodeObject(body, "createUploadSession", props("AttachmentItem"))
	if ge != nil {
		return ge
	}
	raw, ok := top["attachmentitem"]
	if !ok || isNull(raw) {
		return &graphError{status: 400, code: "ErrorInvalidParameter", message: "The value of the parameter 'AttachmentItem' is empty."}
	}
	item, ge := decodeObject(raw, "microsoft.graph.attachmentItem", props("attachmentType contentId contentType isInline name size"))
	if ge != nil {
		return ge
	}
	u := &uploadSession{id: randomHex(16), token: randomHex(32), mailbox: mailbox, draftID: id, expires: s.now().Add(15 * time.Minute)}
	kind, ge := item.str("attachmentType")
	if ge != nil {
		return ge
	}
	if !strings.EqualFold(kind, "file") {
		return bodyReadError("graphmailtest: attachmentType '%s' is not supported; use 'file'.", kind)
	}
	for _, f := range []struct {
		key string
		dst *string
	}{{"name", &u.att.Name}, {"contentType", &u.att.ContentType}, {"contentId", &u.att.ContentID}} {
		if *f.dst, ge = item.str(f.key); ge != nil {
			return ge
		}
	}
	if u.att.IsInline, ge = item.boolean("isInline", false); ge != nil {
		return ge
	}
	if err := json.Unmarshal(item["size"], &u.size); err != nil || u.size <= 0 {
		return &graphError{status: 400, code: "ErrorInvalidParameter", message: "The attachment size must be a positive number."}
	}
	if u.size > MaxUploadBytes {
		return &graphError{status: 400, code: "ErrorAttachmentSizeShouldNotBeGreaterThanMaximumSize", message: "The attachment size exceeds the maximum of 150 MB."}
	}
	if u.att.Name == "" {
		return &graphError{status: 400, code: "ErrorInvalidParameter", message: "The attachment name is empty."}
	}
	u.att.ContentBytes = make([]byte, 0, u.size)
	s.mail.mu.Lock()
	s.mail.sessions[u.id] = u
	s.mail.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":     s.graph.url + "/v1.0/$metadata#microsoft.graph.uploadSession",
		"uploadUrl":          s.graph.url + uploadPrefix + u.id + "?authtoken=" + u.token,
		"expirationDateTime": u.expires.UTC().Format(time.RFC3339Nano),
		"nextExpectedRanges": []string{"0-"},
	})
	return nil
}

// serveUpload answers the upload URL: GET reports the session's state, PUT
// takes the next chunk with Content-Range "bytes start-end/size".
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, gr graphRequest) {
	fail := func(e graphError) { s.writeGraphError(w, r, gr, e) }
	sid := strings.TrimPrefix(r.URL.Path, uploadPrefix)
	s.mail.mu.Lock()
	u := s.mail.sessions[sid]
	s.mail.mu.Unlock()
	switch {
	case u == nil:
		fail(*itemNotFound())
		return
	case r.URL.Query().Get("authtoken") != u.token:
		fail(graphError{status: 401, code: "InvalidAuthenticationToken", message: "The upload session token is missing or invalid."})
		return
	case r.Header.Get("Authorization") != "":
		fail(graphError{status: 401, code: "InvalidAuthenticationToken", message: "The upload URL is pre-authenticated; the request must not carry an Authorization header."})
		return
	case r.Method == http.MethodGet:
		s.mail.mu.Lock()
		next := u.next
		s.mail.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"expirationDateTime": u.expires.UTC().Format(time.RFC3339Nano), "nextExpectedRanges": []string{fmt.Sprintf("%d-", next)}})
		return
	case r.Method != http.MethodPut:
		fail(graphError{status: 405, code: "BadRequest", message: fmt.Sprintf("The HTTP method '%s' is not supported for an upload session.", r.Method)})
		return
	case r.Header.Get("Content-Encoding") != "" && !strings.EqualFold(r.Header.Get("Content-Encoding"), "identity"):
		fail(graphError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType", message: "graphmailtest: upload chunks must not be compressed."})
		return
	}
	release, ok := s.mail.enter(u.mailbox)
	if !ok {
		w.Header().Set("Retry-After", "1")
		fail(graphError{status: http.StatusTooManyRequests, code: "ApplicationThrottled", message: "Application is over its MailboxConcurrency limit."})
		return
	}
	defer release()
	s.mail.hold(r)
	start, end, total, ok := parseContentRange(r.Header.Get("Content-Range"))
	n := end - start + 1
	switch {
	case !ok:
		fail(graphError{status: 400, code: "InvalidContentRange", message: "The Content-Range header is missing or invalid; write it as 'bytes start-end/size'."})
		return
	case total != u.size:
		fail(graphError{status: 400, code: "InvalidContentRange", message: fmt.Sprintf("The Content-Range size %d does not match the attachment size %d.", total, u.size)})
		return
	case n > MaxChunkBytes:
		fail(graphError{status: http.StatusRequestEntityTooLarge, code: "RequestEntityTooLarge", message: "A chunk may carry at most 4 MB."})
		return
	case n%ChunkMultiple != 0 && end != total-1:
		fail(graphError{status: 400, code: "InvalidChunkSize", message: "Every chunk but the last must be a multiple of 320 KiB (327,680 bytes)."})
		return
	case r.ContentLength != n:
		fail(graphError{status: 400, code: "InvalidContentRange", message: fmt.Sprintf("Content-Length %d does not match the Content-Range length %d.", r.ContentLength, n)})
		return
	}
	chunk := make([]byte, n)
	if _, err := io.ReadFull(r.Body, chunk); err != nil {
		fail(graphError{status: 400, code: "BadRequest", message: "The chunk could not be read: " + err.Error()})
		return
	}
	f := s.takeFailure(EndpointUpload)
	if f != nil && f.Drop {
		chunk = chunk[:n/2]
	}
	s.mail.mu.Lock()
	if start != u.next {
		next := u.next
		s.mail.mu.Unlock()
		writeJSON(w, http.StatusRequestedRangeNotSatisfiable, map[string]any{"error": map[string]any{
			"code": "InvalidRange", "message": fmt.Sprintf("The range starts at %d but %d is expected.", start, next)},
			"nextExpectedRanges": []string{fmt.Sprintf("%d-", next)}})
		return
	}
	if f == nil || f.Drop {
		u.att.ContentBytes = append(u.att.ContentBytes, chunk...)
		u.next += int64(len(chunk))
	}
	next, complete := u.next, u.next == u.size
	if complete {
		delete(s.mail.sessions, u.id)
		if d := s.mail.drafts[u.draftID]; d != nil {
			d.msg.Attachments = append(d.msg.Attachments, u.att)
		}
	}
	s.mail.mu.Unlock()
	switch {
	case f != nil:
		s.serveFailure(w, r, gr, f)
	case complete:
		w.Header().Set("Location", s.graph.url+"/v1.0/users('"+u.mailbox+"')/messages('"+u.draftID+"')/attachments('AAMkAGAtt"+u.id+"')")
		w.WriteHeader(http.StatusCreated)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"expirationDateTime": u.expires.UTC().Format(time.RFC3339Nano), "nextExpectedRanges": []string{strconv.FormatInt(next, 10)}})
	}
}

// parseContentRange reads "bytes start-end/total".
func parseContentRange(v string) (start, end, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	a, b, found2 := strings.Cut(rng, "-")
	if !found || !found2 {
		return 0, 0, 0, false
	}
	var err1, err2, err3 error
	start, err1 = strconv.ParseInt(a, 10, 64)
	end, err2 = strconv.ParseInt(b, 10, 64)
	total, err3 = strconv.ParseInt(tot, 10, 64)
	ok = err1 == nil && err2 == nil && err3 == nil && start >= 0 && end >= start && end < total
	return start, end, total, ok
}
