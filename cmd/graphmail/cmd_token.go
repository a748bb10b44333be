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
	var raw bool
	cmd := &cobra.Command{
		Use:   "token [--scope graph|smtp] [--raw]",
		Short: "Acquire an access token and print its claims",
		Long: `Acquire an access token the way a send would and print its decoded claims
(tenant, app, roles, audience, expiry). The token itself is printed only with
--raw: treat it like a password.`,
		Example: "  graphmail token\n  graphmail token --scope smtp\n  graphmail token --raw | cut -c1-20",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
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
	cmd.Flags().BoolVar(&raw, "raw", false, "print the token itself (secret: anyone holding it can send mail as the app)")
	return cmd
}
