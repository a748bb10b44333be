package graphmailtest_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"

	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// A test starts a sandbox tenant, gets a token with MSAL, sends a message
// through Graph and reads what was delivered.
func Example() {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	app := srv.App()
	cred, err := confidential.NewCredFromSecret(app.Secret)
	if err != nil {
		log.Fatal(err)
	}
	client, err := confidential.New(srv.AuthorityHost()+"/"+srv.TenantID(), app.ClientID, cred,
		confidential.WithHTTPClient(srv.HTTPClient()),
		confidential.WithInstanceDiscovery(false))
	if err != nil {
		log.Fatal(err)
	}
	tok, err := client.AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
	if err != nil {
		log.Fatal(err)
	}

	body := `{"message":{"subject":"Hello","body":{"contentType":"text","content":"Hi there"},
		"toRecipients":[{"emailAddress":{"address":"someone@example.com"}}]}}`
	req, _ := http.NewRequest(http.MethodPost,
		srv.GraphEndpoint()+"/v1.0/users/"+graphmailtest.DefaultMailbox+"/sendMail", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := srv.HTTPClient().Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)

	for _, m := range srv.Messages() {
		fmt.Println(m.Mailbox, m.Message.Subject, m.Recipients)
	}
	fmt.Println("tokens issued for Graph:", srv.TokenRequests(graphmailtest.ResourceGraph))
	// Output:
	// 202
	// sandbox@sandbox.onmicrosoft.com Hello [someone@example.com]
	// tokens issued for Graph: 1
}

// Failures are queued and answer the next matching requests before any
// other check.
func ExampleServer_Fail() {
	srv, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointGraph, Status: http.StatusTooManyRequests, RetryAfter: "2"})

	resp, err := srv.HTTPClient().Post(srv.GraphEndpoint()+"/v1.0/users/"+graphmailtest.DefaultMailbox+"/sendMail",
		"application/json", strings.NewReader(`{}`))
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Retry-After"))
	// Output: 429 2
}
