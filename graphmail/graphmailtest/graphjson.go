package graphmailtest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
)

// GraphMessage is the part of a Graph message resource that sendMail
// honours, as the fake parsed it. Other message properties Graph defines
// (categories, flag, isReadReceiptRequested, …) are accepted and ignored;
// properties Graph does not define are refused.
type GraphMessage struct {
	Subject                string                  `json:"subject,omitempty"`
	Body                   *ItemBody               `json:"body,omitempty"`
	From                   *Recipient              `json:"from,omitempty"`
	Sender                 *Recipient              `json:"sender,omitempty"`
	ToRecipients           []Recipient             `json:"toRecipients,omitempty"`
	CcRecipients           []Recipient             `json:"ccRecipients,omitempty"`
	BccRecipients          []Recipient             `json:"bccRecipients,omitempty"`
	ReplyTo                []Recipient             `json:"replyTo,omitempty"`
	Importance             string                  `json:"importance,omitempty"` // "low", "normal" or "high", lower-cased
	InternetMessageID      string                  `json:"internetMessageId,omitempty"`
	InternetMessageHeaders []InternetMessageHeader `json:"internetMessageHeaders,omitempty"`
	Attachments            []FileAttachment        `json:"attachments,omitempty"`
}

// ItemBody is a message body.
type ItemBody struct {
	ContentType string `json:"contentType"` // "text" or "html", lower-cased
	Content     string `json:"content"`
}

// Recipient is a recipient or sender.
type Recipient struct {
	EmailAddress EmailAddress `json:"emailAddress"`
}

// EmailAddress is a recipient's address and display name.
type EmailAddress struct {
	Name    string `json:"name,omitempty"`
	Address string `json:"address"`
}

// InternetMessageHeader is a custom header (its name starts with "x-").
type InternetMessageHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// FileAttachment is a #microsoft.graph.fileAttachment.
type FileAttachment struct {
	Name         string `json:"name"`
	ContentType  string `json:"contentType,omitempty"`
	ContentBytes []byte `json:"contentBytes"`
	IsInline     bool   `json:"isInline,omitempty"`
	ContentID    string `json:"contentId,omitempty"`
}

// sendMailRequest is a parsed JSON sendMail body.
type sendMailRequest struct {
	Message         *GraphMessage
	SaveToSentItems bool
}

// Property names (lower-cased) each type accepts. Values of properties
// not decoded below are accepted without further checks.
var (
	messageProps    = props("bccRecipients body bodyPreview categories ccRecipients changeKey conversationId conversationIndex createdDateTime flag from hasAttachments id importance inferenceClassification internetMessageHeaders internetMessageId isDeliveryReceiptRequested isDraft isRead isReadReceiptRequested lastModifiedDateTime parentFolderId receivedDateTime replyTo sender sentDateTime subject toRecipients uniqueBody webLink attachments extensions multiValueExtendedProperties singleValueExtendedProperties mentions")
	itemBodyProps   = props("content contentType")
	recipientProps  = props("emailAddress")
	emailProps      = props("address name")
	headerProps     = props("name value")
	attachmentProps = props("contentType id isInline lastModifiedDateTime name size contentBytes contentId contentLocation")
)

func props(list string) map[string]bool {
	m := map[string]bool{}
	for _, p := range strings.Fields(list) {
		m[strings.ToLower(p)] = true
	}
	return m
}

// object is a JSON object with keys looked up without regard to case.
type object map[string]json.RawMessage

// decodeObject decodes raw as an object of the OData type typ, refusing
// properties not in allowed. Instance annotations ("@odata.type",
// "x@odata.y") are kept under their lower-cased names.
func decodeObject(raw json.RawMessage, typ string, allowed map[string]bool) (object, *graphError) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return nil, bodyReadError("An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", jsonNodeKind(raw))
	}
	o := object{}
	for k, v := range m {
		lk := strings.ToLower(k)
		if !strings.Contains(k, "@") && !allowed[lk] {
			return nil, bodyReadError("The property '%s' does not exist on type '%s'. Make sure to only use property names that are defined by the type or mark the type as open type.", k, typ)
		}
		o[lk] = v
	}
	return o, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(bytes.TrimSpace(raw)) == "null"
}

func (o object) str(key string) (string, *graphError) {
	raw, ok := o[strings.ToLower(key)]
	if !ok || isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", bodyReadError("Cannot convert a primitive value to the expected type 'Edm.String'. See the inner exception for more details.")
	}
	return s, nil
}

func (o object) boolean(key string, def bool) (bool, *graphError) {
	raw, ok := o[strings.ToLower(key)]
	if !ok || isNull(raw) {
		return def, nil
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		return false, bodyReadError("Cannot convert a primitive value to the expected type 'Edm.Boolean'. See the inner exception for more details.")
	}
	return b, nil
}

func (o object) array(key string) ([]json.RawMessage, *graphError) {
	raw, ok := o[strings.ToLower(key)]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var a []json.RawMessage
	if err := json.Unmarshal(raw, &a); err != nil {
		return nil, bodyReadError("An unexpected '%s' node was found when reading from the JSON reader. A 'StartArray' node was expected.", jsonNodeKind(raw))
	}
	return a, nil
}

func jsonNodeKind(raw json.RawMessage) string {
	t := bytes.TrimSpace(raw)
	switch {
	case len(t) == 0:
		return "EndOfInput"
	case t[0] == '{':
		return "StartObject"
	case t[0] == '[':
		return "StartArray"
	}
	return "PrimitiveValue"
}

func bodyReadError(format string, args ...any) *graphError {
	return &graphError{status: http.StatusBadRequest, code: "RequestBodyRead", message: fmt.Sprintf(format, args...)}
}

func invalidRecipient(addr string) *graphError {
	return &graphError{status: http.StatusBadRequest, code: "ErrorInvalidRecipients",
		message: fmt.Sprintf("At least one recipient is not valid., Recipient '%s' is not resolved. All recipients must be resolved before a message can be submitted.", addr)}
}

// decodeSendMail parses and validates a JSON sendMail body the way Graph
// does. The top-level parameter names are matched without regard to case
// ("Message" from the Go SDK and "message" are both fine).
func decodeSendMail(body []byte) (*sendMailRequest, *graphError) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &graphError{status: 400, code: "BadRequest", message: "Empty Payload. JSON content expected."}
	}
	if !json.Valid(body) {
		return nil, bodyReadError("Invalid JSON. A token was not recognized in the JSON content.")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, bodyReadError("An unexpected '%s' node was found when reading from the JSON reader. A 'StartObject' node was expected.", jsonNodeKind(body))
	}
	req := &sendMailRequest{SaveToSentItems: true}
	var msgRaw json.RawMessage
	for k, v := range top {
		switch strings.ToLower(k) {
		case "message":
			msgRaw = v
		case "savetosentitems":
			b, e := object{"s": v}.boolean("s", true)
			if e != nil {
				return nil, e
			}
			req.SaveToSentItems = b
		default:
			if strings.Contains(k, "@") {
				continue
			}
			return nil, bodyReadError("The parameter '%s' in the request payload is not a valid parameter for the operation 'sendMail'.", k)
		}
	}
	if isNull(msgRaw) {
		return nil, &graphError{status: 400, code: "ErrorInvalidParameter", message: "The value of the parameter 'Message' is empty."}
	}
	m, e := decodeMessage(msgRaw)
	if e != nil {
		return nil, e
	}
	req.Message = m
	return req, nil
}

func decodeMessage(raw json.RawMessage) (*GraphMessage, *graphError) {
	o, e := decodeObject(raw, "microsoft.graph.message", messageProps)
	if e != nil {
		return nil, e
	}
	if t, _ := o.str("@odata.type"); t != "" && !strings.EqualFold(strings.TrimPrefix(t, "#"), "microsoft.graph.message") {
		return nil, bodyReadError("A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", t)
	}
	m := &GraphMessage{}
	if m.Subject, e = o.str("subject"); e != nil {
		return nil, e
	}
	if m.InternetMessageID, e = o.str("internetMessageId"); e != nil {
		return nil, e
	}
	imp, e := o.str("importance")
	if e != nil {
		return nil, e
	}
	switch imp = strings.ToLower(imp); imp {
	case "", "low", "normal", "high":
		m.Importance = imp
	default:
		return nil, bodyReadError("Cannot convert the literal '%s' to the expected type 'microsoft.graph.importance'.", imp)
	}
	if raw, ok := o["body"]; ok && !isNull(raw) {
		if m.Body, e = decodeItemBody(raw); e != nil {
			return nil, e
		}
	}
	for _, f := range []struct {
		key string
		dst **Recipient
	}{{"from", &m.From}, {"sender", &m.Sender}} {
		if raw, ok := o[f.key]; ok && !isNull(raw) {
			r, e := decodeRecipient(raw)
			if e != nil {
				return nil, e
			}
			*f.dst = &r
		}
	}
	for _, f := range []struct {
		key string
		dst *[]Recipient
	}{{"torecipients", &m.ToRecipients}, {"ccrecipients", &m.CcRecipients}, {"bccrecipients", &m.BccRecipients}, {"replyto", &m.ReplyTo}} {
		list, e := o.array(f.key)
		if e != nil {
			return nil, e
		}
		for _, raw := range list {
			r, e := decodeRecipient(raw)
			if e != nil {
				return nil, e
			}
			*f.dst = append(*f.dst, r)
		}
	}
	if len(m.ToRecipients)+len(m.CcRecipients)+len(m.BccRecipients) == 0 {
		return nil, &graphError{status: 400, code: "ErrorInvalidRecipients",
			message: "At least one recipient is not valid., A message can't be sent because it contains no recipients."}
	}
	headers, e := o.array("internetMessageHeaders")
	if e != nil {
		return nil, e
	}
	for _, raw := range headers {
		h, e := decodeHeader(raw)
		if e != nil {
			return nil, e
		}
		m.InternetMessageHeaders = append(m.InternetMessageHeaders, h)
	}
	if len(m.InternetMessageHeaders) > 5 {
		return nil, &graphError{status: 400, code: "InvalidInternetMessageHeaderCollection",
			message: "Maximum number of headers in one message should be less than or equal to 5."}
	}
	atts, e := o.array("attachments")
	if e != nil {
		return nil, e
	}
	for _, raw := range atts {
		a, e := decodeAttachment(raw)
		if e != nil {
			return nil, e
		}
		m.Attachments = append(m.Attachments, a)
	}
	return m, nil
}

func decodeItemBody(raw json.RawMessage) (*ItemBody, *graphError) {
	o, e := decodeObject(raw, "microsoft.graph.itemBody", itemBodyProps)
	if e != nil {
		return nil, e
	}
	b := &ItemBody{}
	if b.Content, e = o.str("content"); e != nil {
		return nil, e
	}
	ct, e := o.str("contentType")
	if e != nil {
		return nil, e
	}
	switch ct = strings.ToLower(ct); ct {
	case "":
		b.ContentType = "text"
	case "text", "html":
		b.ContentType = ct
	default:
		return nil, bodyReadError("Cannot convert the literal '%s' to the expected type 'microsoft.graph.bodyType'.", ct)
	}
	return b, nil
}

func decodeRecipient(raw json.RawMessage) (Recipient, *graphError) {
	o, e := decodeObject(raw, "microsoft.graph.recipient", recipientProps)
	if e != nil {
		return Recipient{}, e
	}
	ea, ok := o["emailaddress"]
	if !ok || isNull(ea) {
		return Recipient{}, invalidRecipient("")
	}
	eo, e := decodeObject(ea, "microsoft.graph.emailAddress", emailProps)
	if e != nil {
		return Recipient{}, e
	}
	var r Recipient
	if r.EmailAddress.Address, e = eo.str("address"); e != nil {
		return Recipient{}, e
	}
	if r.EmailAddress.Name, e = eo.str("name"); e != nil {
		return Recipient{}, e
	}
	if !validSMTPAddress(r.EmailAddress.Address) {
		return Recipient{}, invalidRecipient(r.EmailAddress.Address)
	}
	return r, nil
}

// validSMTPAddress accepts a bare addr-spec such as "a.b@example.com".
func validSMTPAddress(addr string) bool {
	if addr == "" || strings.ContainsAny(addr, "<> \t\r\n,;") {
		return false
	}
	a, err := mail.ParseAddress(addr)
	if err != nil || a.Address != addr {
		return false
	}
	local, domain, ok := strings.Cut(addr, "@")
	return ok && local != "" && domain != "" && !strings.HasPrefix(domain, ".") && !strings.HasSuffix(domain, ".")
}

func decodeHeader(raw json.RawMessage) (InternetMessageHeader, *graphError) {
	o, e := decodeObject(raw, "microsoft.graph.internetMessageHeader", headerProps)
	if e != nil {
		return InternetMessageHeader{}, e
	}
	var h InternetMessageHeader
	if h.Name, e = o.str("name"); e != nil {
		return h, e
	}
	if h.Value, e = o.str("value"); e != nil {
		return h, e
	}
	if len(h.Name) < 3 || !strings.EqualFold(h.Name[:2], "x-") || strings.ContainsAny(h.Name, ": \t\r\n") {
		return h, &graphError{status: 400, code: "InvalidInternetMessageHeader",
			message: fmt.Sprintf("The internet message header name '%s' should start with 'x-' or 'X-'.", h.Name)}
	}
	if strings.ContainsAny(h.Value, "\r\n") {
		return h, &graphError{status: 400, code: "InvalidInternetMessageHeader",
			message: fmt.Sprintf("The internet message header value of '%s' is not valid.", h.Name)}
	}
	return h, nil
}

func decodeAttachment(raw json.RawMessage) (FileAttachment, *graphError) {
	o, e := decodeObject(raw, "microsoft.graph.attachment", attachmentProps)
	if e != nil {
		return FileAttachment{}, e
	}
	typ, e := o.str("@odata.type")
	if e != nil {
		return FileAttachment{}, e
	}
	switch strings.ToLower(strings.TrimPrefix(typ, "#")) {
	case "microsoft.graph.fileattachment":
	case "":
		return FileAttachment{}, bodyReadError("Cannot create an abstract class.")
	case "microsoft.graph.itemattachment", "microsoft.graph.referenceattachment":
		return FileAttachment{}, &graphError{status: 400, code: "ErrorInvalidRequest",
			message: fmt.Sprintf("graphmailtest: attachments of type '%s' are not supported by the sandbox.", typ)}
	default:
		return FileAttachment{}, bodyReadError("A type named '%s' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.", typ)
	}
	var a FileAttachment
	if a.Name, e = o.str("name"); e != nil {
		return a, e
	}
	if a.ContentType, e = o.str("contentType"); e != nil {
		return a, e
	}
	if a.ContentID, e = o.str("contentId"); e != nil {
		return a, e
	}
	if a.IsInline, e = o.boolean("isInline", false); e != nil {
		return a, e
	}
	b64, e := o.str("contentBytes")
	if e != nil {
		return a, e
	}
	if a.ContentBytes, e = decodeBinary(b64); e != nil {
		return a, e
	}
	return a, nil
}

// decodeBinary decodes an Edm.Binary value: base64, standard or URL
// alphabet, padding optional.
func decodeBinary(s string) ([]byte, *graphError) {
	s = strings.TrimRight(s, "=")
	s = strings.NewReplacer("-", "+", "_", "/").Replace(s)
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, bodyReadError("The input is not a valid Base-64 string as it contains a non-base 64 character, more than two padding characters, or an illegal character among the padding characters.")
	}
	return b, nil
}
