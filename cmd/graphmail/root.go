package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

func newRootCommand(env *environment) *cobra.Command {
	root := &cobra.Command{
		Use:   "graphmail",
		Short: "Send mail through Microsoft 365 with OAuth2 (Graph, SMTP XOAUTH2 fallback)",
		Long: `graphmail sends mail through Microsoft 365 without passwords: an app-only
OAuth2 token (client credentials) from Microsoft Entra ID, Microsoft Graph
sendMail as the main path and SMTP AUTH XOAUTH2 as a fallback.

Configuration comes from flags, GRAPHMAIL_* environment variables, a config
file (--config, $GRAPHMAIL_CONFIG, ./graphmail.yaml,
$XDG_CONFIG_HOME/graphmail/config.yaml, /etc/graphmail/config.yaml) and the
AZURE_* variables azidentity uses. Try it without a tenant:

  graphmail send --sandbox --to you@example.com --subject hello --body 'it works'`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          unknownCommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			if v, _ := cmd.Flags().GetBool("version"); v {
				printVersion(env)
				return nil
			}
			return cmd.Help()
		},
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			env.verbose, _ = cmd.Flags().GetBool("verbose")
		},
	}
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		// "graphmail sned --to x": the unknown command is the mistake,
		// not the flag its command line was meant for.
		if args := cmd.Flags().Args(); cmd.HasSubCommands() && len(args) > 0 {
			return unknownCommand(cmd, args)
		}
		return &usageError{err}
	})
	root.Flags().Bool("version", false, "print the version (as graphmail version does)")
	root.PersistentFlags().String("config", "", "config file (YAML, TOML or JSON); default: $GRAPHMAIL_CONFIG, ./graphmail.yaml, $XDG_CONFIG_HOME/graphmail/config.yaml, /etc/graphmail/config.yaml")
	root.PersistentFlags().StringArray("set", nil, "set a config key, highest precedence: --set smtp.fallback=never (repeat for more)")
	root.PersistentFlags().BoolP("verbose", "v", false, "log at info on standard error (unless log.level is set); send also prints its summary line")
	root.AddCommand(newSendCommand(env), newSendmailCommand(env), newServeCommand(env), newQueueCommand(env), newDoctorCommand(env), newTokenCommand(env), newConfigCommand(env), newVersionCommand(env), newSandboxCommand(env), newLoginCommand(env), newLogoutCommand(env), newHealthzCommand(env), newServiceCommand(env))
	addCompletions(root, env)
	return root
}

// unknownCommand is the Args of a command that only groups others (the
// root, queue, config): an argument that names none of them is a usage
// error (exit 64), with the closest names as a hint.
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	err := &unknownCommandError{name: args[0], command: cmd.CommandPath()}
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default
	}
	for _, s := range cmd.SuggestionsFor(args[0]) {
		err.suggestions = append(err.suggestions, cmd.CommandPath()+" "+s)
	}
	return &usageError{err}
}

// unknownCommandError is a command line naming a command that does not
// exist; its suggestions are the commands with a similar name.
type unknownCommandError struct {
	name, command string
	suggestions   []string
}

func (e *unknownCommandError) Error() string {
	return fmt.Sprintf("unknown command %q for %q", e.name, e.command)
}

// groupHelp is the RunE of a command that only groups others: without a
// subcommand it prints its help, as cobra does.
func groupHelp(cmd *cobra.Command, args []string) error {
	return cmd.Help()
}

// configFlag returns the --config value.
func configFlag(cmd *cobra.Command) string {
	v, _ := cmd.Flags().GetString("config")
	return v
}

// noArgs rejects positional arguments with a usage error.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unexpected argument %q", args[0])
	}
	return nil
}

// setFlags returns the --set KEY=VALUE pairs as config overrides.
func setFlags(cmd *cobra.Command) (map[string]any, error) {
	pairs, _ := cmd.Flags().GetStringArray("set")
	if len(pairs) == 0 {
		return nil, nil
	}
	out := make(map[string]any, len(pairs))
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, usagef("--set %q: write it as key=value, e.g. --set smtp.fallback=never", p)
		}
		out[strings.ToLower(strings.TrimSpace(k))] = v
	}
	return out, nil
}
