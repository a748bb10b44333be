package graphmail

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// chunkUnit is the unit of upload session chunks: every chunk but the last
// is a multiple of 320 KiB.
const chunkUnit = 320 << 10

// defaultChunkSize is the largest multiple of chunkUnit within the 4 MB an
// upload session PUT may carry (3.75 MiB). One chunk buffer is all the
// memory an upload holds.
const defaultChunkSize = 12 * chunkUnit

// upload PUTs a's content to an upload session's URL in chunks, reading
// one chunk at a time. The URL carries its own credential, so the requests
// go out without Authorization (and without the SDK's middleware, which
// would gzip them). After a failed chunk (no answer, 5xx, 429, 416) it asks
// the session which bytes it still expects and resumes from there. It gives
// up after Retry.MaxAttempts failures in a row.
func (c *Client) upload(ctx context.Context, x *exchange, uploadURL string, a Attachment, res *Result) error {
	total := a.Len()
	src := &chunkSource{a: a}
	defer src.Close()
	buf := make([]byte, min(int64(defaultChunkSize), total))
	maxFail, base := c.retry.MaxAttempts, c.retry.BaseDelay
	var next int64
	for fails := 0; ; {
		n := min(int64(len(buf)), total-next)
		if err := src.ReadAt(buf[:n], next); err != nil {
			return err
		}
		res.Attempts++
		done, ranges, ge := c.putChunk(ctx, x, uploadURL, buf[:n], next, total)
		if ge == nil {
			if done {
				c.reportProgress(a.Name, total, total)
				return nil
			}
			if nx, ok := parseNextExpected(ranges); ok && nx > next {
				next, fails = nx, 0
				c.reportProgress(a.Name, next, total)
				continue
			}
			ge = &GraphError{StatusCode: http.StatusOK, Message: "the upload session made no progress", ClientRequestID: x.clientRequestID}
		}
		fails++
		ge.Attempts = fails
		if ctx.Err() != nil {
			return &GraphError{Err: ctx.Err(), Attempts: fails, ClientRequestID: x.clientRequestID}
		}
		if (!ge.Temporary() && ge.StatusCode != http.StatusRequestedRangeNotSatisfiable && ge.StatusCode != http.StatusOK) || fails >= maxFail {
			return ge
		}
		wait := backoff(base, fails)
		if ge.RetryAfter > 0 {
			wait = ge.RetryAfter
		}
		c.log.Info("upload chunk failed, resuming", "status", ge.StatusCode, "offset", next, "wait", wait.String(), "client_request_id", x.clientRequestID)
		if err := c.sleep(ctx, wait); err != nil {
			return &GraphError{Err: err, Attempts: fails, ClientRequestID: x.clientRequestID}
		}
		if nx, ok := c.sessionStatus(ctx, x, uploadURL); ok {
			next = nx
		}
	}
}

func (c *Client) reportProgress(name string, sent, total int64) {
	if c.progress != nil {
		c.progress(name, sent, total)
	}
}

// putChunk sends bytes [off, off+len(p)) of total. done reports the final
// 201 (or 200 without further ranges).
func (c *Client) putChunk(ctx context.Context, x *exchange, uploadURL string, p []byte, off, total int64) (done bool, ranges []string, ge *GraphError) {
	release, err := c.gov.acquire(ctx, c.mailbox)
	if err != nil {
		return false, nil, &GraphError{Err: err, ClientRequestID: x.clientRequestID}
	}
	defer release()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, uploadURL, bytes.NewReader(p))
	if err != nil {
		return false, nil, &GraphError{StatusCode: http.StatusBadRequest, Message: "bad uploadUrl: " + err.Error()}
	}
	req.ContentLength = int64(len(p))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", off, off+int64(len(p))-1, total))
	req.Header.Set("client-request-id", x.clientRequestID)
	resp, err := c.raw.Do(req)
	if err != nil {
		return false, nil, &GraphError{Err: err, ClientRequestID: x.clientRequestID}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusCreated:
		return true, nil, nil
	case resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusAccepted:
		var s uploadSession
		_ = json.Unmarshal(body, &s)
		return len(s.NextExpectedRanges) == 0, s.NextExpectedRanges, nil
	}
	return false, nil, uploadError(resp, body, x, c)
}

// sessionStatus asks the upload session which bytes it expects next.
func (c *Client) sessionStatus(ctx context.Context, x *exchange, uploadURL string) (int64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uploadURL, nil)
	if err != nil {
		return 0, false
	}
	req.Header.Set("client-request-id", x.clientRequestID)
	resp, err := c.raw.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var s uploadSession
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&s) != nil {
		return 0, false
	}
	return parseNextExpected(s.NextExpectedRanges)
}

// uploadError reads an error answer of the upload URL.
func uploadError(resp *http.Response, body []byte, x *exchange, c *Client) *GraphError {
	ge := &GraphError{StatusCode: resp.StatusCode, RequestID: resp.Header.Get("request-id"), ClientRequestID: x.clientRequestID,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), c.now())}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil {
		ge.Code, ge.Message = e.Error.Code, e.Error.Message
	}
	return ge
}

// parseNextExpected reads the start of the first range of
// nextExpectedRanges: "2097152", "2097152-" or "2097152-4194303".
func parseNextExpected(ranges []string) (int64, bool) {
	if len(ranges) == 0 {
		return 0, false
	}
	start, _, _ := strings.Cut(ranges[0], "-")
	n, err := strconv.ParseInt(strings.TrimSpace(start), 10, 64)
	return n, err == nil && n >= 0
}

// chunkSource reads an attachment at increasing offsets, reopening (or
// seeking) it to go back after a failed chunk.
type chunkSource struct {
	a   Attachment
	rc  io.ReadCloser
	pos int64
}

// ReadAt fills p with the content at off.
func (s *chunkSource) ReadAt(p []byte, off int64) error {
	if s.a.Content != nil || s.a.Open == nil {
		if off+int64(len(p)) > int64(len(s.a.Content)) {
			return fmt.Errorf("graphmail: attachment %q: offset %d beyond its content", s.a.Name, off)
		}
		copy(p, s.a.Content[off:])
		return nil
	}
	if s.rc != nil && off < s.pos {
		if sk, ok := s.rc.(io.Seeker); ok {
			if _, err := sk.Seek(off, io.SeekStart); err == nil {
				s.pos = off
			}
		}
		if off < s.pos {
			s.Close()
		}
	}
	if s.rc == nil {
		rc, err := s.a.Open()
		if err != nil {
			return fmt.Errorf("graphmail: attachment %q: %w", s.a.Name, err)
		}
		s.rc, s.pos = rc, 0
	}
	if off > s.pos {
		if _, err := io.CopyN(io.Discard, s.rc, off-s.pos); err != nil {
			return fmt.Errorf("graphmail: attachment %q: %w", s.a.Name, err)
		}
		s.pos = off
	}
	n, err := io.ReadFull(s.rc, p)
	s.pos += int64(n)
	if err != nil {
		return fmt.Errorf("graphmail: attachment %q: reading at %d: %w (the file is shorter than its size %d)", s.a.Name, off, err, s.a.Size)
	}
	return nil
}

// Close closes the open reader, if any.
func (s *chunkSource) Close() {
	if s.rc != nil {
		_ = s.rc.Close()
		s.rc = nil
	}
}
