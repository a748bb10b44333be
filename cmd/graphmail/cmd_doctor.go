package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/graphmail/graphmail/graphmail/auth/tokencache"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/smtpfallback"
)

// check statuses, in increasing order of trouble.
const (
	statusOK   = "ok"
	statusInfo = "info"
	statusSkip = "skip"
	statusWarn = "warn"
	statusFail = "fail"
)

// checkResult is one line of the doctor's report.
type checkResult struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Hint   string `json:"hint,omitempty"`
	err    error
}

type doctorOptions struct {
	sendTest string
	asJSON   bool
}

func newDoctorCommand(env *environment) *cobra.Command {
	var o doctorOptions
	cmd := &cobra.Command{
		Use:   "doctor [--send-test ADDRESS] [--json]",
		Short: "Check configuration, credentials, permissions and connectivity",
		Long: `Check, in order: the configuration; that the authority is reachable; that a
Graph token and (when the SMTP fallback is enabled) an Outlook token can be
acquired and carry the Mail.Send / SMTP.SendAsApp roles; that Graph accepts
the token for the sender mailbox (without sending mail); that the SMTP server
takes STARTTLS and AUTH XOAUTH2 (without sending mail); and how long the
credential is valid. Each line says ✓ or ✗ with a hint. Exit status is 0
only when everything the configured paths need works.`,
		Example: `  graphmail doctor
  graphmail doctor --send-test you@contoso.com
  graphmail doctor --json | jq '.checks[] | select(.status=="fail")'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd, env, &o)
		},
	}
	cmd.Flags().StringVar(&o.sendTest, "send-test", "", "also send a test message to ADDRESS through each enabled path")
	cmd.Flags().BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	return cmd
}

// doctorFailed is the error runDoctor returns when a check failed; the
// report has already been printed.
type doctorFailed struct{ first error }

func (e *doctorFailed) Error() string {
	return "doctor found problems (see the ✗ lines above)"
}
func (e *doctorFailed) Unwrap() error { return e.first }

func runDoctor(cmd *cobra.Command, env *environment, o *doctorOptions) error {
	ctx := cmd.Context()
	var results []checkResult
	add := func(r checkResult) {
		if r.err != nil && r.Hint == "" {
			if h := hintsFor(r.err, "graphmail doctor"); len(h) > 0 {
				r.Hint = h[0]
			}
		}
		results = append(results, r)
		if !o.asJSON {
			printCheck(env.stdout, r)
		}
	}
	finish := func() error {
		if o.asJSON {
			ok := true
			for _, r := range results {
				ok = ok && r.Status != statusFail
			}
			enc := json.NewEncoder(env.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(struct {
				OK     bool          `json:"ok"`
				Checks []checkResult `json:"checks"`
			}{ok, results}); err != nil {
				return err
			}
		}
		for _, r := range results {
			if r.Status == statusFail {
				return &doctorFailed{first: r.err}
			}
		}
		return nil
	}

	cfg, err := loadConfig(cmd, env, true)
	if err != nil {
		detail := err.Error()
		var ce config.Errors
		if errors.As(err, &ce) && len(ce) > 0 {
			detail = fmt.Sprintf("%d problem(s); first: %s: %s", len(ce), ce[0].Key, ce[0].Problem)
		}
		add(checkResult{Name: "config", Status: statusFail, Detail: detail, err: err})
		return finish()
	}
	file := cfg.File
	if file == "" {
		file = "no file, environment only"
	}
	add(checkResult{Name: "config", Status: statusOK, Detail: fmt.Sprintf("%s; sender %s; cloud %s; smtp.fallback %s", file, cfg.Sender, cfg.Cloud, cfg.SMTP.Fallback)})

	a, err := newApp(cfg, env, "", false)
	if err != nil {
		add(checkResult{Name: "credential", Status: statusFail, Detail: err.Error(), err: err})
		return finish()
	}
	defer a.Close()
	useGraph := cfg.SMTP.Fallback != config.FallbackOnly
	useSMTP := cfg.SMTP.Fallback != config.FallbackNever

	add(checkAuthority(ctx, a))
	if creds := checkClientCredentials(ctx, a, time.Now()); creds != nil {
		for _, r := range creds {
			add(r)
		}
	} else {
		add(checkCredential(cfg))
	}
	for _, e := range cfg.ExposedSecrets() {
		add(checkResult{Name: "secret file", Status: statusWarn, Detail: e.String()})
	}
	graphOK := true
	smtpRole, smtpHint := "SMTP.SendAsApp", "grant the SMTP.SendAsApp application permission (Office 365 Exchange Online) and admin consent, or set smtp.fallback: never"
	if cfg.Auth.Method == config.MethodDelegated {
		smtpRole, smtpHint = setup.DelegatedSMTPPermission, "grant the delegated SMTP.Send permission (Office 365 Exchange Online) and run 'graphmail login' again, or set smtp.fallback: never"
	}
	if useGraph {
		r := checkToken(ctx, a, "graph token", cfg.GraphScope, "Mail.Send",
			"grant the Mail.Send permission (Microsoft Graph) and consent; tokens carry new permissions after up to an hour")
		graphOK = r.Status != statusFail
		add(r)
	} else {
		add(checkResult{Name: "graph token", Status: statusSkip, Detail: "smtp.fallback is only: Graph is not used"})
	}
	smtpOK := true
	if useSMTP {
		r := checkToken(ctx, a, "outlook token", cfg.SMTP.Scope, smtpRole, smtpHint)
		smtpOK = r.Status != statusFail
		add(r)
	} else {
		add(checkResult{Name: "outlook token", Status: statusSkip, Detail: "smtp.fallback is never: SMTP is not used"})
	}
	if useGraph && graphOK {
		add(checkGraphMailbox(ctx, a))
		for _, r := range checkRelayMailboxes(ctx, a) {
			add(r)
		}
	} else if useGraph {
		add(checkResult{Name: "graph mailbox", Status: statusSkip, Detail: "no Graph token"})
	}
	var smtpClient *smtpfallback.Client
	if useSMTP && smtpOK {
		c, err := a.SMTPClient()
		if err != nil {
			add(checkResult{Name: "smtp", Status: statusFail, Detail: err.Error(), err: err})
		} else {
			defer c.Close()
			smtpClient = c
			add(checkSMTP(ctx, cfg, smtpClient))
		}
	} else if useSMTP {
		add(checkResult{Name: "smtp", Status: statusSkip, Detail: "no Outlook token"})
	}

	if o.sendTest != "" {
		to, err := graphmail.ParseAddress(o.sendTest)
		if err != nil {
			return &inputError{err: fmt.Errorf("--send-test: %q is not an e-mail address", o.sendTest)}
		}
		paths := []graphmail.Policy{}
		if useGraph {
			paths = append(paths, graphmail.PolicyNever)
		}
		if useSMTP {
			paths = append(paths, graphmail.PolicyOnly)
		}
		for _, p := range paths {
			add(sendTest(ctx, a, cfg, p, to))
		}
	}
	return finish()
}

func printCheck(w io.Writer, r checkResult) {
	mark := map[string]string{statusOK: "✓", statusInfo: "·", statusSkip: "-", statusWarn: "!", statusFail: "✗"}[r.Status]
	fmt.Fprintf(w, "%s %s: %s\n", mark, r.Name, r.Detail)
	if r.Hint != "" {
		fmt.Fprintf(w, "    hint: %s\n", r.Hint)
	}
}

// checkAuthority fetches the tenant's OpenID configuration, as MSAL will.
func checkAuthority(ctx context.Context, a *app) checkResult {
	r := checkResult{Name: "authority"}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := auth.CheckAuthority(ctx, a.HTTP, a.Config.AuthorityHost, a.Config.TenantID)
	var ae *auth.Error
	switch {
	case err == nil:
		r.Status, r.Detail = statusOK, fmt.Sprintf("%s/%s", a.Config.AuthorityHost, a.Config.TenantID)
	case errors.As(err, &ae) && ae.StatusCode == 0:
		r.Status, r.Detail = statusFail, fmt.Sprintf("%s unreachable: %v", a.Config.AuthorityHost, ae.Err)
		r.err = &classedError{class: graphmail.Transient, err: err}
		r.Hint = "check the network, proxy (HTTPS_PROXY), ca_file and authority_host/cloud"
	case ae != nil:
		r.Status, r.Detail = statusFail, strings.TrimSpace(fmt.Sprintf("%s answered %d %s", a.Config.AuthorityHost, ae.StatusCode, ae.Code))
		r.err = err
	default:
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
	}
	return r
}

// checkToken acquires a fresh token (bypassing the caches, so the roles
// shown are the ones granted now) and reads its roles.
func checkToken(ctx context.Context, a *app, name, scope, role, hint string) checkResult {
	r := checkResult{Name: name}
	tok, err := a.Tokens.Token(ctx, scope, true)
	if err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	c, err := auth.DecodeClaims(tok.Value)
	if err != nil {
		r.Status, r.Detail = statusWarn, fmt.Sprintf("acquired (expires %s) but its claims are unreadable: %v", tok.ExpiresOn.Format(time.RFC3339), err)
		return r
	}
	roles := strings.Join(c.Roles, " ")
	if roles == "" {
		roles = "none"
	}
	r.Status = statusOK
	r.Detail = fmt.Sprintf("tenant %s, app %s, expires %s, roles %s", c.TenantID, c.AppID, tok.ExpiresOn.Local().Format(time.RFC3339), roles)
	if !c.HasRole(role) {
		r.Status, r.Hint = statusWarn, role+" is missing from the token: "+hint
	}
	return r
}

func checkGraphMailbox(ctx context.Context, a *app) checkResult {
	r := checkResult{Name: "graph mailbox"}
	if err := a.Mail.Probe(ctx); err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	r.Status = statusOK
	r.Detail = fmt.Sprintf("Graph accepts the app for %s (checked with a sendMail that has no recipients; nothing was sent)", a.Config.Sender)
	return r
}

// checkRelayMailboxes probes every other mailbox the relay may send
// through (an account's mailbox, serve.mailbox from), so a missing
// permission or Send As problem shows before the first device sends.
func checkRelayMailboxes(ctx context.Context, a *app) []checkResult {
	boxes, domains := daemon.RelayMailboxes(a.Config)
	var out []checkResult
	for _, m := range boxes {
		r := checkResult{Name: "relay mailbox"}
		c, err := a.Mail.ForMailbox(m)
		if err == nil {
			err = c.Probe(ctx)
		}
		if err != nil {
			r.Status, r.Detail, r.err = statusFail, m+": "+err.Error(), err
			r.Hint = "the relay sends some messages through " + m + " (serve.accounts mailbox or serve.mailbox: from): give the app Mail.Send for that mailbox (an application access policy must include it), or change the relay's configuration"
		} else {
			r.Status, r.Detail = statusOK, "Graph accepts the app for "+m+" (nothing was sent)"
		}
		out = append(out, r)
	}
	if len(domains) > 0 {
		out = append(out, checkResult{Name: "relay mailbox", Status: statusSkip,
			Detail: "serve.mailbox from: any mailbox of " + strings.Join(domains, ", ") + " may be used; each is checked when it first sends"})
	}
	return out
}

func checkSMTP(ctx context.Context, cfg *config.Config, c *smtpfallback.Client) checkResult {
	r := checkResult{Name: "smtp"}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := c.Verify(ctx, ""); err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	r.Status = statusOK
	r.Detail = fmt.Sprintf("%s:%d STARTTLS and AUTH XOAUTH2 as %s (no mail sent)", cfg.SMTP.Host, cfg.SMTP.Port, cfg.Sender)
	return r
}

// checkFederatedToken reports the federated token file's expiry. The
// platform rewrites the file well before that, so an expired token means
// the rotation stopped.
func checkFederatedToken(cfg *config.Config) checkResult {
	r := checkResult{Name: "credential"}
	data, err := os.ReadFile(cfg.FederatedTokenFile)
	if err != nil {
		r.Status, r.Detail = statusFail, "workload identity: cannot read federated_token_file: "+err.Error()
		r.err = &config.Error{Key: "federated_token_file", Problem: r.Detail}
		r.Hint = "check that the token volume is mounted (AKS: label the pod azure.workload.identity/use: \"true\")"
		return r
	}
	claims, err := auth.DecodeClaims(strings.TrimSpace(string(data)))
	if err != nil || claims.Expiry.IsZero() {
		r.Status, r.Detail = statusWarn, "workload identity: federated_token_file does not hold a JWT with an expiry"
		r.Hint = "the file should hold the token the platform issued for this workload"
		return r
	}
	exp := claims.Expiry
	r.Detail = fmt.Sprintf("workload identity: federated token from %s for %s expires %s (no secret or certificate to expire; the platform renews the token)", claims.Issuer, claims.Subject, exp.UTC().Format(time.RFC3339))
	if time.Now().After(exp) {
		r.Status, r.Hint = statusFail, "the federated token has expired: the platform (AKS workload identity, the CI job's OIDC step) is no longer rewriting federated_token_file"
		r.err = &classedError{class: graphmail.NeedsOperator, err: errors.New("the federated token has expired")}
		return r
	}
	r.Status = statusOK
	return r
}

// checkCredential names the credential method (auth.method) and reports
// how long a federated token or a sign-in stays valid; a managed identity
// has nothing that expires.
func checkCredential(cfg *config.Config) checkResult {
	r := checkResult{Name: "credential"}
	switch cfg.Auth.Method {
	case config.MethodDelegated:
		return checkDelegated(cfg, time.Now())
	case config.MethodWorkloadIdentity:
		return checkFederatedToken(cfg)
	case config.MethodManagedIdentity:
		r.Status = statusInfo
		id := "system-assigned"
		if cfg.ManagedIdentityClientID != "" {
			id = "user-assigned " + cfg.ManagedIdentityClientID
		}
		r.Detail = fmt.Sprintf("managed identity (%s) via %s; no secret or certificate to expire", id, auth.ManagedIdentitySource())
		if auth.ManagedIdentitySource() == "DefaultToIMDS" {
			r.Hint = "no App Service/Functions/Container Apps variables (IDENTITY_ENDPOINT, IDENTITY_HEADER) are set, so tokens come from the VM's IMDS endpoint; outside Azure this fails"
		}
		return r
	}
	// Client secrets and certificates are reported by
	// checkClientCredentials; this line is for a stack without a provider.
	r.Status = statusInfo
	r.Detail = "client secret: its expiry date cannot be read locally"
	r.Hint = secretExpiryHint(cfg)
	return r
}

// secretExpiryHint tells how graphmail can learn when a secret expires.
func secretExpiryHint(cfg *config.Config) string {
	return "set client_secret_expires to the date Certificates & secrets shows next to the secret (or run: az ad app credential list --id " + cfg.ClientID +
		" --query \"[].endDateTime\"), or grant Application.Read.All so graphmail reads it; an expired secret fails with AADSTS7000222"
}

// checkClientCredentials reports, for a client secret or certificate, each
// credential's expiry (see auth.Provider.Credentials): ✗ once expired, !
// within credential_warn_days. The app registration's end dates are read
// when the app may read its registration; when Graph refuses (403), one
// info line says so. It returns nil for the methods without a client
// credential.
func checkClientCredentials(ctx context.Context, a *app, now time.Time) []checkResult {
	cfg := a.Config
	if a.Tokens == nil || (cfg.Auth.Method != config.MethodSecret && cfg.Auth.Method != config.MethodCertificate) {
		return nil
	}
	var out []checkResult
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	reg, err := setup.ReadRegistration(rctx, a)
	cancel()
	var re *auth.RegistrationError
	switch {
	case err == nil:
	case errors.As(err, &re) && re.NotPermitted():
		out = append(out, checkResult{Name: "app registration", Status: statusInfo,
			Detail: "the app may not read its registration (Graph answered 403); expiry dates come from the local files and client_secret_expires",
			Hint:   "optional: grant Application.Read.All (or Application.ReadWrite.OwnedBy) to read the secrets' end dates"})
	case errors.As(err, &re):
		out = append(out, checkResult{Name: "app registration", Status: statusInfo, Detail: "not read: " + err.Error()})
	}
	// A token error is reported by the token lines below.
	infos := a.Tokens.Credentials(reg)
	for i, c := range infos {
		r := checkResult{Name: "credential"}
		if len(infos) > 1 {
			r.Name = fmt.Sprintf("credential %d of %d", i+1, len(infos))
		}
		state := c.State(now, cfg.CredentialWarnDays)
		if state == auth.StateUnknown {
			r.Status, r.Detail, r.Hint = statusInfo, c.Name()+": its expiry date cannot be read locally", secretExpiryHint(cfg)
		} else {
			r.Detail = fmt.Sprintf("%s expires %s (%d days; from the %s)", c.Name(), c.Expires.Local().Format("2006-01-02"), c.DaysLeft(now), c.Source)
		}
		if c.Active && len(infos) > 1 {
			r.Detail += "; in use"
		}
		switch {
		case state == auth.StateExpired && c.Kind == auth.KindCertificate:
			r.Status, r.Hint = statusFail, "the certificate has expired: create a new one, upload it under Certificates & secrets and replace the client_certificate file (see Rotating credentials in the README)"
			r.err = &classedError{class: graphmail.NeedsOperator, err: errors.New("the client certificate has expired")}
		case state == auth.StateExpired:
			r.Status, r.Hint = statusFail, "the client secret has expired (AADSTS7000222): create a new one under Certificates & secrets and write it to client_secret_file (see Rotating credentials in the README)"
			r.err = &classedError{class: graphmail.NeedsOperator, err: errors.New("the client secret has expired")}
		case state == auth.StateExpiring && c.Kind == auth.KindCertificate:
			r.Status, r.Hint = statusWarn, "renew the certificate soon: upload the new one beside the old, list both files in client_certificate, then remove the old"
		case state == auth.StateExpiring:
			r.Status, r.Hint = statusWarn, "rotate the secret soon: add a new one under Certificates & secrets, list its file next to the old one in client_secret_file, then delete the old one"
		case state == auth.StateValid:
			r.Status = statusOK
		}
		out = append(out, r)
	}
	return out
}

// sendTest sends a test message through one path with the same client
// send builds (governor, retry, size routing), so it tests what will run.
func sendTest(ctx context.Context, a *app, cfg *config.Config, p graphmail.Policy, to graphmail.Address) checkResult {
	name := "send test (graph)"
	if p == graphmail.PolicyOnly {
		name = "send test (smtp)"
	}
	r := checkResult{Name: name}
	st, err := setup.New(cfg, a.Log, setup.Options{Policy: p, Tokens: a.Tokens})
	if err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	defer st.Close()
	c := st.Mail
	res, err := c.Send(ctx, &graphmail.Message{
		To:      []graphmail.Address{to},
		Subject: "graphmail doctor test message (" + pathName(p) + ")",
		Text:    "This is a test message from graphmail doctor on " + hostname() + ", sent through " + pathName(p) + ".\n",
	})
	if err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	r.Status, r.Detail = statusOK, fmt.Sprintf("sent <%s> to %s", res.MessageID, to.Address)
	return r
}

func pathName(p graphmail.Policy) string {
	if p == graphmail.PolicyOnly {
		return "SMTP XOAUTH2"
	}
	return "Microsoft Graph"
}

// checkDelegated reports who is signed in and warns when the refresh
// token has not been used for setup.StaleRefreshAfter: Entra ID expires it after
// 90 days of inactivity (AADSTS700082), and then only a person can sign in
// again.
func checkDelegated(cfg *config.Config, now time.Time) checkResult {
	r := checkResult{Name: "credential"}
	path, err := setup.DelegatedCachePath(cfg)
	if err != nil {
		r.Status, r.Detail, r.err = statusFail, err.Error(), err
		return r
	}
	st, ok := tokencache.ReadRefreshState(tokencache.StatePath(path))
	if !ok {
		r.Status, r.Detail = statusWarn, "delegated: no sign-in recorded"
		r.Hint = "run 'graphmail login'"
		return r
	}
	days := int(now.Sub(st.LastRefresh).Hours() / 24)
	r.Detail = fmt.Sprintf("delegated: signed in as %s; refresh token last used %s (%d days ago)", st.User, st.LastRefresh.Local().Format("2006-01-02"), days)
	if now.Sub(st.LastRefresh) >= setup.StaleRefreshAfter {
		r.Status = statusWarn
		r.Hint = fmt.Sprintf("the refresh token expires after 90 days without use (in about %d days); send a message (or run graphmail doctor) regularly, or run 'graphmail login' again", max(90-days, 0))
		return r
	}
	r.Status = statusOK
	return r
}
