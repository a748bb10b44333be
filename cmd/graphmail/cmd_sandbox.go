package main

import (
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

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
			b, err := startSandbox(dir, env, slog.LevelInfo)
			if err != nil {
				return err
			}
			defer b.Close()
			env.printf("# graphmail sandbox: a fake Microsoft 365 tenant on 127.0.0.1\n")
			env.printf("# messages are written to %s\n", b.dir)
			env.printf("# save this as a config file and pass it with --config\n")
			settings := b.settings()
			settings["token_cache.path"] = filepath.Join(b.dir, "tokens.bin")
			// Its directory is for messages: no budget file beside the cache.
			settings["limits.budget_file"] = "none"
			env.printf("%s", configYAML(settings))
			<-cmd.Context().Done()
			fmt.Fprintln(env.stderr, "graphmail: sandbox stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "directory for delivered messages (default: a new temporary directory)")
	return cmd
}

// configYAML renders dotted config keys as a YAML file: top-level keys
// first, then one block per section, each sorted.
func configYAML(values map[string]any) string {
	var top []string
	sections := map[string][]string{}
	for k := range values {
		if sec, _, ok := strings.Cut(k, "."); ok {
			sections[sec] = append(sections[sec], k)
		} else {
			top = append(top, k)
		}
	}
	sort.Strings(top)
	var b strings.Builder
	for _, k := range top {
		fmt.Fprintf(&b, "%s: %s\n", k, yamlScalar(values[k]))
	}
	for _, sec := range slices.Sorted(maps.Keys(sections)) {
		keys := sections[sec]
		sort.Strings(keys)
		fmt.Fprintf(&b, "%s:\n", sec)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", strings.TrimPrefix(k, sec+"."), yamlScalar(values[k]))
		}
	}
	return b.String()
}

// yamlScalar renders a value as YAML: strings double-quoted, lists in flow
// style.
func yamlScalar(v any) string {
	switch x := v.(type) {
	case string:
		return fmt.Sprintf("%q", x)
	case []string:
		q := make([]string, len(x))
		for i, s := range x {
			q[i] = fmt.Sprintf("%q", s)
		}
		return "[" + strings.Join(q, ", ") + "]"
	}
	return fmt.Sprint(v)
}
