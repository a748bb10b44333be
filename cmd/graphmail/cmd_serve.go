package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/relay"
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
	cfg, err := loadConfig(cmd, env, true)
	if err != nil {
		return err
	}
	a, err := buildApp(cfg, env, setup.Options{}, true)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := daemon.New(daemon.Options{Stack: a, Reload: func() (*config.Config, error) { return loadConfig(cmd, env, true) }})
	if err != nil {
		return err
	}
	if err := d.Listen(); err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reload := make(chan struct{})
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		for {
			select {
			case <-hup:
			case <-stopped:
				return
			}
			if err := a.Sinks.Reopen(); err != nil {
				a.Log.Error("reopening log.file failed", "error", err.Error())
			}
			select {
			case reload <- struct{}{}:
			case <-stopped:
				return
			}
		}
	}()
	// With log.format json standard error carries JSON only: the
	// daemon's own "serving" record says what this line says.
	plain := cfg.Log.Format != config.LogJSON
	if plain {
		fmt.Fprintf(env.stderr, "graphmail: serving SMTP on %s (spool %s); Ctrl-C or SIGTERM to stop\n", d.Addr(), cfg.Spool.Dir)
	}
	if err := d.Run(cmd.Context(), reload); err != nil {
		return err
	}
	if plain {
		fmt.Fprintln(env.stderr, "graphmail: stopped; undelivered messages stay in the spool")
	} else {
		a.Log.Info("stopped; undelivered messages stay in the spool")
	}
	return nil
}
