package config_test

import (
	"errors"
	"fmt"

	"github.com/graphmail/graphmail/config"
)

func ExampleLoad() {
	// In production leave LookupEnv and SearchPaths nil: Load then reads the
	// process environment and searches the usual places for a file.
	env := map[string]string{
		"GRAPHMAIL_TENANT_ID": "contoso.onmicrosoft.com",
		"AZURE_CLIENT_ID":     "0b3c1a2e-5d4f-4a6b-8c7d-9e0f1a2b3c4d",
		"AZURE_CLIENT_SECRET": "the-secret-value",
		"GRAPHMAIL_CLOUD":     "usgov",
	}
	cfg, err := config.Load(config.Options{
		Overrides: map[string]any{"sender": "reports@contoso.com"}, // from --sender
		LookupEnv: func(k string) (string, bool) {
			v, ok := env[k]
			return v, ok
		},
		SearchPaths:        []string{},
		RequireCredentials: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("tenant:", cfg.TenantID, "from", cfg.Sources["tenant_id"])
	fmt.Println("client:", cfg.ClientID, "from", cfg.Sources["client_id"])
	fmt.Println("secret:", cfg.ClientSecret, "from", cfg.Sources["client_secret"])
	fmt.Println("sender:", cfg.Sender, "from", cfg.Sources["sender"])
	fmt.Println("authority:", cfg.AuthorityHost)
	fmt.Println("graph:", cfg.GraphEndpoint, cfg.GraphScope)
	fmt.Printf("smtp: %s:%d %s\n", cfg.SMTP.Host, cfg.SMTP.Port, cfg.SMTP.Scope)
	// Output:
	// tenant: contoso.onmicrosoft.com from env
	// client: 0b3c1a2e-5d4f-4a6b-8c7d-9e0f1a2b3c4d from azure-env
	// secret: [redacted] from azure-env
	// sender: reports@contoso.com from flag
	// authority: https://login.microsoftonline.us
	// graph: https://graph.microsoft.us https://graph.microsoft.us/.default
	// smtp: smtp.office365.us:587 https://outlook.office365.us/.default
}

func ExampleErrors() {
	_, err := config.Load(config.Options{
		Overrides:          map[string]any{"client_id": "my-app", "smtp.hots": "mail.contoso.com"},
		LookupEnv:          func(string) (string, bool) { return "", false },
		SearchPaths:        []string{},
		RequireCredentials: false,
	})
	var errs config.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			fmt.Printf("graphmail: error: %s: %s\n", e.Key, e.Problem)
			fmt.Printf("graphmail: hint: %s\n", e.Hint)
		}
	}
	// Output:
	// graphmail: error: smtp.hots: unknown key (given as a flag override)
	// graphmail: hint: did you mean smtp.host?
	// graphmail: error: client_id: not a GUID
	// graphmail: hint: copy the Application (client) ID from the app registration's Overview page
}
