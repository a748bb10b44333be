package graphmail_test

import (
	"context"
	"fmt"
	"log"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// Sending a message: one token provider, one Graph client. The fake tenant
// stands in for Microsoft 365 here; with a real tenant, leave out
// AuthorityHost, GraphEndpoint and the HTTP clients.
func ExampleClient_Send() {
	tenant, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer tenant.Close()

	tokens, err := auth.New(auth.Options{
		AuthorityHost: tenant.AuthorityHost(),
		TenantID:      tenant.TenantID(),
		ClientID:      tenant.App().ClientID,
		ClientSecret:  tenant.App().Secret,
		HTTPClient:    tenant.HTTPClient(),
	})
	if err != nil {
		log.Fatal(err)
	}
	client, err := graphmail.New(graphmail.Config{
		Sender:        tenant.Mailboxes()[0],
		Credential:    tokens.TokenCredential(),
		GraphEndpoint: tenant.GraphEndpoint(),
		HTTPClient:    tenant.HTTPClient(),
	})
	if err != nil {
		log.Fatal(err)
	}
	res, err := client.Send(context.Background(), &graphmail.Message{
		To:      []graphmail.Address{{Name: "Ops", Address: "ops@example.com"}},
		Subject: "nightly report",
		Text:    "all green",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("path:", res.Path)
	fmt.Println("delivered:", len(tenant.Messages()), tenant.Messages()[0].Message.Subject)
	// Output:
	// path: graph
	// delivered: 1 nightly report
}
