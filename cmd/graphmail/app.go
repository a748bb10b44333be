package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
)

// app is the wired-up object graph for one command: one token provider
// shared by Graph and the SMTP fallback.
type app struct {
	cfg     *config.Config
	log     *slog.Logger
	tls     *tls.Config
	http    *http.Client
	tokens  *auth.Provider
	mail    *graphmail.Client
	policy  graphmail.Policy
	closers []func() error
	// smtpUser is who the SMTP fallback authenticates as: the sender
	// mailbox, or with auth.method delegated the signed-in user (who may
	// send from another mailbox).
	smtpUser string
}

// newApp wires the token provider, the Graph client and the fallback from
// cfg. With dryRun no credential is needed and nothing is contacted. The
// mutators adjust the Graph client's configuration last (e.g. a progress
// callback).
func newApp(cfg *config.Config, env *environment, via graphmail.Policy, dryRun bool, mutators ...func(*graphmail.Config)) (*app, error) {
	a := &app{cfg: cfg, log: newLogger(cfg.Log, env)}
	var err error
	if a.tls, err = tlsConfig(cfg.CAFile); err != nil {
		return nil, err
	}
	a.http = newHTTPClient(a.tls)
	a.policy = via
	if a.policy == "" {
		a.policy = graphmail.Policy(cfg.SMTP.Fallback)
	}
	sender := cfg.Sender
	if sender == "" && dryRun {
		sender = "sender@example.invalid"
	}
	gcfg := graphmail.Config{
		Sender:        sender,
		GraphEndpoint: cfg.GraphEndpoint,
		GraphScope:    cfg.GraphScope,
		HTTPClient:    a.http,
		SkipSentItems: !cfg.SaveToSentItems,
		Policy:        a.policy,
		Retry:         graphmail.RetryPolicy{MaxAttempts: cfg.Retry.MaxAttempts, MaxElapsed: cfg.Retry.MaxElapsed},
		LogRecipients: cfg.Log.Recipients,
		Logger:        a.log,
		// The Clients of a process share the mailbox's limits: 4 requests
		// in flight and limits.messages_per_minute.
		MessagesPerMinute: cfg.Limits.MessagesPerMinute,
		LargeMessages:     graphmail.LargeMessages(cfg.LargeMessages),
		MaxFallbackBytes:  cfg.SMTP.MaxMessageSize,
	}
	if !dryRun {
		if a.tokens, err = newTokenProvider(cfg, a.http, a.log); err != nil {
			return nil, err
		}
		a.smtpUser = cfg.Sender
		if cfg.Auth.Method == config.MethodDelegated {
			if a.smtpUser, err = resolveDelegatedSender(cfg, a.tokens, &gcfg); err != nil {
				return nil, err
			}
		}
		gcfg.Credential = a.tokens.TokenCredential()
		if a.policy != graphmail.PolicyNever {
			fb, closeFn, err := newSMTPFallback(cfg, a.tls, a.tokens, a.smtpUser)
			if err != nil {
				return nil, err
			}
			gcfg.Fallback = fb
			a.closers = append(a.closers, closeFn)
		}
	}
	for _, m := range mutators {
		m(&gcfg)
	}
	if a.mail, err = graphmail.New(gcfg); err != nil {
		return nil, err
	}
	return a, nil
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
func (a *app) Close() {
	for _, c := range a.closers {
		_ = c()
	}
}

// newTokenProvider builds the token provider for auth.method.
func newTokenProvider(cfg *config.Config, hc *http.Client, log *slog.Logger) (*auth.Provider, error) {
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
		return newDelegatedProvider(cfg, hc, log, false)
	case config.MethodWorkloadIdentity:
		// No persistent cache: see openTokenCache.
		opts.FederatedTokenFile = cfg.FederatedTokenFile
		return auth.New(opts)
	case config.MethodManagedIdentity:
		return auth.New(auth.Options{ManagedIdentity: &auth.ManagedIdentity{ClientID: cfg.ManagedIdentityClientID}, HTTPClient: hc, Logger: log})
	case config.MethodCertificate:
	default:
		opts.ClientSecret = cfg.ClientSecret.Reveal()
	}
	if cfg.Auth.Method == config.MethodCertificate {
		cert, err := auth.LoadCertificate(cfg.ClientCertificate, cfg.ClientCertificatePassword.Reveal())
		if err != nil {
			return nil, &config.Error{Key: "client_certificate", Problem: err.Error(), Hint: "give a PEM file with the certificate and its unencrypted private key, or a .pfx with client_certificate_password"}
		}
		opts.Certificate = cert
	}
	opts.Cache = openTokenCache(cfg, opts, log)
	return auth.New(opts)
}

// newHTTPClient is the client for every call to the authority and Graph:
// it trusts tlsCfg's roots (ca_file) and honours HTTPS_PROXY.
func newHTTPClient(tlsCfg *tls.Config) *http.Client {
	return &http.Client{
		Timeout:   100 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 15 * time.Second, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: true},
	}
}

// tlsConfig trusts the system roots plus ca_file.
func tlsConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
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

// newLogger builds the slog logger from the log section: text or JSON on
// standard error.
func newLogger(l config.Log, env *environment) *slog.Logger {
	var level slog.Level
	switch l.Level {
	case "debug":
		level = slog.LevelDebug
	case "warn":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: level}
	if l.Format == "json" {
		return slog.New(slog.NewJSONHandler(env.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(env.stderr, opts))
}
