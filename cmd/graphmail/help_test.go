package main

import (
	"io"
	"testing"

	"github.com/spf13/cobra"
)

// TestEveryCommandHasHelpWithExamples walks the command tree: every command
// people run has a short description and at least one example.
func TestEveryCommandHasHelpWithExamples(t *testing.T) {
	root := newRootCommand(testEnv(io.Discard, io.Discard))
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			if sub.Short == "" {
				t.Errorf("%s has no short description", sub.CommandPath())
			}
			if sub.Example == "" {
				t.Errorf("%s --help shows no example", sub.CommandPath())
			}
			walk(sub)
		}
	}
	walk(root)
}
