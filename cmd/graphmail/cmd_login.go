package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/auth"
)

// loginOptions are the flags of "graphmail login".
type loginOptions struct {
	browser     bool
	redirectURI string
	timeout     time.Duration
}

func newLoginCommand(env *environment) *cobra.Command {
	o := &loginOptions{}
	cmd := &cobra.Command{
		Use:   "login [--browser]",
		Short: "Sign a user in for auth.method delegated",
		Long: `Sign a user in once for auth.method delegated (a public client sending as
that user, for tenants that grant no application permissions). By default
the device code flow is used: graphmail prints a URL and a code on standard
error, and you sign in from any browser, on any device, which works over SSH.
With --browser, the authorization code flow with PKCE runs on a loopback
redirect (http://localhost:PORT) and the sign-in page is opened with xdg-open
when it exists (else its URL is printed).

Graphmail asks for Mail.Send (Graph) and offline_access, then, silently with
the same account, SMTP.Send (Exchange Online) for the SMTP fallback. The
refresh token is kept only in the encrypted token cache; later runs renew
tokens silently. Run login again when a send fails with exit 77 and the hint
to do so.`,
		Example: "  graphmail login\n  graphmail login --browser\n  graphmail login --set delegated.user=alice@contoso.com",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, env, true)
			if err != nil {
				return err
			}
			return runLogin(cmd.Context(), env, cfg, o)
		},
	}
	cmd.Flags().BoolVar(&o.browser, "browser", false, "sign in with a browser on this machine (authorization code with PKCE on a loopback redirect)")
	cmd.Flags().StringVar(&o.redirectURI, "redirect-uri", "http://localhost", "loopback redirect URI for --browser; without a port a free one is chosen")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 15*time.Minute, "give up waiting for the sign-in after this long")
	return cmd
}

func newLogoutCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "logout",
		Short: "Remove signed-in accounts (auth.method delegated) from the token cache",
		Long: `Remove every signed-in account with its refresh and access tokens from the
encrypted token cache. Sends fail with exit 77 until "graphmail login" runs
again. To revoke the refresh token at Microsoft too, revoke the user's
sessions in the Entra admin center.`,
		Example: "  graphmail logout",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, env, true)
			if err != nil {
				return err
			}
			return runLogout(cmd.Context(), env, cfg)
		},
	}
}

// delegatedOnly refuses login and logout for other methods.
func delegatedOnly(cfg *config.Config, what string) error {
	if cfg.Auth.Method == config.MethodDelegated {
		return nil
	}
	return &config.Error{Key: "auth.method", Problem: fmt.Sprintf("is %q; %s is only for delegated", cfg.Auth.Method, what),
		Hint: "set auth.method: delegated to send as a signed-in user; app credentials need no login"}
}

// loginProvider is the delegated token provider for login and logout.
func loginProvider(env *environment, cfg *config.Config, what string, interactive bool) (*auth.Provider, error) {
	if err := delegatedOnly(cfg, what); err != nil {
		return nil, err
	}
	tlsCfg, err := setup.TLSConfig(cfg.CAFile)
	if err != nil {
		return nil, err
	}
	return setup.NewDelegatedProvider(cfg, setup.NewHTTPClient(tlsCfg), setup.NewLogger(env.cliLog(cfg), env.stderr), interactive)
}

func runLogin(ctx context.Context, env *environment, cfg *config.Config, o *loginOptions) error {
	p, err := loginProvider(env, cfg, "login", true)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var acct auth.Account
	if o.browser {
		open := env.openURL
		if open == nil {
			open = func(u string) error { return openBrowser(env, u) }
		}
		acct, err = p.LoginBrowser(ctx, cfg.GraphScope, o.redirectURI, open)
	} else {
		acct, err = p.LoginDeviceCode(ctx, cfg.GraphScope, func(dc auth.DeviceCodePrompt) error {
			fmt.Fprintf(env.stderr, "graphmail: to sign in, open %s and enter the code %s (valid until %s)\n",
				dc.VerificationURL, dc.UserCode, dc.ExpiresOn.Local().Format("15:04"))
			return nil
		})
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("graphmail: the sign-in did not complete within %s: %w", o.timeout, err)
		}
		return err
	}
	env.printf("signed in as %s (Mail.Send)\n", acct.Username)
	if cfg.SMTP.Fallback == "never" {
		return nil
	}
	// The SMTP fallback's token is a second resource: request it on its
	// own, silently, with the account just signed in.
	if _, err := p.Token(ctx, cfg.SMTP.Scope, false); err != nil {
		fmt.Fprintf(env.stderr, "graphmail: warning: no SMTP.Send token for the fallback: %v\n", err)
		fmt.Fprintf(env.stderr, "graphmail: hint: grant the delegated SMTP.Send permission (Office 365 Exchange Online) to the app, or set smtp.fallback: never\n")
		return nil
	}
	env.printf("SMTP fallback ready (SMTP.Send)\n")
	return nil
}

// openBrowser runs xdg-open when it exists, else prints the URL.
func openBrowser(env *environment, u string) error {
	if path, err := exec.LookPath("xdg-open"); err == nil {
		if err := exec.Command(path, u).Start(); err == nil {
			fmt.Fprintf(env.stderr, "graphmail: a browser was opened for the sign-in; if none appears, open:\n%s\n", u)
			return nil
		}
	}
	fmt.Fprintf(env.stderr, "graphmail: open this URL in a browser on this machine to sign in:\n%s\n", u)
	return nil
}

func runLogout(ctx context.Context, env *environment, cfg *config.Config) error {
	p, err := loginProvider(env, cfg, "logout", false)
	var ae *auth.Error
	if errors.As(err, &ae) && errors.As(ae.Err, new(*auth.NotSignedInError)) {
		env.printf("nobody was signed in\n")
		return nil
	}
	if err != nil {
		return err
	}
	names, err := p.Logout(ctx)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		env.printf("nobody was signed in\n")
		return nil
	}
	for _, n := range names {
		env.printf("signed out %s\n", n)
	}
	if path, err := setup.DelegatedCachePath(cfg); err == nil {
		_ = os.Remove(tokencache.StatePath(path))
	}
	return nil
}
