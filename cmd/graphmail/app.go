package main

import (
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
	return buildApp(cfg, env, setup.Options{Policy: via, DryRun: dryRun, Mutate: mutators}, false)
}

// buildApp opens the log and builds the stack with o. A one-shot command
// logs to standard error at warn unless log.level is set (cliLog), and
// leaves a failed message's audit line to log.file and log.syslog: its
// failure is reported once, as the error. The daemon logs as configured.
func buildApp(cfg *config.Config, env *environment, o setup.Options, daemon bool) (*app, error) {
	env.useConfig(cfg)
	l, lo := cfg.Log, setup.LogOptions{Stderr: env.stderr}
	if !daemon {
		l, lo.OmitFromStderr = env.cliLog(cfg), failedSend
	}
	lg, err := setup.OpenLog(l, lo)
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
