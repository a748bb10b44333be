package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
)

func newConfigCommand(env *environment) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "config",
		Short:   "Inspect the configuration",
		Example: "  graphmail config show\n  GRAPHMAIL_SMTP_FALLBACK=never graphmail config show --json",
		Args:    unknownCommand,
		RunE:    groupHelp,
	}
	var asJSON bool
	show := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration, with where each value came from",
		Long: `Print every configuration key with its effective value and its source:
flag (--set), env (GRAPHMAIL_*), file, azure-env (AZURE_*) or default.
Secrets are printed as [redacted].`,
		Example: "  graphmail config show\n  graphmail config show --config /etc/graphmail/config.yaml --json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := loadConfig(cmd, env, false)
			if err != nil {
				return err
			}
			settings := cfg.Settings()
			if asJSON {
				enc := json.NewEncoder(env.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					File     string           `json:"file"`
					Settings []config.Setting `json:"settings"`
				}{cfg.File, settings})
			}
			file := cfg.File
			if file == "" {
				file = "(none)"
			}
			env.printf("# config file: %s\n", file)
			w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			for _, s := range settings {
				v := s.Value
				if v == "" {
					v = `""`
				}
				fmt.Fprintf(w, "%s\t%s\t# %s\n", s.Key, v, s.Source)
			}
			return w.Flush()
		},
	}
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(show)
	return cmd
}

// loadConfig loads the configuration from --config, --set and the
// environment.
func loadConfig(cmd *cobra.Command, env *environment, requireCredentials bool) (*config.Config, error) {
	set, err := setFlags(cmd)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(config.Options{
		ConfigFile:         configFlag(cmd),
		Overrides:          set,
		LookupEnv:          env.lookupEnv,
		Environ:            env.environ,
		RequireCredentials: requireCredentials,
	})
	if err == nil {
		env.useConfig(cfg)
	}
	return cfg, err
}
