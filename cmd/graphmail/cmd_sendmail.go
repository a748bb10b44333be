package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
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
line (and with -t from the To, Cc and Bcc headers), resolve local names
(root, www-data) through the aliases file, fill in a missing From, Date and
Message-ID, and send it through Microsoft 365 to exactly the envelope
recipients. On a failure that waiting can fix, the message is queued in
spool.dir and sendmail exits 0; graphmail serve, graphmail queue run,
sendmail -q or the next sendmail call delivers it. With sendmail.spool it is
only queued (no credential needed). Success prints nothing; log.file and
log.syslog record every message. -bp lists the queue, -q runs it once.
The config comes from -C/--config, $GRAPHMAIL_CONFIG or the user and system
locations, never from the working directory.`,
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
	// With sendmail.spool the drop-in only queues: it needs spool.dir, not
	// the credential (which, in the shipped set-up, only the daemon can
	// read), so any local user can submit.
	cfg, err := loadSendmailConfig(env, opts, false)
	if err != nil {
		return err
	}
	if opts.Mode == sendmailcompat.ModeSend && !cfg.Sendmail.Spool {
		if cfg, err = loadSendmailConfig(env, opts, true); err != nil {
			return err
		}
	}
	switch opts.Mode {
	case sendmailcompat.ModeListQueue:
		sp, err := openExistingSpool(env, cfg)
		if err != nil {
			return err
		}
		defer sp.Close()
		return printQueue(env, sp)
	case sendmailcompat.ModeRunQueue:
		if cfg, err = loadSendmailConfig(env, opts, true); err != nil {
			return err
		}
		return runQueue(cmd.Context(), env, cfg)
	}
	if !opts.ExtractRecipients && len(opts.Recipients) == 0 {
		return usagef("no recipients: give them on the command line, or use -t to read To, Cc and Bcc")
	}
	raw, err := io.ReadAll(env.stdin)
	if err != nil {
		return &inputError{err: fmt.Errorf("reading the message from standard input: %w", err)}
	}
	// Quiet success: standard error (which cron mails) shows warnings and
	// errors only, unless log.level was set; log.file and log.syslog still
	// record every message (see buildApp).
	a, err := buildApp(cfg, env, setup.Options{DryRun: cfg.Sendmail.Spool}, false)
	if err != nil {
		return err
	}
	defer a.Close()
	setup.WarnCredentialExpiry(a, time.Now())
	var aliases *sendmailcompat.Aliases
	if cfg.Aliases != "" {
		if aliases, err = sendmailcompat.LoadAliases(cfg.Aliases); err != nil {
			return err
		}
		for _, w := range aliases.Warnings {
			a.Log.Warn("aliases: entry skipped", "file", cfg.Aliases, "problem", w.String())
		}
	}
	envl, msg, err := sendmailcompat.Prepare(raw, opts, sendmailcompat.Defaults{
		From: cfg.Sender, Hostname: setup.MailDomain(cfg.Sender), Now: time.Now(),
		Aliases: aliases, LocalDomains: localDomains(),
	})
	if err != nil {
		if graphmail.ClassOf(err) == graphmail.BadMessage {
			return &inputError{err: err, hint: "the message must be RFC 5322 text with a header; give recipients on the command line or use -t"}
		}
		return err
	}
	_, err = daemon.Submit(cmd.Context(), a, daemon.Submission{
		Envelope: spool.Envelope{From: envl.From, To: envl.To},
		Raw:      msg,
		Spool:    cfg.Sendmail.Spool,
	})
	return err
}

// loadSendmailConfig loads the configuration of the sendmail drop-in: the
// file of -C/--config, $GRAPHMAIL_CONFIG, or the user and system
// locations — never a graphmail.yaml in the caller's working directory
// (cron, PHP and mailx run in directories graphmail does not own).
func loadSendmailConfig(env *environment, opts sendmailcompat.Options, requireCredentials bool) (*config.Config, error) {
	set := map[string]any{}
	for _, p := range opts.Set {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--set %q: write it as key=value, e.g. --set smtp.fallback=never", p)
		}
		set[strings.ToLower(strings.TrimSpace(k))] = v
	}
	var paths []string
	for _, p := range config.DefaultSearchPaths(env.lookupEnv) {
		if filepath.IsAbs(p) {
			paths = append(paths, p)
		}
	}
	cfg, err := config.Load(config.Options{
		ConfigFile:         opts.ConfigFile,
		Overrides:          set,
		LookupEnv:          env.lookupEnv,
		Environ:            env.environ,
		SearchPaths:        paths,
		RequireCredentials: requireCredentials,
	})
	if err == nil {
		env.useConfig(cfg)
	}
	return cfg, err
}

// localDomains are the host names whose addresses are local (root@host):
// this host's name and its first label.
func localDomains() []string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return nil
	}
	out := []string{h}
	if short, _, ok := strings.Cut(h, "."); ok && short != "" {
		out = append(out, short)
	}
	return out
}
