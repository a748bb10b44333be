package main

import (
	"log/slog"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/setup"
)

// app is the wired-up object graph for one command (see package setup).
type app = setup.Stack

// newApp builds the stack for one command, logging to standard error (and
// to log.file and log.syslog when set). With dryRun no credential is
// needed and nothing is contacted.
func newApp(cfg *config.Config, env *environment, via graphmail.Policy, dryRun bool, mutators ...func(*graphmail.Config)) (*app, error) {
	return buildApp(cfg, env, setup.Options{Policy: via, DryRun: dryRun, Mutate: mutators}, nil)
}

// buildApp opens the log (standard error at stderrLevel when not nil)
// and builds the stack with o.
func buildApp(cfg *config.Config, env *environment, o setup.Options, stderrLevel *slog.Level) (*app, error) {
	lg, err := setup.OpenLog(cfg.Log, setup.LogOptions{Stderr: env.stderr, StderrLevel: stderrLevel})
	if err != nil {
		return nil, err
	}
	o.Sinks = lg
	st, err := setup.New(cfg, nil, o)
	if err != nil {
		lg.Close()
		return nil, err
	}
	return st, nil
}
