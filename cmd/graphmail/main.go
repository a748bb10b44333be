// Command graphmail sends mail through Microsoft 365 with an app-only OAuth2
// token: Microsoft Graph sendMail first, SMTP AUTH XOAUTH2 as a fallback.
//
// Run "graphmail --help" for the commands, and see the README for the app
// registration, the configuration keys and the exit codes.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	if filepath.Base(os.Args[0]) == "sendmail" {
		// Installed as /usr/sbin/sendmail (a symlink): cron, mailx and
		// PHP call it with sendmail's own options.
		args = append([]string{"sendmail"}, args...)
	}
	oneShotGC(args)
	os.Exit(run(args, os.Stdin, os.Stdout, os.Stderr))
}

// oneShotGC turns the garbage collector into a memory bound for commands
// that run once and exit (send, sendmail, queue, doctor…): they allocate a
// few MiB, and collecting costs more than it frees; past oneShotHeap the
// collector runs as usual, so a large upload stays bounded. serve keeps
// the default. GOGC or GOMEMLIMIT in the environment win.
func oneShotGC(args []string) {
	if len(args) > 0 && args[0] == "serve" || os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(-1)
	debug.SetMemoryLimit(oneShotHeap)
}

// oneShotHeap is the memory a one-shot command uses before the collector
// runs.
const oneShotHeap = 32 << 20

// run executes one command line and returns the process exit code.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runEnv(ctx, args, &environment{
		stdin:     stdin,
		stdout:    stdout,
		stderr:    stderr,
		lookupEnv: os.LookupEnv,
		environ:   os.Environ,
	})
}

// runEnv executes one command line in env and returns the exit code.
func runEnv(ctx context.Context, args []string, env *environment) int {
	root := newRootCommand(env)
	root.SetArgs(args)
	root.SetIn(env.stdin)
	root.SetOut(env.stdout)
	root.SetErr(env.stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	command := root.Name()
	if cmd != nil {
		command = cmd.CommandPath()
	}
	code := exitCode(err)
	if env.jsonErrors {
		reportJSON(env.stderr, err, command, code, time.Now())
	} else {
		report(env.stderr, err, command)
	}
	return code
}

// environment is what a command may touch outside its arguments; tests
// replace it.
type environment struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	lookupEnv      func(string) (string, bool)
	environ        func() []string
	// openURL opens the sign-in page of "graphmail login --browser"; nil
	// means xdg-open, or printing the URL.
	openURL func(url string) error

	// verbose is --verbose: send prints its summary line and standard
	// error shows info logs (when log.level is not set).
	verbose bool
	// jsonErrors: the loaded configuration has log.format json, so the
	// final error is reported as a JSON object (see useConfig).
	jsonErrors bool
}

func (e *environment) printf(format string, args ...any) {
	fmt.Fprintf(e.stdout, format, args...)
}
