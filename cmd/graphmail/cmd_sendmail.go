package main

import (
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/graphmail/sendmailcompat"
	"github.com/graphmail/graphmail/graphmail/spool"
)

func newSendmailCommand(env *environment) *cobra.Command {
	return &cobra.Command{
		Use:   "sendmail [-t] [-i] [-oi] [-f sender] [-F name] [recipient ...]",
		Short: "A sendmail drop-in: read a message on standard input and send it",
		Long: `Behave like /usr/sbin/sendmail, as cron, mailx, logwatch and PHP's mail()
expect: read a message on standard input, take recipients from the command
line (and with -t from the To, Cc and Bcc headers), fill in a missing From,
Date and Message-ID, and send it through Microsoft 365. With sendmail.spool
the message is dropped into the spool of a running graphmail serve instead.
A binary named (or symlinked as) sendmail behaves the same; it takes its
config file from $GRAPHMAIL_CONFIG or the usual places. Exit codes are
sysexits: 75 makes the caller retry later.`,
		Example: `  ln -s /usr/local/bin/graphmail /usr/sbin/sendmail
  echo "Subject: test" | sendmail -oi you@contoso.com
  printf 'To: you@contoso.com\nSubject: hi\n\nbody\n' | graphmail sendmail -t`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, a := range args {
				if a == "--help" || a == "-h" {
					return cmd.Help()
				}
			}
			return runSendmail(cmd, env, args)
		},
	}
}

func runSendmail(cmd *cobra.Command, env *environment, args []string) error {
	opts, err := sendmailcompat.ParseArgs(args)
	if err != nil {
		return &usageError{err}
	}
	if !opts.ExtractRecipients && len(opts.Recipients) == 0 {
		return usagef("no recipients: give them on the command line, or use -t to read To, Cc and Bcc")
	}
	raw, err := io.ReadAll(env.stdin)
	if err != nil {
		return &inputError{err: fmt.Errorf("reading the message from standard input: %w", err)}
	}
	cfg, err := loadConfig(cmd, env, true)
	if err != nil {
		return err
	}
	envl, msg, err := sendmailcompat.Prepare(raw, opts, sendmailcompat.Defaults{From: cfg.Sender, Hostname: setup.MailDomain(cfg.Sender), Now: time.Now()})
	if err != nil {
		return &inputError{err: err, hint: "the message must be RFC 5322 text with a header; give recipients on the command line or use -t"}
	}
	// Quiet success: standard error (which cron mails) shows warnings and
	// errors only, unless log.level was set; log.file and log.syslog still
	// record every message.
	var quiet *slog.Level
	if cfg.Sources["log.level"] == config.SourceDefault {
		warn := slog.LevelWarn
		quiet = &warn
	}
	a, err := buildApp(cfg, env, setup.Options{}, quiet)
	if err != nil {
		return err
	}
	defer a.Close()
	if cfg.Sendmail.Spool {
		sp, err := daemon.OpenSpool(cfg, a.Log)
		if err != nil {
			return err
		}
		dir := cfg.Spool.Dir
		id, err := sp.Enqueue(cmd.Context(), spool.Envelope{From: envl.From, To: envl.To}, msg, spool.Meta{Client: "sendmail"})
		if err != nil {
			return &tempError{err: err, hint: "the spool " + dir + " could not take the message; check its permissions and free space"}
		}
		a.Log.Info("spooled", "id", string(id), "recipients", len(envl.To))
		return nil
	}
	_, err = a.Mail.SendEnvelope(cmd.Context(), envl.To, msg)
	return err
}
