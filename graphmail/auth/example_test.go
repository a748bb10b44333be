package auth_test

import (
	"context"
	"fmt"
	"log"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// One provider serves both resources; the second request for a scope is
// answered from MSAL's cache.
func ExampleProvider_Token() {
	tenant, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer tenant.Close()
	p, err := auth.New(auth.Options{
		AuthorityHost: tenant.AuthorityHost(),
		TenantID:      tenant.TenantID(),
		ClientID:      tenant.App().ClientID,
		ClientSecret:  tenant.App().Secret,
		HTTPClient:    tenant.HTTPClient(),
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	for _, scope := range []string{auth.GraphScope, auth.OutlookScope, auth.GraphScope} {
		t, err := p.Token(ctx, scope, false)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(scope, "from cache:", t.FromCache)
	}
	// Output:
	// https://graph.microsoft.com/.default from cache: false
	// https://outlook.office365.com/.default from cache: false
	// https://graph.microsoft.com/.default from cache: true
}

// What a token grants, read without verifying it: the resource verifies.
func ExampleDecodeClaims() {
	tenant, err := graphmailtest.NewServer(graphmailtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer tenant.Close()
	p, err := auth.New(auth.Options{
		AuthorityHost: tenant.AuthorityHost(),
		TenantID:      tenant.TenantID(),
		ClientID:      tenant.App().ClientID,
		ClientSecret:  tenant.App().Secret,
		HTTPClient:    tenant.HTTPClient(),
	})
	if err != nil {
		log.Fatal(err)
	}
	tok, err := p.Token(context.Background(), auth.GraphScope, false)
	if err != nil {
		log.Fatal(err)
	}
	c, err := auth.DecodeClaims(tok.Value)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("audience:", c.Audience)
	fmt.Println("app matches:", c.AppID == tenant.App().ClientID)
	fmt.Println("may send mail:", c.HasRole("Mail.Send"))
	fmt.Println("valid for an hour:", c.Expiry.Sub(c.IssuedAt))
	// Output:
	// audience: https://graph.microsoft.com
	// app matches: true
	// may send mail: true
	// valid for an hour: 1h0m0s
}
