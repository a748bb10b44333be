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

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
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

// Hint explains the permission the path needs when Graph refused it.
func (e *UploadError) Hint() string {
	var ge *GraphError
	if errors.As(e.Err, &ge) && ge.StatusCode == http.StatusForbidden {
		return "large_messages: upload_session needs the Mail.ReadWrite application permission (with admin consent) besides Mail.Send; grant it, or unset large_messages so large messages go to the SMTP fallback"
	}
	return ""
}

// sendLarge sends m through a draft: create it without attachments, attach
// the small attachments whole and upload the large ones in chunks, then
// send it. Every request carries the same client-request-id. A draft that
// could not be sent is deleted.
func (c *Client) sendLarge(ctx context.Context, m *Message) (res Result, err error) {
	res = Result{Path: "graph", MessageID: m.MessageID, UploadSession: true}
	for _, a := range m.Attachments {
		if a.Len() > MaxAttachmentBytes {
			return res, newTooLargeError(0, 0, 0, true)
		}
	}
	if c.adapter == nil {
		return res, errors.New("graphmail: no Graph credential configured")
	}
	x := &exchange{clientRequestID: uuid.NewString()}
	res.ClientRequestID = x.clientRequestID
	messages := c.mailboxPath() + "/messages"

	body, err := graphBody(shell(m), true)
	if err != nil {
		return res, err
	}
	msg := body.GetMessage()
	msg.SetAttachments(nil)
	draftJSON, err := serializeParsable(msg)
	if err != nil {
		return res, err
	}
	out, err := c.callGraph(ctx, x, c.jsonRequest(abs.POST, messages, draftJSON), true, &res)
	if err != nil {
		return res, &UploadError{Step: "creating the draft", Err: err}
	}
	var draft struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &draft); err != nil || draft.ID == "" {
		return res, &UploadError{Step: "creating the draft", Err: fmt.Errorf("graphmail: graph answered without a message id")}
	}
	item := messages + "/" + url.PathEscape(draft.ID)
	res.Bytes = len(draftJSON)
	defer func() {
		if err != nil {
			c.deleteDraft(ctx, x, item, m.MessageID)
		}
	}()

	for _, a := range m.Attachments {
		if a.Len() > LargeAttachmentBytes {
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
	if _, err = c.callGraph(ctx, x, c.jsonRequest(abs.POST, item+"/send", nil), false, &res); err != nil {
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
	if _, err := c.callGraph(ctx, x, c.jsonRequest(abs.DELETE, item, nil), false, &res); err != nil {
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
	b, err := serializeParsable(fileAttachment(a))
	if err != nil {
		return err
	}
	res.Bytes += len(b)
	_, err = c.callGraph(ctx, x, c.jsonRequest(abs.POST, item+"/attachments", b), true, res)
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
	out, err := c.callGraph(ctx, x, c.jsonRequest(abs.POST, item+"/attachments/createUploadSession", body), true, res)
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

// jsonRequest builds a Graph request with an optional JSON body; path is
// relative to the versioned base URL.
func (c *Client) jsonRequest(method abs.HttpMethod, path string, body []byte) *abs.RequestInformation {
	ri := abs.NewRequestInformation()
	ri.Method = method
	u, _ := url.Parse(c.base + path)
	ri.SetUri(*u)
	ri.Headers.TryAdd("Accept", "application/json")
	if body != nil {
		ri.SetStreamContentAndContentType(body, "application/json")
	}
	return ri
}

// serializeParsable renders an SDK model as the SDK puts it on the wire.
func serializeParsable(p absser.Parsable) ([]byte, error) {
	w := jsonserialization.NewJsonSerializationWriter()
	defer w.Close()
	if err := w.WriteObjectValue("", p); err != nil {
		return nil, fmt.Errorf("graphmail: serializing the Graph request: %w", err)
	}
	return w.GetSerializedContent()
}
