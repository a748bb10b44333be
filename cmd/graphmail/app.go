package main

import (
	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/setup"
)

// app is the wired-up object graph for one command (see package setup).
type app = setup.Stack

// newApp builds the stack for one command, logging to standard error.
// With dryRun no credential is needed and nothing is contacted.
func newApp(cfg *config.Config, env *environment, via graphmail.Policy, dryRun bool, mutators ...func(*graphmail.Config)) (*app, error) {
	return setup.New(cfg, setup.NewLogger(cfg.Log, env.stderr), setup.Options{Policy: via, DryRun: dryRun, Mutate: mutators})
}
