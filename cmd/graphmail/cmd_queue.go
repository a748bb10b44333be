package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/daemon"
	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/graphmail/spool"
)

func newQueueCommand(env *environment) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "queue list|show ID|retry ID|all|purge ID|run",
		Short: "Inspect and act on the spool of graphmail serve",
		Long: `Inspect and act on the durable spool that graphmail serve delivers from
(spool.dir, or the NATS stream with spool.backend: nats). list shows queued and dead messages; show prints one with its
envelope, attempts and last error; retry makes a message (or all) due now,
taking dead letters back into the queue; purge deletes one.`,
		Example: `  graphmail queue list
  graphmail queue show 20261125T101500.123456789Z-1a2b3c
  graphmail queue retry all
  graphmail queue purge 20261125T101500.123456789Z-1a2b3c`,
		Args: unknownCommand,
		RunE: groupHelp,
	}
	open := func(cmd *cobra.Command) (spool.Queue, error) {
		cfg, err := loadConfig(cmd, env, false)
		if err != nil {
			return nil, err
		}
		return openExistingSpool(env, cfg)
	}
	oneID := func(args []string) (spool.ID, error) {
		if len(args) != 1 {
			return "", usagef("give exactly one message ID (see graphmail queue list)")
		}
		return spool.ID(args[0]), nil
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "run",
		Short: "Deliver every message that is due once, then exit (for a timer or cron when no daemon runs)",
		Long: `Deliver, once each, the queued messages that are due — with the same retry
schedule and dead-letter rules as graphmail serve — and exit. Submissions
in maildrop/ are taken into the queue first. When graphmail serve is running
on the same spool it delivers, and queue run exits 0 at once. sendmail -q
does the same.`,
		Example: "  graphmail queue run --config /etc/graphmail/config.yaml",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, env, true)
			if err != nil {
				return err
			}
			return runQueue(cmd.Context(), env, cfg)
		},
	})
	var listJSON, showJSON bool
	list := &cobra.Command{
		Use:     "list",
		Short:   "List queued and dead messages, oldest first",
		Example: "  graphmail queue list --config /etc/graphmail/config.yaml\n  graphmail queue list --json | jq -r '.messages[] | select(.state==\"deadletter\") | .id'",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sp, err := open(cmd)
			if err != nil {
				return err
			}
			defer sp.Close()
			if listJSON {
				return printQueueJSON(env, sp)
			}
			return printQueue(env, sp)
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")
	cmd.AddCommand(list)
	show := &cobra.Command{
		Use:     "show ID",
		Short:   "Show one message: envelope, attempts, last error, headers",
		Example: "  graphmail queue show 20261125T101500.123456789Z-1a2b3c\n  graphmail queue show --json 20261125T101500.123456789Z-1a2b3c",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := oneID(args)
			if err != nil {
				return err
			}
			sp, err := open(cmd)
			if err != nil {
				return err
			}
			defer sp.Close()
			it, raw, err := sp.Show(id)
			if err != nil {
				return queueErr(err)
			}
			if showJSON {
				return env.printJSON(newQueueMessage(it, raw[:min(it.Header.Size, len(raw))]))
			}
			env.printf("id:          %s\nstate:       %s\nmessage-id:  <%s>\nreceived:    %s\nclient:      %s\nfrom:        %s\nrecipients:  %d\nattempts:    %d\nsize:        %d\n",
				it.ID, it.State, it.MessageID(), it.Meta.Received.Format(time.RFC3339), it.Meta.Client, it.Envelope.From, len(it.Envelope.To), it.Meta.Attempts, it.Size)
			env.printf("spool:       %s\n", sp.Dir())
			if it.Meta.Mailbox != "" {
				env.printf("mailbox:     %s\n", it.Meta.Mailbox)
			}
			if it.Header.From != "" {
				env.printf("header from: %s\n", quoteControls([]byte(it.Header.From)))
			}
			if it.Header.Subject != "" {
				env.printf("subject:     %s\n", quoteControls([]byte(it.Header.Subject)))
			}
			if it.Meta.LastError != "" {
				env.printf("last error:  %s\n", quoteControls([]byte(it.Meta.LastError)))
			}
			if len(it.Meta.Pending) > 0 {
				env.printf("pending:     %d of %d recipients (the others received it)\n", len(it.Meta.Pending), len(it.Envelope.To))
			}
			if s := it.Meta.Submitted; s != nil {
				env.printf("submitted:   %s via %s %s%s\n", s.At.Format(time.RFC3339), s.Receipt.Path, s.Receipt.RequestID, s.Receipt.Reply)
			}
			if d := it.Meta.Dead; d != nil {
				env.printf("dead:        %s (%s)\n", d.At.Format(time.RFC3339), d.Reason)
			}
			env.printf("\n%s", quoteControls(raw[:min(it.Header.Size, len(raw))]))
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")
	cmd.AddCommand(show)
	cmd.AddCommand(&cobra.Command{
		Use:     "retry ID|all",
		Short:   "Make a message (or all) due now; dead letters go back to the queue",
		Example: "  graphmail queue retry all\n  graphmail queue retry 20261125T101500.123456789Z-1a2b3c",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("give a message ID or all")
			}
			sp, err := open(cmd)
			if err != nil {
				return err
			}
			defer sp.Close()
			if args[0] == "all" {
				n, err := sp.RetryAll()
				if err != nil {
					return err
				}
				env.printf("%d message(s) due now\n", n)
				return nil
			}
			if err := sp.Retry(spool.ID(args[0])); err != nil {
				return queueErr(err)
			}
			env.printf("%s due now\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:     "purge ID",
		Short:   "Delete a message from the spool",
		Example: "  graphmail queue purge 20261125T101500.123456789Z-1a2b3c",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := oneID(args)
			if err != nil {
				return err
			}
			sp, err := open(cmd)
			if err != nil {
				return err
			}
			defer sp.Close()
			if err := sp.Purge(id); err != nil {
				return queueErr(err)
			}
			env.printf("%s purged\n", id)
			return nil
		},
	})
	return cmd
}

func queueErr(err error) error {
	if errors.Is(err, spool.ErrNotFound) {
		return &inputError{err: err, hint: "see graphmail queue list for the IDs"}
	}
	if errors.Is(err, spool.ErrBusy) {
		return &tempError{err: err, hint: "the message is being delivered right now; try again in a moment"}
	}
	return err
}

// tempError is a failure worth retrying later (exit 75).
type tempError struct {
	err  error
	hint string
}

func (e *tempError) Error() string   { return e.err.Error() }
func (e *tempError) Unwrap() error   { return e.err }
func (e *tempError) Temporary() bool { return true }
func (e *tempError) Hint() string    { return e.hint }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// quoteControls returns b for a terminal: control characters other than
// tab and line endings (escape sequences in a hostile header) are shown
// as \xNN instead of being written raw.
func quoteControls(b []byte) string {
	var out strings.Builder
	for _, c := range b {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\n' || c == 0x7f {
			fmt.Fprintf(&out, "\\x%02x", c)
			continue
		}
		out.WriteByte(c)
	}
	return out.String()
}

// printQueue lists the queued and dead messages of sp (queue list, and
// sendmail -bp like mailq).
func printQueue(env *environment, sp spool.Queue) error {
	items, err := sp.List()
	if err != nil {
		return err
	}
	env.printf("spool: %s\n", sp.Dir())
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATE\tAGE\tATTEMPTS\tNEXT\tFROM\tRCPTS\tSIZE\tSUBJECT\tLAST ERROR")
	for _, it := range items {
		next := "-"
		if it.State == spool.StateQueued && !it.Meta.NextAttempt.IsZero() {
			next = time.Until(it.Meta.NextAttempt).Round(time.Second).String()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n", it.ID, it.State, time.Since(it.Meta.Received).Round(time.Second),
			it.Meta.Attempts, next, quoteControls([]byte(it.Envelope.From)), len(it.Envelope.To), it.Size,
			quoteControls([]byte(truncate(it.Header.Subject, 40))), quoteControls([]byte(truncate(it.Meta.LastError, 60))))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	env.printf("%d message(s)\n", len(items))
	return nil
}

// runQueue delivers every queued message that is due once and returns
// (graphmail queue run, sendmail -q). When a running graphmail serve holds
// the spool it says so and succeeds: the daemon delivers.
func runQueue(ctx context.Context, env *environment, cfg *config.Config) error {
	a, err := newApp(cfg, env, "", false)
	if err != nil {
		return err
	}
	defer a.Close()
	st, err := daemon.RunQueue(ctx, a)
	if errors.Is(err, spool.ErrLocked) {
		a.Log.Info("a running graphmail serve holds the spool and delivers it", "spool", cfg.Spool.Dir)
		return nil
	}
	if err != nil {
		return err
	}
	a.Log.Info("queue run", "picked_up", st.PickedUp, "submitted", st.Submitted, "deferred", st.Deferred, "dead", st.Dead,
		"quarantined", st.Quarantined, "queued", st.Queued)
	return nil
}

// openExistingSpool opens spool.dir for a command that only reads or
// edits it (list, show, retry, purge, sendmail -bp): it never creates a
// spool where there is none, and says where it looked.
func openExistingSpool(env *environment, cfg *config.Config) (spool.Queue, error) {
	if _, err := os.Stat(cfg.Spool.Dir); errors.Is(err, fs.ErrNotExist) && cfg.Spool.Backend != config.SpoolNATS {
		return nil, &config.Error{Key: "spool.dir", Problem: "there is no spool at " + cfg.Spool.Dir + " (nothing was ever queued there)",
			Hint: "check spool.dir (and --config): graphmail serve and the sendmail drop-in create the spool when they first queue a message"}
	}
	return daemon.OpenSpool(cfg, setup.NewLogger(env.cliLog(cfg), env.stderr))
}
