package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
)

func newSandboxCommand(env *environment) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "sandbox [--dir DIR]",
		Short: "Run a local fake Microsoft 365 tenant to try graphmail against",
		Long: `Run a local fake Microsoft 365 tenant on 127.0.0.1: an identity platform
that issues signed tokens for a built-in app, Microsoft Graph sendMail and
an SMTP XOAUTH2 server. It prints a ready-to-use configuration and writes
each delivered message to DIR as a .eml file (with the raw Graph request
beside it). Stop it with Ctrl-C.`,
		Example: `  graphmail sandbox --dir /tmp/mail > sandbox.yaml &
  graphmail send --config sandbox.yaml --to you@example.com --subject hi --body hello
  ls /tmp/mail`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := startSandbox(dir, env)
			if err != nil {
				return err
			}
			defer b.Close()
			env.printf("# graphmail sandbox: a fake Microsoft 365 tenant on 127.0.0.1\n")
			env.printf("# messages are written to %s\n", b.dir)
			env.printf("# save this as a config file and pass it with --config\n")
			for _, kv := range b.settings() {
				if kv[0] == "smtp.host" || kv[0] == "smtp.port" {
					continue
				}
				env.printf("%s: %s\n", kv[0], yamlScalar(kv[1]))
			}
			env.printf("smtp:\n  host: %s\n  port: %v\n", b.srv.SMTPHost(), b.srv.SMTPPort())
			env.printf("token_cache:\n  path: %s\n", filepath.Join(b.dir, "tokens.bin"))
			<-cmd.Context().Done()
			fmt.Fprintln(env.stderr, "graphmail: sandbox stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for delivered messages (default: a new temporary directory)")
	return cmd
}

func yamlScalar(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}
