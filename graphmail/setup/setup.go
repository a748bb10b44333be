// Package setup builds graphmail's objects from a config.Config: the TLS
// settings and HTTP client, the token provider (with its encrypted cache),
// the Graph client with its governor, retry policy and size routing, and
// the SMTP XOAUTH2 fallback on the same tokens. It is the one place where
// configuration meets the library, so send, doctor, sendmail and serve
// build the same client.
package setup

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/graphmail/budget"
)

// Stack is the wired-up object graph for one command or daemon: one HTTP
// client, one token provider shared by Graph and the SMTP fallback, one
// Graph client with its governor, retry policy, size routing and fallback.
type Stack struct {
	// Config is the configuration the stack was built from.
	Config *config.Config
	// Log is the logger every part shares.
	Log *slog.Logger
	// TLS trusts the system roots plus ca_file.
	TLS *tls.Config
	// HTTP is the client for the authority and Graph.
	HTTP *http.Client
	// Tokens is the token provider (nil with Options.DryRun).
	Tokens *auth.Provider
	// Mail is the Graph client with the fallback the policy allows.
	Mail *graphmail.Client
	// Policy is the fallback policy in force.
	Policy graphmail.Policy
	// SMTPUser is who the SMTP fallback authenticates as: the sender
	// mailbox, or with auth.method delegated the signed-in user (who may
	// send from another mailbox).
	SMTPUser string
	// Sinks are the log's file and syslog sinks when the stack was given
	// them (Options.Sinks): the daemon reopens the file on SIGHUP.
	Sinks *Log
	// Budget is the per-mailbox budget the Graph client shares with the
	// host's other processes (limits.budget_file) or with a cluster
	// (Options.Budget); nil with none or Options.DryRun.
	Budget graphmail.MailboxBudget

	// budgetSwitch is the budget the Graph client waits for
	// (UseBudgetStore); nil for a dry run.
	budgetSwitch *switchBudget
	closers      []func() error
}

// Options adjust what New builds.
type Options struct {
	// Policy overrides smtp.fallback ("" keeps it).
	Policy graphmail.Policy
	// DryRun builds a client that needs no credential and contacts
	// nothing.
	DryRun bool
	// Mutate adjusts the Graph client's configuration last (e.g. a
	// progress callback).
	Mutate []func(*graphmail.Config)
	// Tokens reuses a token provider (and its cached tokens) instead of
	// building a new one.
	Tokens *auth.Provider
	// Sinks, if set, are closed with the stack (see OpenLog); New logs
	// through Sinks.Logger when its log argument is nil.
	Sinks *Log
	// Budget replaces the per-mailbox budget shared through
	// limits.budget_file (for example with a cluster's); nil keeps it.
	Budget graphmail.MailboxBudget
}

// New wires the token provider, the Graph client and the fallback from cfg,
// logging to log. send, doctor --send-test, sendmail and serve all build
// their client here, so every path has the same governor, retry policy,
// size routing and fallback.
func New(cfg *config.Config, log *slog.Logger, o Options) (*Stack, error) {
	if log == nil && o.Sinks != nil {
		log = o.Sinks.Logger
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Stack{Config: cfg, Log: log, Sinks: o.Sinks}
	for _, e := range cfg.ExposedSecrets() {
		// As ssh does for a private key, but a warning: refusing would
		// stop mail on hosts that worked yesterday.
		log.Warn(e.String(), "key", e.Key)
	}
	if o.Sinks != nil {
		a.closers = append(a.closers, o.Sinks.Close)
	}
	via, dryRun, mutators := o.Policy, o.DryRun, o.Mutate
	var err error
	if a.TLS, err = TLSConfig(cfg.CAFile); err != nil {
		return nil, err
	}
	a.HTTP = NewHTTPClient(a.TLS)
	a.Policy = via
	if a.Policy == "" {
		a.Policy = graphmail.Policy(cfg.SMTP.Fallback)
	}
	sender := cfg.Sender
	if sender == "" && dryRun {
		sender = "sender@example.invalid"
	}
	gcfg := graphmail.Config{
		Sender:        sender,
		GraphEndpoint: cfg.GraphEndpoint,
		GraphScope:    cfg.GraphScope,
		HTTPClient:    a.HTTP,
		SkipSentItems: !cfg.SaveToSentItems,
		Policy:        a.Policy,
		Retry:         graphmail.RetryPolicy{MaxAttempts: cfg.Retry.MaxAttempts, MaxElapsed: cfg.Retry.MaxElapsed},
		LogRecipients: cfg.Log.Recipients,
		LogSubject:    cfg.Log.Subject,
		Logger:        a.Log,
		// The Clients of a process share the mailbox's limits: 4 requests
		// in flight and limits.messages_per_minute.
		MessagesPerMinute: cfg.Limits.MessagesPerMinute,
		LargeMessages:     graphmail.LargeMessages(cfg.LargeMessages),
		MaxFallbackBytes:  cfg.SMTP.MaxMessageSize,
	}
	if !dryRun {
		if a.Tokens = o.Tokens; a.Tokens == nil {
			if a.Tokens, err = NewTokenProvider(cfg, a.HTTP, a.Log); err != nil {
				return nil, err
			}
		}
		a.SMTPUser = cfg.Sender
		if cfg.Auth.Method == config.MethodDelegated {
			if a.SMTPUser, err = resolveDelegatedSender(cfg, a.Tokens, &gcfg); err != nil {
				return nil, err
			}
		}
		gcfg.Credential = a.Tokens.TokenCredential()
		if a.Policy != graphmail.PolicyNever {
			// App-only tokens may authenticate as any mailbox: the
			// fallback authenticates as the mailbox it sends from (the
			// sender, or a relay mailbox), so MAIL FROM matches it. A
			// delegated token is the signed-in user's alone.
			fbUser := ""
			if cfg.Auth.Method == config.MethodDelegated {
				fbUser = a.SMTPUser
			}
			fb, closeFn, err := newSMTPFallback(cfg, a.TLS, a.Tokens, fbUser)
			if err != nil {
				return nil, err
			}
			gcfg.Fallback = fb
			a.closers = append(a.closers, closeFn)
		}
	}
	if !dryRun {
		// The host's processes (or a cluster) share the mailbox's limits.
		if a.Budget = o.Budget; a.Budget == nil {
			a.Budget = newBudget(cfg, a.Log)
		}
		a.budgetSwitch = &switchBudget{local: a.Budget, limits: budget.Limits{PerWindow: cfg.Limits.MessagesPerMinute, InFlight: mailboxConcurrency}, log: a.Log}
		gcfg.Budget = a.budgetSwitch
	}
	if dryRun {
		dryRunConfig(cfg, a.Policy, &gcfg)
	}
	for _, m := range mutators {
		m(&gcfg)
	}
	if a.Mail, err = graphmail.New(gcfg); err != nil {
		return nil, err
	}
	return a, nil
}

// dryRunConfig makes a dry run's client plan like the real one without a
// credential: a stand-in fallback where the policy allows one, and with
// auth.method delegated the signed-in user's /me when the sender is unset
// or is delegated.user (the real run asks the token cache who signed in).
func dryRunConfig(cfg *config.Config, policy graphmail.Policy, gcfg *graphmail.Config) {
	if policy != graphmail.PolicyNever {
		gcfg.Fallback = dryRunFallback{}
	}
	if cfg.Auth.Method == config.MethodDelegated {
		if cfg.Sender == "" && cfg.Delegated.User != "" {
			gcfg.Sender = cfg.Delegated.User
		}
		gcfg.UseMe = cfg.Sender == "" || strings.EqualFold(cfg.Sender, cfg.Delegated.User)
	}
}

// resolveDelegatedSender finds the signed-in user and returns their name:
// sender defaults to them, and their own mailbox is addressed as /me;
// another sender is a mailbox they may send from (users/{sender}).
func resolveDelegatedSender(cfg *config.Config, tokens *auth.Provider, gcfg *graphmail.Config) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	acct, err := tokens.Account(ctx)
	if err != nil {
		return "", err
	}
	if cfg.Sender == "" {
		cfg.Sender = acct.Username
	}
	gcfg.Sender = cfg.Sender
	gcfg.UseMe = strings.EqualFold(cfg.Sender, acct.Username)
	return acct.Username, nil
}

// Close releases connections (pooled SMTP sessions).
func (a *Stack) Close() {
	for _, c := range a.closers {
		_ = c()
	}
}

// NewTokenProvider builds the token provider for auth.method.
func NewTokenProvider(cfg *config.Config, hc *http.Client, log *slog.Logger) (*auth.Provider, error) {
	opts := auth.Options{
		AuthorityHost:     cfg.AuthorityHost,
		TenantID:          cfg.TenantID,
		ClientID:          cfg.ClientID,
		HTTPClient:        hc,
		InstanceDiscovery: cfg.InstanceDiscovery,
		Logger:            log,
	}
	switch cfg.Auth.Method {
	case config.MethodDelegated:
		return NewDelegatedProvider(cfg, hc, log, false)
	case config.MethodWorkloadIdentity:
		// No persistent cache: see tokenCacheFor.
		opts.FederatedTokenFile = cfg.FederatedTokenFile
		return auth.New(opts)
	case config.MethodManagedIdentity:
		return auth.New(auth.Options{ManagedIdentity: &auth.ManagedIdentity{ClientID: cfg.ManagedIdentityClientID}, HTTPClient: hc, Logger: log})
	default:
		// Files are read again when they change: a rotated secret or
		// certificate needs no restart.
		opts.Files, opts.SecretExpires = CredentialFiles(cfg)
		if opts.Files == nil {
			opts.ClientSecret = cfg.ClientSecret.Reveal()
		}
	}
	opts.CacheFor = tokenCacheFor(cfg, log)
	p, err := auth.New(opts)
	var fe *auth.CredentialFileError
	if errors.As(err, &fe) {
		key, hint := "client_secret_file", "write the secret's value (not its ID) from Certificates & secrets into the file"
		if cfg.Auth.Method == config.MethodCertificate {
			key, hint = "client_certificate", "give a PEM file with the certificate and its unencrypted private key, or a .pfx with client_certificate_password"
		}
		return nil, &config.Error{Key: key, Problem: strings.TrimPrefix(err.Error(), "auth: "), Hint: hint, Err: err}
	}
	return p, err
}

// CredentialFiles returns the credential files of cfg (client_secret_file
// or client_certificate) for auth.Options.Files and
// Provider.SetCredentialFiles, with client_secret_expires; nil when the
// credential is not read from files (a secret given directly, or another
// method).
func CredentialFiles(cfg *config.Config) (*auth.CredentialFiles, time.Time) {
	switch {
	case cfg.Auth.Method == config.MethodCertificate && len(cfg.ClientCertificates) > 0:
		return &auth.CredentialFiles{Certificates: cfg.ClientCertificates, CertificatePassword: cfg.ClientCertificatePassword.Reveal()}, time.Time{}
	case cfg.Auth.Method == config.MethodSecret && len(cfg.ClientSecretFiles) > 0:
		return &auth.CredentialFiles{Secrets: cfg.ClientSecretFiles}, cfg.ClientSecretExpires
	}
	return nil, cfg.ClientSecretExpires
}

// NewHTTPClient is the client for every call to the authority and Graph:
// it trusts tlsCfg's roots (ca_file) and honours HTTPS_PROXY.
func NewHTTPClient(tlsCfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   100 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 15 * time.Second, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true},
	}
}

// TLSConfig trusts the system roots plus ca_file.
func TLSConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: systemRoots()}
	if caFile == "" {
		return c, nil
	}
	pool := c.RootCAs
	if pool == nil {
		if p, err := x509.SystemCertPool(); err == nil && p != nil {
			pool = p
		} else {
			pool = x509.NewCertPool()
		}
	} else {
		pool = pool.Clone()
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, &config.Error{Key: "ca_file", Problem: err.Error(), Hint: "point ca_file at a readable PEM bundle, or remove the key"}
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, &config.Error{Key: "ca_file", Problem: fmt.Sprintf("%s holds no PEM certificate", caFile), Hint: "ca_file must contain one or more -----BEGIN CERTIFICATE----- blocks"}
	}
	c.RootCAs = pool
	return c, nil
}

// MailDomain is the domain of addr (the sender), for Message-IDs;
// "graphmail.local" without one.
func MailDomain(addr string) string {
	if _, d, ok := strings.Cut(addr, "@"); ok {
		return d
	}
	return "graphmail.local"
}
