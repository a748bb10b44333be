package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/winsvc"
)

func newServiceCommand(env *environment) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "service",
		Short: "Install and control graphmail serve as a Windows service",
		Long: `Run graphmail serve as a Windows service (Windows only; on Linux use the
systemd units, on macOS launchd). install registers the service to start at
boot as the virtual account NT SERVICE\graphmail and prepares
%ProgramData%\graphmail: config.yaml (written when missing), the client
secret file, the spool and the token cache, readable only by SYSTEM,
Administrators and the service. Errors go to the Application event log
(source graphmail). Run install and uninstall from an elevated prompt.`,
		Example: `  graphmail service install
  notepad %ProgramData%\graphmail\config.yaml
  graphmail service start
  graphmail service stop
  graphmail service uninstall`,
		Args: unknownCommand,
		RunE: groupHelp,
	}
	var timeout time.Duration
	control := func(use, short string, op func(ctx context.Context) error, done string) *cobra.Command {
		c := &cobra.Command{
			Use:     use,
			Short:   short,
			Example: "  graphmail service " + use,
			Args:    noArgs,
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
				defer cancel()
				if err := op(ctx); err != nil {
					return serviceError(err)
				}
				env.printf("%s\n", done)
				return nil
			},
		}
		c.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the service to reach its new state")
		return c
	}
	cmd.AddCommand(
		&cobra.Command{
			Use:     "install",
			Short:   "Register the graphmail service and prepare %ProgramData%\\graphmail",
			Example: "  graphmail service install",
			Args:    noArgs,
			RunE:    func(cmd *cobra.Command, args []string) error { return runServiceInstall(env) },
		},
		control("uninstall", "Stop and remove the graphmail service (its files under %ProgramData%\\graphmail stay)", winsvc.Uninstall,
			"graphmail: service removed; the configuration and any spooled mail stay in %ProgramData%\\graphmail"),
		control("start", "Start the graphmail service", winsvc.Start, "graphmail: service running"),
		control("stop", "Stop the graphmail service (deliveries in flight finish, the rest stays spooled)", winsvc.Stop, "graphmail: service stopped"),
		&cobra.Command{
			Use:    "run",
			Short:  "Run graphmail serve under the Windows service manager (the service's own command line)",
			Hidden: true,
			Args:   noArgs,
			RunE:   func(cmd *cobra.Command, args []string) error { return runServiceRun(cmd, env) },
		},
	)
	return cmd
}

// serviceLayout is the service's layout under %ProgramData%.
func serviceLayout(env *environment) (winsvc.Layout, error) {
	pd, ok := env.lookupEnv("ProgramData")
	if !ok || pd == "" {
		pd = `C:\ProgramData`
	}
	return winsvc.NewLayout(pd)
}

func runServiceInstall(env *environment) error {
	l, err := serviceLayout(env)
	if err != nil {
		return serviceError(err)
	}
	exe, err := os.Executable()
	if err != nil {
		return serviceError(err)
	}
	if err := winsvc.Install(exe, l); err != nil {
		return serviceError(err)
	}
	env.printf("graphmail: service %s installed: %s %s\n", winsvc.Name, exe, strings.Join(l.RunArgs(), " "))
	env.printf("graphmail: it starts at boot as %s; only SYSTEM, Administrators and the service can read %s\n", winsvc.Account, l.Dir)
	env.printf("graphmail: next: fill in %s, put the client secret into %s, check with graphmail doctor --config %s, then: graphmail service start\n", l.Config, l.Secret, l.Config)
	return nil
}

// runServiceRun runs graphmail serve as the service: its standard error
// goes to the event log, Stop and Shutdown cancel it, and a failure is
// logged as an error event with its hints.
func runServiceRun(cmd *cobra.Command, env *environment) error {
	err := winsvc.Run(func(ctx context.Context, ev winsvc.Events) error {
		w := &winsvc.LineWriter{Emit: ev.Info}
		defer w.Flush()
		senv := *env
		senv.stdout, senv.stderr = w, w
		cmd.SetContext(ctx)
		if err := runServe(cmd, &senv); err != nil {
			var b strings.Builder
			report(&b, err, "graphmail serve")
			return &serveFailed{err: err, text: strings.TrimSpace(b.String())}
		}
		return nil
	})
	var sf *serveFailed
	if errors.As(err, &sf) {
		return sf.err
	}
	if err != nil {
		return serviceError(err)
	}
	return nil
}

// serveFailed is graphmail serve's failure under the service manager; its
// text, for the event log, is the report with its hints.
type serveFailed struct {
	err  error
	text string
}

func (e *serveFailed) Error() string { return e.text }
func (e *serveFailed) Unwrap() error { return e.err }

// serviceError gives a winsvc failure its exit code and hint: 69 off
// Windows and for a service in the wrong state, 77 without elevation.
func serviceError(err error) error {
	return &serviceFailure{err: err}
}

// serviceFailure is a failed graphmail service command.
type serviceFailure struct{ err error }

func (e *serviceFailure) Error() string { return e.err.Error() }
func (e *serviceFailure) Unwrap() error { return e.err }

// Class maps the failure to an exit code.
func (e *serviceFailure) Class() graphmail.Class {
	if errors.Is(e.err, fs.ErrPermission) {
		return graphmail.NeedsOperator
	}
	return graphmail.Refused
}

// Hint says what to do instead.
func (e *serviceFailure) Hint() string {
	var se *winsvc.StateError
	switch {
	case errors.Is(e.err, winsvc.ErrUnsupported):
		return "on Linux, run graphmail serve with the systemd unit graphmail.service (the .deb and .rpm install it); on macOS with launchd (contrib/com.github.graphmail.serve.plist); see the README's Install section"
	case errors.Is(e.err, fs.ErrPermission):
		return "run it from an elevated prompt (Run as administrator)"
	case errors.As(e.err, &se) && se.Installed:
		return "to install it again, run graphmail service uninstall first"
	case errors.As(e.err, &se):
		return "run graphmail service install first (from an elevated prompt)"
	case errors.Is(e.err, context.DeadlineExceeded):
		return fmt.Sprintf("see the Application event log (source %s) and %s", winsvc.Name, `%ProgramData%\graphmail\graphmail.log`)
	}
	return ""
}
