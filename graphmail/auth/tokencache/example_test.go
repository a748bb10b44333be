package tokencache_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

// Each run of a cron job is a new process with a new MSAL client; with the
// cache the second one is served from the file.
func Example() {
	tenant, err := graphmailtest.NewServer(graphmailtest.Options{}) // a fake Microsoft 365 tenant
	if err != nil {
		log.Fatal(err)
	}
	defer tenant.Close()
	app := tenant.App()
	dir, err := os.MkdirTemp("", "tokencache-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	run := func() {
		c, err := tokencache.New(tokencache.Options{
			// In production: tokencache.DefaultPath(os.LookupEnv, os.Geteuid())
			Path:       filepath.Join(dir, "graphmail", "tokens.bin"),
			Credential: []byte(app.Secret),
			TenantID:   tenant.TenantID(),
			ClientID:   app.ClientID,
			Logger:     slog.Default(),
		})
		if err != nil {
			log.Fatal(err)
		}
		cred, err := confidential.NewCredFromSecret(app.Secret)
		if err != nil {
			log.Fatal(err)
		}
		client, err := confidential.New(tenant.Authority(), app.ClientID, cred,
			confidential.WithHTTPClient(tenant.HTTPClient()),
			confidential.WithInstanceDiscovery(false),
			confidential.WithCache(c))
		if err != nil {
			log.Fatal(err)
		}
		res, err := client.AcquireTokenByCredential(context.Background(), []string{"https://graph.microsoft.com/.default"})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("from cache:", res.Metadata.TokenSource == confidential.TokenSourceCache)
	}
	run()
	run()
	fmt.Println("token requests:", tenant.TokenRequests(graphmailtest.ResourceGraph))
	// Output:
	// from cache: false
	// from cache: true
	// token requests: 1
}
