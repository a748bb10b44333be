package graphmail

import (
	"context"
	"errors"

	"github.com/google/uuid"
	abs "github.com/microsoft/kiota-abstractions-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
)

// Probe checks, without sending mail and with no permission beyond
// Mail.Send, that Graph accepts the app's token for the sender mailbox: it
// posts a sendMail request that has no recipients. Graph checks the token,
// the Mail.Send permission (and any access policy) and the mailbox before
// the message, so the expected answer is 400 ErrorInvalidRecipients, which
// Probe reports as success. Any other failure comes back as *GraphError
// (or *CredentialError when no token could be had).
func (c *Client) Probe(ctx context.Context) error {
	if c.adapter == nil {
		return errors.New("graphmail: no Graph credential configured")
	}
	msg := models.NewMessage()
	subject := "graphmail probe (no recipients; never delivered)"
	msg.SetSubject(&subject)
	body := users.NewItemSendMailPostRequestBody()
	body.SetMessage(msg)
	save := false
	body.SetSaveToSentItems(&save)
	endpoint := c.base + c.mailboxPath() + "/sendMail"
	ri, err := users.NewItemSendMailRequestBuilder(endpoint, c.adapter).ToPostRequestInformation(ctx, body, nil)
	if err != nil {
		return err
	}
	x := &exchange{clientRequestID: uuid.NewString()}
	err = c.adapter.SendNoContent(withExchange(ctx, x), ri, abs.ErrorMappings{"XXX": odataerrors.CreateODataErrorFromDiscriminatorValue})
	if err == nil {
		return nil
	}
	x.mu.Lock()
	reached := x.reached
	x.mu.Unlock()
	if !reached {
		return &CredentialError{Err: err}
	}
	ge := graphError(err, x)
	ge.ClientRequestID = x.clientRequestID
	ge.Attempts = 1
	if ge.StatusCode == 400 && ge.Code == "ErrorInvalidRecipients" {
		return nil
	}
	return ge
}
