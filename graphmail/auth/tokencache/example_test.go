package tokencache_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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

// A public client has no credential to derive the cache key from: the
// first sign-in creates a key file, kept away from the cache directory,
// and later runs read it.
func ExampleLoadKey() {
	dir, err := os.MkdirTemp("", "tokencache-key")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "config", "graphmail", "token-cache.key")

	if _, err := tokencache.LoadKey(keyFile, false); errors.Is(err, fs.ErrNotExist) {
		fmt.Println("nobody has signed in yet")
	}
	key, err := tokencache.LoadKey(keyFile, true) // at sign-in
	if err != nil {
		log.Fatal(err)
	}
	again, err := tokencache.LoadKey(keyFile, false) // every later run
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(key), "bytes, same key:", bytes.Equal(key, again))

	c, err := tokencache.New(tokencache.Options{
		Path:       filepath.Join(dir, "cache", "graphmail", "tokens.bin"),
		Credential: key,
		TenantID:   "7f4d8c2a-1111-4222-8333-944455556666",
		ClientID:   "0b1c2d3e-aaaa-4bbb-8ccc-ddddeeeeffff",
	})
	if err != nil {
		log.Fatal(err)
	}
	_ = c // give it to public.WithCache
	// Output:
	// nobody has signed in yet
	// 32 bytes, same key: true
}
