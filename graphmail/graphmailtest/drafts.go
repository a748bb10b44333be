package graphmailtest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// TransportGraphDraft marks a message sent as a draft (POST
// users/{id}/messages, attachments, then …/send), the path for attachments
// over 3 MB.
const TransportGraphDraft = "graph-draft"

// draft is a message created with POST users/{id}/messages.
type draft struct {
	id, mailbox string
	msg         *GraphMessage // for a MIME draft: its subject and id, and the attachments added later
	mime        []byte        // a draft created from MIME: the message as posted
}

func itemNotFound() *graphError {
	return &graphError{status: http.StatusNotFound, code: "ErrorItemNotFound", message: "The specified object was not found in the store."}
}

// lookupDraft returns the draft of mailbox with id.
func (st *mailState) lookupDraft(mailbox, id string) (*draft, *graphError) {
	st.mu.Lock()
	defer st.mu.Unlock()
	d := st.drafts[id]
	if d == nil || !strings.EqualFold(d.mailbox, mailbox) {
		return nil, itemNotFound()
	}
	return d, nil
}

// createDraft stores a message as a draft and answers 201 with it: a
// JSON message, validated like a sendMail message, or the base64 of a
// MIME message (Content-Type text/plain), whose recipients are checked
// when it is sent.
func (s *Server) createDraft(w http.ResponseWriter, r *http.Request, claims *Claims, mailbox string) *graphError {
	body, ge := readGraphBody(r)
	if ge != nil {
		return ge
	}
	d := &draft{id: "AAMkAG" + randomHex(24) + "AAA=", mailbox: mailbox}
	switch mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt {
	case "application/json":
		m, ge := decodeMessage(body)
		if ge != nil {
			return ge
		}
		if ge := s.checkSendAs(mailbox, m.From); ge != nil {
			return ge
		}
		d.msg = m
	case "text/plain":
		// A draft from MIME: the base64 of an RFC 5322 message, as for
		// sendMail (and under the same 4 MB limit).
		mimeBytes, ge := decodeMIMEBody(body)
		if ge != nil {
			return ge
		}
		from, msgID, subject, ge := checkDraftMIME(mimeBytes)
		if ge != nil {
			return ge
		}
		if from != nil {
			if ge := s.checkSendAs(mailbox, &Recipient{EmailAddress: EmailAddress{Address: from.Address}}); ge != nil {
				return ge
			}
		}
		d.mime, d.msg = mimeBytes, &GraphMessage{Subject: subject, InternetMessageID: msgID}
	default:
		return &graphError{status: http.StatusUnsupportedMediaType, code: "UnsupportedMediaType",
			message: fmt.Sprintf("graphmailtest: drafts are created from application/json or text/plain (base64 MIME), not '%s'.", r.Header.Get("Content-Type"))}
	}
	m := d.msg
	s.mail.mu.Lock()
	s.mail.drafts[d.id] = d
	s.mail.mu.Unlock()
	s.log.Info("graphmailtest: draft created", "mailbox", mailbox, "app_id", claims.AppID, "id", d.id)
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.context":    s.graph.url + "/v1.0/$metadata#users('" + mailbox + "')/messages/$entity",
		"id":                d.id,
		"isDraft":           true,
		"subject":           m.Subject,
		"internetMessageId": m.InternetMessageID,
	})
	return nil
}

// deleteDraft deletes a draft and its upload sessions.
func (s *Server) deleteDraft(w http.ResponseWriter, mailbox, id string) *graphError {
	if _, ge := s.mail.lookupDraft(mailbox, id); ge != nil {
		return ge
	}
	s.mail.mu.Lock()
	delete(s.mail.drafts, id)
	s.mail.dropSessionsLocked(id)
	s.mail.deleted++
	s.mail.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// addAttachment attaches a fileAttachment posted whole.
func (s *Server) addAttachment(w http.ResponseWriter, r *http.Request, mailbox, id string) *graphError {
	d, ge := s.mail.lookupDraft(mailbox, id)
	if ge != nil {
		return ge
	}
	body, ge := readGraphBody(r)
	if ge != nil {
		return ge
	}
	a, ge := decodeAttachment(json.RawMessage(body))
	if ge != nil {
		return ge
	}
	s.mail.mu.Lock()
	d.msg.Attachments = append(d.msg.Attachments, a)
	s.mail.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{
		"@odata.type": "#microsoft.graph.fileAttachment",
		"id":          "AAMkAGAtt" + randomHex(16),
		"name":        a.Name,
		"contentType": a.ContentType,
		"size":        len(a.ContentBytes),
	})
	return nil
}

// sendDraft delivers a draft: like sendMail, with the draft's attachments,
// and always saved to Sent Items. The draft is gone afterwards.
func (s *Server) sendDraft(w http.ResponseWriter, gr graphRequest, claims *Claims, mailbox, id string) *graphError {
	d, ge := s.mail.lookupDraft(mailbox, id)
	if ge != nil {
		return ge
	}
	s.mail.mu.Lock()
	delete(s.mail.drafts, id)
	s.mail.dropSessionsLocked(id)
	s.mail.mu.Unlock()
	del := Delivered{Mailbox: mailbox, Transport: TransportGraphDraft, Message: d.msg, SaveToSentItems: true,
		RequestID: gr.requestID, ClientRequestID: gr.clientRequestID, AppID: claims.AppID, Attachments: d.msg.Attachments}
	if d.mime != nil {
		if _, _, ge := s.checkMIME(d.mime); ge != nil {
			return ge // no recipients
		}
		spliced, err := spliceAttachments(d.mime, d.msg.Attachments)
		if err != nil {
			return &graphError{status: 400, code: "ErrorMimeContentInvalid", message: "graphmailtest: " + err.Error()}
		}
		del.Message, del.MIME, del.MessageID = nil, spliced, d.msg.InternetMessageID
	} else {
		rendered, msgID, err := renderMessage(mailbox, d.msg, s.now())
		if err != nil {
			return &graphError{status: 400, code: "ErrorInvalidRequest", message: "graphmailtest: cannot render message: " + err.Error()}
		}
		del.MIME, del.MessageID = rendered, msgID
	}
	if _, err := s.record(del); err != nil {
		return &graphError{status: 500, code: "InternalServerError", message: "graphmailtest: " + err.Error()}
	}
	s.log.Info("graphmailtest: draft sent", "mailbox", mailbox, "app_id", claims.AppID, "request_id", gr.requestID)
	w.WriteHeader(http.StatusAccepted)
	return nil
}
