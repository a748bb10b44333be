package graphmail_test

import (
	"context"
	"fmt"
	"log"

	"github.com/graphmail/graphmail/graphmail"
)

// Many goroutines, several Clients, one mailbox: the Clients of a process
// share the mailbox's limits, so together they keep to 4 requests in
// flight and 30 messages a minute. Large attachments from files go
// through an upload session (the app needs Mail.ReadWrite), read a chunk
// at a time.
func Example_largeAttachments() {
	newClient := func() (*graphmail.Client, error) {
		return graphmail.New(graphmail.Config{
			Sender:            "reports@contoso.com",
			MessagesPerMinute: 30,
			LargeMessages:     graphmail.LargeUploadSession,
			// Credential: tokens.TokenCredential(), …
		})
	}
	reports, err := newClient()
	if err != nil {
		log.Fatal(err)
	}
	att, err := graphmail.AttachFile("/var/reports/q3.zip")
	if err != nil {
		fmt.Println("no report today")
		return
	}
	_, err = reports.Send(context.Background(), &graphmail.Message{
		To:          []graphmail.Address{{Address: "finance@contoso.com"}},
		Subject:     "Q3",
		Text:        "attached",
		Attachments: []graphmail.Attachment{att},
	})
	if err != nil {
		log.Print(err)
	}
	// Output: no report today
}

// Relaying an existing message: its bytes go to Graph unchanged, except
// that recipients known only to the envelope are added as Bcc.
func ExampleClient_SendMIME() {
	raw := []byte("From: reports@contoso.com\r\nTo: ops@contoso.com\r\nSubject: hi\r\n\r\nhello\r\n")
	body, err := graphmail.MIMERequest(raw, []graphmail.Address{{Address: "audit@contoso.com"}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%.40s…\n", body)
	// With a Client: res, err := client.SendMIME(ctx, raw, extra)
	// Output: QmNjOiBhdWRpdEBjb250b3NvLmNvbQ0KRnJvbTog…
}
