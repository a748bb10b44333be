package main

// Shell completion: cobra's "graphmail completion bash|zsh|fish|powershell"
// scripts, and the values of flags and arguments they complete.

import (
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail/daemon"
)

// addCompletions registers the completion of flag values and arguments on
// the command tree under root: configuration keys for --set, the choices
// of --via, --importance and --scope, and spool IDs for queue show, retry
// and purge.
func addCompletions(root *cobra.Command, env *environment) {
	_ = root.RegisterFlagCompletionFunc("set", completeSetKey)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for name, values := range map[string][]string{
			"via":        {"auto\tGraph, then the SMTP fallback", "graph\tMicrosoft Graph only", "smtp\tSMTP XOAUTH2 only"},
			"importance": {"low", "normal", "high"},
			"scope":      {"graph\tMicrosoft Graph", "smtp\tExchange Online SMTP"},
		} {
			if c.LocalFlags().Lookup(name) != nil {
				_ = c.RegisterFlagCompletionFunc(name, cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp))
			}
		}
		switch c.CommandPath() {
		case "graphmail queue show", "graphmail queue purge":
			c.ValidArgsFunction = completeQueueID(env, false)
		case "graphmail queue retry":
			c.ValidArgsFunction = completeQueueID(env, true)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeSetKey completes --set with "key=" for every configuration key.
func completeSetKey(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, "=") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, k := range config.Keys() {
		if strings.HasPrefix(k, strings.ToLower(toComplete)) {
			out = append(out, k+"=")
		}
	}
	return out, cobra.ShellCompDirectiveNoSpace | cobra.ShellCompDirectiveNoFileComp
}

// completeQueueID completes a message ID of the spool (and "all" for
// retry). It only reads: no spool is created where there is none, and
// nothing is printed (a completion must not write to the terminal).
func completeQueueID(env *environment, all bool) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		if all {
			out = append(out, "all\tevery queued and dead message")
		}
		cfg, err := loadConfig(cmd, env, false)
		if err != nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		if _, err := os.Stat(cfg.Spool.Dir); err != nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		sp, err := daemon.OpenSpool(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		defer sp.Close()
		items, err := sp.List()
		if err != nil {
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		for _, it := range items {
			id := string(it.ID)
			if !strings.HasPrefix(id, toComplete) {
				continue
			}
			desc := string(it.State)
			if it.Header.Subject != "" {
				desc += " " + truncate(quoteControls([]byte(it.Header.Subject)), 40)
			}
			out = append(out, id+"\t"+strings.Map(noTabs, desc))
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// noTabs turns tabs and line breaks into spaces: a completion's
// description is one line after a tab.
func noTabs(r rune) rune {
	if r == '\t' || r == '\n' || r == '\r' {
		return ' '
	}
	return r
}
