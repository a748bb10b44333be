package main

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/spf13/cobra"
)

func newTokenCommand(env *environment) *cobra.Command {
	var scope string
	var raw, asJSON bool
	cmd := &cobra.Command{
		Use:   "token [--scope graph|smtp] [--raw]",
		Short: "Acquire an access token and print its claims",
		Long: `Acquire an access token the way a send would and print its decoded claims
(tenant, app, roles, audience, expiry). The token itself is printed only with
--raw: treat it like a password. --json prints the claims as JSON, never the
token.`,
		Example: "  graphmail token\n  graphmail token --scope smtp\n  graphmail token --json | jq -r .expires\n  graphmail token --raw | cut -c1-20",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if raw && asJSON {
				return usagef("--raw and --json are mutually exclusive")
			}
			cfg, err := loadConfig(cmd, env, true)
			if err != nil {
				return err
			}
			a, err := newApp(cfg, env, "never", false)
			if err != nil {
				return err
			}
			defer a.Close()
			var s string
			switch scope {
			case "graph":
				s = cfg.GraphScope
			case "smtp":
				s = cfg.SMTP.Scope
			default:
				return usagef("--scope must be graph or smtp, not %q", scope)
			}
			tok, err := a.Tokens.Token(cmd.Context(), s, false)
			if err != nil {
				return err
			}
			if raw {
				env.printf("%s\n", tok.Value)
				return nil
			}
			c, err := auth.DecodeClaims(tok.Value)
			if err != nil {
				return err
			}
			if asJSON {
				return env.printJSON(newTokenInfo(s, tok, c))
			}
			env.printf("scope:      %s\n", s)
			env.printf("audience:   %s\n", c.Audience)
			env.printf("tenant:     %s\n", c.TenantID)
			env.printf("app:        %s\n", c.AppID)
			env.printf("roles:      %s\n", strings.Join(c.Roles, " "))
			env.printf("expires:    %s (in %s)\n", tok.ExpiresOn.Local().Format(time.RFC3339), time.Until(tok.ExpiresOn).Round(time.Second))
			env.printf("from cache: %t\n", tok.FromCache)
			keys := make([]string, 0, len(c.Raw))
			for k := range c.Raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			env.printf("claims:\n")
			for _, k := range keys {
				b, _ := json.Marshal(c.Raw[k])
				env.printf("  %s: %s\n", k, b)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "graph", "graph (Microsoft Graph) or smtp (Exchange Online SMTP)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the claims as JSON (never the token)")
	cmd.Flags().BoolVar(&raw, "raw", false, "print the token itself (secret: anyone holding it can send mail as the app)")
	return cmd
}

// tokenInfo is what "token --json" prints: the token's claims, never the
// token. Its field names are public interface (README).
type tokenInfo struct {
	Scope            string         `json:"scope"`
	Audience         string         `json:"audience"`
	Tenant           string         `json:"tenant"`
	App              string         `json:"app"`
	Roles            []string       `json:"roles"`
	Scopes           string         `json:"scp,omitempty"` // delegated permissions
	User             string         `json:"upn,omitempty"`
	Expires          time.Time      `json:"expires"`
	ExpiresInSeconds int64          `json:"expires_in_seconds"`
	FromCache        bool           `json:"from_cache"`
	Claims           map[string]any `json:"claims"`
}

func newTokenInfo(scope string, tok auth.Token, c *auth.Claims) tokenInfo {
	roles := c.Roles
	if roles == nil {
		roles = []string{}
	}
	return tokenInfo{
		Scope: scope, Audience: c.Audience, Tenant: c.TenantID, App: c.AppID, Roles: roles, Scopes: c.Scp, User: c.UPN,
		Expires: tok.ExpiresOn.UTC(), ExpiresInSeconds: int64(time.Until(tok.ExpiresOn).Seconds()), FromCache: tok.FromCache, Claims: c.Raw,
	}
}
