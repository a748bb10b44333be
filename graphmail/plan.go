package graphmail

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
)

// PlanPath is the way a planned message travels.
type PlanPath string

// The paths of a Plan.
const (
	// PlanGraphJSON is one sendMail request with the message as Graph JSON.
	PlanGraphJSON PlanPath = "graph-json"
	// PlanGraphMIME is one sendMail request with the base64 of the MIME
	// message (a message with both a text and an HTML body, or one sent
	// with SendMIME).
	PlanGraphMIME PlanPath = "graph-mime"
	// PlanUploadSession creates a draft, attaches the small attachments,
	// uploads the large ones in chunks through upload sessions, and sends
	// the draft (Config.LargeMessages is LargeUploadSession).
	PlanUploadSession PlanPath = "upload-session"
	// PlanSMTP hands the message to the fallback: with PolicyOnly, or
	// when it is too large for one Graph request and no upload session
	// carries it.
	PlanSMTP PlanPath = "smtp"
)

// Plan is what Send or SendMIME would do with a message, worked out by the
// same decision (policy × size × Config.LargeMessages) without contacting
// anyone: for a dry run.
type Plan struct {
	// Path is the way the message goes.
	Path PlanPath
	// MessageID is the Message-ID the message is sent with.
	MessageID string
	// Mailbox is the Graph URL of the sending mailbox:
	// {endpoint}/v1.0/users/{sender}, or {endpoint}/v1.0/me for the
	// signed-in user of a delegated token (Config.UseMe).
	Mailbox string
	// Requests are the Graph requests in order (none on PlanSMTP).
	Requests []PlannedRequest
	// RequestBytes is the size of the sendMail request that would carry
	// the message whole: exact on PlanGraphJSON and PlanGraphMIME,
	// computed without the content on the other paths (0 with PolicyOnly).
	RequestBytes int64
	// FallbackReason says why the fallback takes the message on PlanSMTP
	// ("" with PolicyOnly).
	FallbackReason string
	// FallbackOnFailure reports that a Graph failure another path may not
	// share (Graph unreachable, 5xx, throttling, the size) hands the
	// message to the fallback.
	FallbackOnFailure bool
	// MailFrom and RcptTo are the SMTP envelope, on PlanSMTP and when
	// FallbackOnFailure: the sending mailbox and every recipient, Bcc
	// included.
	MailFrom string
	RcptTo   []string
	// MIMEBytes is the size of the message as MIME for SMTP, as Send
	// reckons it against Config.MaxFallbackBytes (attachments counted as
	// base64 lines, not rendered: within a few bytes of the real size).
	MIMEBytes int64
	// Attachments summarise the attachments of a Message, and the parts
	// cut from a raw message on PlanUploadSession.
	Attachments []PlannedAttachment
	// Body is the body of the first request (the sendMail request, or the
	// one creating the draft) or on PlanSMTP the MIME message. With
	// PlanOptions.Full it is exactly what would be sent; otherwise the
	// attachments' content is left out (Graph JSON without contentBytes,
	// MIME with empty attachment parts), a raw message's body too, and a
	// MIME body is shown decoded rather than as base64.
	Body []byte
	// BodyType is the content type of Body.
	BodyType string
}

// PlannedRequest is one Graph request of a Plan.
type PlannedRequest struct {
	// Method and URL are the request line; an upload session's PUTs go to
	// the uploadUrl Graph returns, shown as "{uploadUrl}".
	Method, URL string
	// ContentType is the body's type, "" for none.
	ContentType string
	// Bytes is the body's size (for a chunked upload, the whole
	// attachment's).
	Bytes int64
	// Chunks is the number of PUTs of an upload, 0 otherwise.
	Chunks int
	// What says what the request does.
	What string
}

// PlannedAttachment summarises one attachment of a Plan.
type PlannedAttachment struct {
	Name, ContentType string
	Size              int64
	// SHA256 is the hex SHA-256 of the content.
	SHA256 string
	// Inline and ContentID are those of the Attachment.
	Inline    bool
	ContentID string
	// Upload reports that it goes through an upload session.
	Upload bool
}

// PlanOptions adjust Plan.
type PlanOptions struct {
	// Full puts the exact request body in Plan.Body, attachments included.
	Full bool
}

// Plan validates m as Send does, fills in its Message-ID and Date, and
// returns how Send would deliver it. A message no path can carry fails
// with the *TooLargeError Send would return.
func (c *Client) Plan(m *Message, opts PlanOptions) (*Plan, error) {
	if err := c.prepare(m); err != nil {
		return nil, err
	}
	return c.plan(&outgoing{id: m.MessageID, rcpts: addresses(m.Recipients()), msg: m}, opts)
}

// PlanMIME returns how SendMIME would deliver raw with extra recipients.
func (c *Client) PlanMIME(raw []byte, extra []Address, opts PlanOptions) (*Plan, error) {
	o, err := prepareMIME(raw, extra)
	if err != nil {
		return nil, err
	}
	return c.plan(o, opts)
}

func (c *Client) plan(o *outgoing, opts PlanOptions) (*Plan, error) {
	p := &Plan{MessageID: o.id, Mailbox: c.api.base + c.api.mailbox, MailFrom: c.sender, RcptTo: o.rcpts}
	var err error
	if c.policy != PolicyOnly {
		if p.RequestBytes, err = c.requestSize(o); err != nil {
			return nil, err
		}
	}
	if p.MIMEBytes, err = c.mimeSize(o); err != nil {
		return nil, err
	}
	p.FallbackOnFailure = c.policy == PolicyAuto && c.fallback != nil
	kind, cut, err := c.pick(o, p.RequestBytes)
	if err != nil {
		return nil, err
	}
	var atts []Attachment
	if o.msg != nil {
		atts = o.msg.Attachments
	}
	upload := func(Attachment) bool { return false }
	switch kind {
	case routeFallback:
		err = c.planSMTP(p, o, opts)
	case routeTooLarge:
		if p.FallbackReason, err = c.tooLarge(o, p.RequestBytes); err == nil {
			err = c.planSMTP(p, o, opts)
		}
	case routeGraph:
		err = c.planGraph(p, o, opts)
	case routeDraft:
		upload = uploadsLarge
		if err = checkUploadable(atts); err == nil {
			err = c.planDraft(p, o, nil, atts, upload, opts)
		}
	case routeDraftMIME:
		atts, upload = cut.atts, uploadsCut
		if err = checkUploadable(atts); err == nil {
			err = c.planDraft(p, o, cut.draft, atts, upload, opts)
		}
	}
	if err != nil {
		return nil, err
	}
	if kind == routeFallback {
		p.RequestBytes = 0
	}
	for _, a := range atts {
		pa, err := summarize(a)
		if err != nil {
			return nil, err
		}
		pa.Upload = p.Path == PlanUploadSession && upload(a)
		p.Attachments = append(p.Attachments, pa)
	}
	return p, nil
}

// planSMTP fills in the fallback's part: the MIME message without Bcc.
func (c *Client) planSMTP(p *Plan, o *outgoing, opts PlanOptions) error {
	p.Path, p.BodyType = PlanSMTP, "message/rfc822"
	p.FallbackOnFailure = false
	switch {
	case o.msg != nil && opts.Full:
		m, err := materialize(o.msg)
		if err != nil {
			return err
		}
		p.Body, err = c.render(m, false)
		return err
	case o.msg != nil:
		var err error
		p.Body, err = c.render(shell(o.msg), false)
		return err
	case opts.Full:
		var err error
		p.Body, err = o.whole(o.raw)
		return err
	}
	p.Body = headerOf(o.raw)
	return nil
}

// planGraph fills in one sendMail request, as sendGraph makes it.
func (c *Client) planGraph(p *Plan, o *outgoing, opts PlanOptions) error {
	req := PlannedRequest{Method: http.MethodPost, URL: p.Mailbox + "/sendMail", What: "send the message"}
	var mimeMsg []byte // the MIME message, for PlanGraphMIME
	switch {
	case o.msg == nil:
		b, err := o.whole(o.graph)
		if err != nil {
			return err
		}
		mimeMsg = b
		p.Body = headerOf(b)
	case needsMIME(o.msg):
		m, err := materialize(o.msg)
		if err != nil {
			return err
		}
		if mimeMsg, err = c.render(m, true); err != nil {
			return err
		}
		if p.Body, err = c.render(shell(o.msg), true); err != nil {
			return err
		}
	default:
		m, err := materialize(o.msg)
		if err != nil {
			return err
		}
		body, err := sendMailJSON(m, c.saveSent)
		if err != nil {
			return err
		}
		p.Path, p.BodyType, p.RequestBytes = PlanGraphJSON, "application/json", int64(len(body))
		req.ContentType, req.Bytes = "application/json", int64(len(body))
		if opts.Full {
			p.Body = body
		} else if p.Body, err = sendMailJSON(shell(o.msg), c.saveSent); err != nil {
			return err
		}
		p.Requests = []PlannedRequest{req}
		return nil
	}
	p.Path, p.BodyType = PlanGraphMIME, "message/rfc822"
	p.RequestBytes = base64Len(int64(len(mimeMsg)))
	req.ContentType, req.Bytes = "text/plain", p.RequestBytes
	if opts.Full {
		p.Body, p.BodyType = []byte(base64.StdEncoding.EncodeToString(mimeMsg)), "text/plain"
	}
	p.Requests = []PlannedRequest{req}
	return nil
}

// planDraft fills in the upload session path's requests, as sendViaDraft
// makes them: the draft, each attachment (posted whole or uploaded in
// chunks), then sending the draft. draftMIME is the draft of a raw
// message (nil for a Message).
func (c *Client) planDraft(p *Plan, o *outgoing, draftMIME []byte, atts []Attachment, upload func(Attachment) bool, opts PlanOptions) error {
	p.Path = PlanUploadSession
	var body []byte
	if o.msg != nil {
		var err error
		if body, err = draftJSON(o.msg); err != nil {
			return err
		}
		p.Body, p.BodyType = body, "application/json"
	} else {
		body = []byte(base64.StdEncoding.EncodeToString(draftMIME))
		p.Body, p.BodyType = headerOf(draftMIME), "message/rfc822"
		if opts.Full {
			p.Body, p.BodyType = body, "text/plain"
		}
	}
	ctype := "application/json"
	if o.msg == nil {
		ctype = "text/plain"
	}
	draft := p.Mailbox + "/messages/{id}"
	p.Requests = append(p.Requests, PlannedRequest{Method: http.MethodPost, URL: p.Mailbox + "/messages", ContentType: ctype, Bytes: int64(len(body)), What: "create the draft"})
	for _, a := range atts {
		if upload(a) {
			p.Requests = append(p.Requests,
				PlannedRequest{Method: http.MethodPost, URL: draft + "/attachments/createUploadSession", ContentType: "application/json", What: fmt.Sprintf("open an upload session for %q", a.Name)},
				PlannedRequest{Method: http.MethodPut, URL: "{uploadUrl}", ContentType: "application/octet-stream", Bytes: a.Len(), Chunks: int((a.Len() + defaultChunkSize - 1) / defaultChunkSize), What: fmt.Sprintf("upload %q", a.Name)})
			continue
		}
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
		p.Requests = append(p.Requests, PlannedRequest{Method: http.MethodPost, URL: draft + "/attachments", ContentType: "application/json", Bytes: int64(len(b)), What: fmt.Sprintf("attach %q", a.Name)})
	}
	p.Requests = append(p.Requests, PlannedRequest{Method: http.MethodPost, URL: draft + "/send", What: "send the draft"})
	return nil
}

// summarize reads a's content once for its SHA-256.
func summarize(a Attachment) (PlannedAttachment, error) {
	pa := PlannedAttachment{Name: a.Name, ContentType: a.ContentType, Size: a.Len(), Inline: a.Inline, ContentID: a.ContentID}
	if pa.ContentType == "" {
		pa.ContentType = "application/octet-stream"
	}
	h := sha256.New()
	if a.Content != nil || a.Open == nil {
		h.Write(a.Content)
	} else {
		rc, err := a.Open()
		if err != nil {
			return pa, fmt.Errorf("graphmail: attachment %q: %w", a.Name, err)
		}
		_, err = io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return pa, fmt.Errorf("graphmail: attachment %q: %w", a.Name, err)
		}
	}
	pa.SHA256 = hex.EncodeToString(h.Sum(nil))
	return pa, nil
}

// headerOf returns the header section of a raw message, with the empty
// line that ends it.
func headerOf(raw []byte) []byte {
	for i := 0; i < len(raw); {
		j := i
		for j < len(raw) && raw[j] != '\n' {
			j++
		}
		line := raw[i:j]
		if len(line) == 0 || len(line) == 1 && line[0] == '\r' {
			return raw[:min(j+1, len(raw))]
		}
		i = j + 1
	}
	return raw
}
