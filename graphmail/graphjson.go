package graphmail

// This file renders messages as the Graph SDK's models and their JSON, the
// way the SDK puts them on the wire.

import (
	"fmt"
	"strings"

	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// graphBody builds the SDK request body of users/{id}/sendMail for m.
// m must have been validated.
func graphBody(m *Message, saveToSentItems bool) (*users.ItemSendMailPostRequestBody, error) {
	msg := models.NewMessage()
	subject := m.Subject
	msg.SetSubject(&subject)

	body := models.NewItemBody()
	content, kind := m.Text, models.TEXT_BODYTYPE
	if m.HTML != "" {
		content, kind = m.HTML, models.HTML_BODYTYPE
	}
	body.SetContent(&content)
	body.SetContentType(&kind)
	msg.SetBody(body)

	if m.From.Address != "" {
		msg.SetFrom(recipient(m.From))
	}
	msg.SetToRecipients(recipients(m.To))
	if len(m.Cc) > 0 {
		msg.SetCcRecipients(recipients(m.Cc))
	}
	if len(m.Bcc) > 0 {
		msg.SetBccRecipients(recipients(m.Bcc))
	}
	if len(m.ReplyTo) > 0 {
		msg.SetReplyTo(recipients(m.ReplyTo))
	}
	switch m.Importance {
	case "", ImportanceNormal:
	case ImportanceLow:
		v := models.LOW_IMPORTANCE
		msg.SetImportance(&v)
	case ImportanceHigh:
		v := models.HIGH_IMPORTANCE
		msg.SetImportance(&v)
	default:
		return nil, &MessageError{Field: "importance", Problem: fmt.Sprintf("%q is not low, normal or high", m.Importance)}
	}
	if m.MessageID != "" {
		id := "<" + m.MessageID + ">"
		msg.SetInternetMessageId(&id)
	}
	if len(m.Headers) > 0 {
		hs := make([]models.InternetMessageHeaderable, 0, len(m.Headers))
		for _, h := range m.Headers {
			mh := models.NewInternetMessageHeader()
			name, value := h.Name, h.Value
			mh.SetName(&name)
			mh.SetValue(&value)
			hs = append(hs, mh)
		}
		msg.SetInternetMessageHeaders(hs)
	}
	if len(m.Attachments) > 0 {
		as := make([]models.Attachmentable, 0, len(m.Attachments))
		for _, a := range m.Attachments {
			as = append(as, fileAttachment(a))
		}
		msg.SetAttachments(as)
	}

	req := users.NewItemSendMailPostRequestBody()
	req.SetMessage(msg)
	req.SetSaveToSentItems(&saveToSentItems)
	return req, nil
}

// fileAttachment is the Graph model of an attachment whose Content is in
// memory.
func fileAttachment(a Attachment) *models.FileAttachment {
	fa := models.NewFileAttachment()
	name, ctype := a.Name, a.ContentType
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	fa.SetName(&name)
	fa.SetContentType(&ctype)
	fa.SetContentBytes(a.Content)
	if a.Inline {
		inline := true
		fa.SetIsInline(&inline)
	}
	if a.ContentID != "" {
		cid := a.ContentID
		fa.SetContentId(&cid)
	}
	return fa
}

func recipient(a Address) models.Recipientable {
	r := models.NewRecipient()
	e := models.NewEmailAddress()
	addr := a.Address
	e.SetAddress(&addr)
	if a.Name != "" {
		name := a.Name
		e.SetName(&name)
	}
	r.SetEmailAddress(e)
	return r
}

func recipients(list []Address) []models.Recipientable {
	out := make([]models.Recipientable, len(list))
	for i, a := range list {
		out[i] = recipient(a)
	}
	return out
}

// sendMailJSON is the JSON body of users/{id}/sendMail for m, whose
// attachments' content is in memory.
func sendMailJSON(m *Message, saveToSentItems bool) ([]byte, error) {
	body, err := graphBody(m, saveToSentItems)
	if err != nil {
		return nil, err
	}
	return serialize(body)
}

// draftJSON is the JSON body that creates m as a draft, without its
// attachments (the upload session path adds them one by one).
func draftJSON(m *Message) ([]byte, error) {
	body, err := graphBody(shell(m), true)
	if err != nil {
		return nil, err
	}
	msg := body.GetMessage()
	msg.SetAttachments(nil)
	return serialize(msg)
}

// attachmentJSON is the JSON body that adds a, whose content is in memory,
// to a draft.
func attachmentJSON(a Attachment) ([]byte, error) { return serialize(fileAttachment(a)) }

// probeBody is a sendMail body without recipients, for Probe.
func probeBody() *users.ItemSendMailPostRequestBody {
	msg := models.NewMessage()
	subject := "graphmail probe (no recipients; never delivered)"
	msg.SetSubject(&subject)
	body := users.NewItemSendMailPostRequestBody()
	body.SetMessage(msg)
	save := false
	body.SetSaveToSentItems(&save)
	return body
}

// serialize renders an SDK model exactly as the SDK puts it on the wire.
func serialize(p absser.Parsable) ([]byte, error) {
	w := jsonserialization.NewJsonSerializationWriter()
	defer w.Close()
	if err := w.WriteObjectValue("", p); err != nil {
		return nil, fmt.Errorf("graphmail: serializing the Graph request: %w", err)
	}
	return w.GetSerializedContent()
}

// needsMIME reports whether m cannot be expressed as a Graph JSON message
// without losing something and must go through Graph's MIME sendMail instead.
// Graph's message resource has a single body, so a message with both a text
// and an HTML body is sent as multipart/alternative MIME.
func needsMIME(m *Message) bool {
	return m.Text != "" && m.HTML != ""
}

func validHeaderName(name string) bool {
	return strings.HasPrefix(strings.ToLower(name), "x-")
}
