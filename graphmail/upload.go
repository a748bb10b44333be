package graphmail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// UploadError is a failure on the upload session path (draft, attachments,
// send). Err is the underlying *GraphError (or *CredentialError); the draft
// has been deleted (best effort) by the time it is returned.
type UploadError struct {
	// Step is what failed, for example `creating the draft` or
	// `uploading attachment "report.zip"`.
	Step string
	// Err is the cause.
	Err error
}

// Error implements error.
func (e *UploadError) Error() string {
	return "graphmail: upload session path: " + e.Step + ": " + strings.TrimPrefix(e.Err.Error(), "graphmail: ")
}

// Unwrap returns the cause.
func (e *UploadError) Unwrap() error { return e.Err }

// sendLarge sends m through a draft: create it without attachments, attach
// the small attachments whole and upload the large ones in chunks, then
// send it. Every request carries the same client-request-id. A draft that
// could not be sent is deleted.
func (c *Client) sendLarge(ctx context.Context, m *Message) (Result, error) {
	res := Result{Path: "graph", MessageID: m.MessageID, UploadSession: true}
	if err := checkUploadable(m.Attachments); err != nil {
		return res, err
	}
	if c.api.adapter == nil {
		return res, errNoCredential
	}
	draft, err := draftJSON(m)
	if err != nil {
		return res, err
	}
	return c.sendViaDraft(ctx, res, draft, "application/json", m.Attachments, uploadsLarge)
}

// uploadsLarge says which attachments of a Message sent as a draft go
// through an upload session: those over LargeAttachmentBytes.
func uploadsLarge(a Attachment) bool { return a.Len() > LargeAttachmentBytes }

// checkUploadable fails with a *TooLargeError when an attachment is over
// what an upload session takes.
func checkUploadable(atts []Attachment) error {
	for _, a := range atts {
		if a.Len() > MaxAttachmentBytes {
			return newTooLargeError(0, 0, 0, true)
		}
	}
	return nil
}

// sendViaDraft creates a draft from body (Graph JSON, or base64 MIME as
// text/plain), adds atts to it — through an upload session when upload
// says so, else posted whole — and sends it. Every request carries the
// same client-request-id. A draft that could not be sent is deleted.
func (c *Client) sendViaDraft(ctx context.Context, res Result, body []byte, ctype string, atts []Attachment, upload func(Attachment) bool) (_ Result, err error) {
	x := newExchange()
	res.ClientRequestID = x.clientRequestID
	out, err := c.callGraph(ctx, x, c.api.request(http.MethodPost, "/messages", body, ctype), true, &res)
	if err != nil {
		return res, &UploadError{Step: "creating the draft", Err: err}
	}
	var created struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.ID == "" {
		return res, &UploadError{Step: "creating the draft", Err: fmt.Errorf("graphmail: graph answered without a message id")}
	}
	item := "/messages/" + url.PathEscape(created.ID)
	res.Bytes = len(body)
	defer func() {
		if err != nil {
			c.deleteDraft(ctx, x, item, res.MessageID)
		}
	}()

	for _, a := range atts {
		if upload(a) {
			err = c.uploadAttachment(ctx, x, item, a, &res)
		} else {
			err = c.postAttachment(ctx, x, item, a, &res)
		}
		if err != nil {
			var ue *UploadError
			if !errors.As(err, &ue) {
				err = &UploadError{Step: fmt.Sprintf("attaching %q", a.Name), Err: err}
			}
			return res, err
		}
	}
	if _, err = c.callGraph(ctx, x, c.api.request(http.MethodPost, item+"/send", nil, ""), false, &res); err != nil {
		return res, &UploadError{Step: "sending the draft", Err: err}
	}
	return res, nil
}

// deleteDraft removes a draft that will not be sent, even when ctx has been
// cancelled (with a short deadline of its own). Failures are only logged.
func (c *Client) deleteDraft(ctx context.Context, x *exchange, item, msgID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var res Result
	if _, err := c.callGraph(ctx, x, c.api.request(http.MethodDelete, item, nil, ""), false, &res); err != nil {
		c.log.Warn("could not delete the draft of a failed send", "message_id", msgID, "error", err)
		return
	}
	c.log.Info("deleted the draft of a failed send", "message_id", msgID)
}

// postAttachment attaches a small attachment to the draft in one request.
func (c *Client) postAttachment(ctx context.Context, x *exchange, item string, a Attachment, res *Result) error {
	if a.Content == nil && a.Open != nil {
		b, err := readAll(a)
		if err != nil {
			return err
		}
		a.Content = b
	}
	b, err := attachmentJSON(a)
	if err != nil {
		return err
	}
	res.Bytes += len(b)
	_, err = c.callGraph(ctx, x, c.api.request(http.MethodPost, item+"/attachments", b, "application/json"), true, res)
	return err
}

// uploadSession is Graph's answer to createUploadSession.
type uploadSession struct {
	UploadURL          string   `json:"uploadUrl"`
	NextExpectedRanges []string `json:"nextExpectedRanges"`
}

// uploadAttachment creates an upload session for a and uploads it.
func (c *Client) uploadAttachment(ctx context.Context, x *exchange, item string, a Attachment, res *Result) error {
	ctype := a.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	req := map[string]any{"AttachmentItem": map[string]any{
		"attachmentType": "file",
		"name":           a.Name,
		"size":           a.Len(),
		"contentType":    ctype,
		"isInline":       a.Inline,
	}}
	if a.ContentID != "" {
		req["AttachmentItem"].(map[string]any)["contentId"] = a.ContentID
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	out, err := c.callGraph(ctx, x, c.api.request(http.MethodPost, item+"/attachments/createUploadSession", body, "application/json"), true, res)
	if err != nil {
		return &UploadError{Step: fmt.Sprintf("creating an upload session for %q", a.Name), Err: err}
	}
	var s uploadSession
	if err := json.Unmarshal(out, &s); err != nil || s.UploadURL == "" {
		return &UploadError{Step: fmt.Sprintf("creating an upload session for %q", a.Name), Err: errors.New("graphmail: graph answered without an uploadUrl")}
	}
	if err := c.upload(ctx, x, s.UploadURL, a, res); err != nil {
		return &UploadError{Step: fmt.Sprintf("uploading %q", a.Name), Err: err}
	}
	res.Bytes += int(a.Len())
	return nil
}
