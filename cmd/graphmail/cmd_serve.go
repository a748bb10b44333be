package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/relay"
	"github.com/graphmail/graphmail/graphmail/spool"
)

func newServeCommand(env *environment) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the SMTP relay daemon: accept mail from local apps, spool it, deliver it through Microsoft 365",
		Long: `Accept mail over SMTP from printers, ERPs, monitoring and anything else that
only speaks SMTP, write each message to a durable spool (fsynced before the
250 reply) and deliver it through Microsoft Graph with the SMTP fallback,
retrying for spool.max_age. It is never an open relay: clients must come from
serve.allow_nets or authenticate with an account from serve.accounts.

SIGTERM/SIGINT stop accepting, let deliveries in flight finish and leave the
rest queued; SIGHUP reloads allow-lists, accounts and limits.`,
		Example: `  graphmail serve --config /etc/graphmail/config.yaml
  swaks --server 127.0.0.1:2525 --from reports@contoso.com --to you@contoso.com
  echo secret | graphmail serve hash-password`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return runServe(cmd, env) },
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "hash-password",
		Short:   "Read a password on standard input and print its argon2id hash for serve.accounts",
		Example: "  printf '%s' 'the password' | graphmail serve hash-password",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := io.ReadAll(env.stdin)
			if err != nil {
				return &inputError{err: err}
			}
			pw := strings.TrimRight(string(b), "\r\n")
			if pw == "" {
				return usagef("no password on standard input")
			}
			h, err := relay.HashPassword(pw)
			if err != nil {
				return err
			}
			env.printf("%s\n", h)
			return nil
		},
	})
	return cmd
}

func runServe(cmd *cobra.Command, env *environment) error {
	ctx := cmd.Context()
	cfg, err := loadConfig(cmd, env, true)
	if err != nil {
		return err
	}
	a, err := newApp(cfg, env, "", false)
	if err != nil {
		return err
	}
	defer a.Close()
	sp, dir, err := openSpool(cfg, env, a)
	if err != nil {
		return err
	}
	m := newMetrics()
	opts, err := relayOptions(cfg, a, sp, m)
	if err != nil {
		return err
	}
	srv, err := relay.New(opts)
	if err != nil {
		return &config.Error{Key: "serve", Problem: err.Error(), Hint: "check the serve section"}
	}
	ln, err := net.Listen("tcp", cfg.Serve.Listen)
	if err != nil {
		return &config.Error{Key: "serve.listen", Problem: err.Error(), Hint: "pick a free address; ports below 1024 need root or CAP_NET_BIND_SERVICE"}
	}
	serveErr := make(chan error, 3)
	go func() { serveErr <- srv.Serve(ln) }()
	if cfg.Serve.TLSListen != "" {
		tln, err := net.Listen("tcp", cfg.Serve.TLSListen)
		if err != nil {
			srv.Close()
			return &config.Error{Key: "serve.tls_listen", Problem: err.Error(), Hint: "pick a free address"}
		}
		go func() { serveErr <- srv.ServeTLS(tln) }()
	}
	m.listening.Store(true)

	scope := cfg.GraphScope
	if cfg.SMTP.Fallback == config.FallbackOnly {
		scope = cfg.SMTP.Scope
	}
	var metricsSrv *http.Server
	if cfg.Serve.MetricsListen != "" {
		mln, err := net.Listen("tcp", cfg.Serve.MetricsListen)
		if err != nil {
			srv.Close()
			return &config.Error{Key: "serve.metrics_listen", Problem: err.Error(), Hint: "pick a free address"}
		}
		metricsSrv = &http.Server{Handler: (&serveMetrics{m: m, sp: sp, dir: dir, a: a, tokScope: scope}).routes(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = metricsSrv.Serve(mln) }()
		a.log.Info("metrics listening", "addr", mln.Addr().String())
	}

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	go func() {
		runDone <- sp.Run(runCtx, spoolDeliverer{a.mail}, spool.RunOptions{
			Workers: cfg.Spool.Workers,
			MaxAge:  cfg.Spool.MaxAge,
			Backoff: func(attempt int) time.Duration {
				return min(cfg.Spool.RetryInterval<<min(max(attempt-1, 0), 16), time.Hour)
			},
			OnEvent: m.observe,
		})
	}()
	fmt.Fprintf(env.stderr, "graphmail: serving SMTP on %s (spool %s); Ctrl-C or SIGTERM to stop\n", ln.Addr(), dir)
	a.log.Info("serving", "smtp", ln.Addr().String(), "spool", dir, "sender", cfg.Sender)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-hup:
			reloadRelay(cmd, env, srv, a, sp, m)
		case err := <-runDone:
			srv.Close()
			if errors.Is(err, spool.ErrLocked) {
				return &config.Error{Key: "spool.dir", Problem: "another graphmail serve is using " + dir, Hint: "stop it, or give this one its own spool.dir"}
			}
			return err
		case err := <-serveErr:
			stopRun()
			<-runDone
			return err
		case <-ctx.Done():
			a.log.Info("stopping: no new connections; deliveries in flight may finish")
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = srv.Shutdown(shutCtx)
			cancel()
			stopRun()
			err := <-runDone
			if metricsSrv != nil {
				_ = metricsSrv.Close()
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			fmt.Fprintln(env.stderr, "graphmail: stopped; undelivered messages stay in the spool")
			return nil
		}
	}
}

// reloadRelay re-reads the configuration on SIGHUP and applies the
// relay's allow-lists, accounts and limits without dropping connections.
func reloadRelay(cmd *cobra.Command, env *environment, srv *relay.Server, a *app, sp *spool.Spool, m *metrics) {
	cfg, err := loadConfig(cmd, env, true)
	if err != nil {
		a.log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return
	}
	opts, err := relayOptions(cfg, a, sp, m)
	if err == nil {
		err = srv.Reload(opts)
	}
	if err != nil {
		a.log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return
	}
	a.log.Info("configuration reloaded", "allow_nets", len(opts.AllowNets), "accounts", len(opts.Accounts))
}

// relayOptions turns the serve section into relay options whose Submit
// spools the message durably before the client gets 250.
func relayOptions(cfg *config.Config, a *app, sp *spool.Spool, m *metrics) (relay.Options, error) {
	opts := relay.Options{
		Addr:                 cfg.Serve.Listen,
		TLSAddr:              cfg.Serve.TLSListen,
		Domain:               hostname(),
		AllowNets:            cfg.Serve.AllowNets,
		AllowedFromAnonymous: cfg.Serve.AllowedFrom,
		MaxMessageBytes:      cfg.Serve.MaxMessageSize,
		MaxRecipients:        cfg.Serve.MaxRecipients,
		MessagesPerMinute:    cfg.Serve.MessagesPerMinute,
		ConnsPerMinute:       cfg.Serve.ConnectionsPerMinute,
		Logger:               a.log,
		Submit: func(ctx context.Context, env relay.Envelope, raw []byte) error {
			client := env.ClientAddr.String()
			if env.User != "" {
				client += " user=" + env.User
			}
			id, err := sp.Enqueue(ctx, spool.Envelope{From: env.From, To: env.To}, raw, spool.Meta{Client: client})
			if err != nil {
				a.log.Error("spooling failed; the client will retry", "error", err.Error())
				return err
			}
			m.receivedOne()
			a.log.Info("spooled", "id", string(id), "client", client, "recipients", len(env.To), "bytes", len(raw))
			return nil
		},
	}
	if len(cfg.Serve.Accounts) > 0 {
		opts.Accounts = map[string]relay.Account{}
		for name, acc := range cfg.Serve.Accounts {
			from := acc.AllowedFrom
			if len(from) == 0 {
				from = []string{cfg.Sender}
			}
			opts.Accounts[name] = relay.Account{PasswordHash: acc.PasswordHash, AllowedFrom: from}
		}
	}
	if cfg.Serve.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Serve.TLSCert, cfg.Serve.TLSKey)
		if err != nil {
			return opts, &config.Error{Key: "serve.tls_cert", Problem: err.Error(), Hint: "give a PEM certificate (with its chain) and its unencrypted key"}
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}
