package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/graphmail/graphmail/graphmail/setup"

	"github.com/spf13/cobra"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/graphmailtest"
)

type sendOptions struct {
	to, cc, bcc, replyTo []string
	from                 string
	subject              string
	body                 string
	bodySet              bool
	bodyFile             string
	html                 bool
	attach               []string
	importance           string
	headers              []string
	dryRun               dryRunMode
	via                  string
	sandbox              bool
	sandboxDir           string
	sandboxFailGraph     int
	configFile           string
	set                  map[string]any
	mime                 string // --mime FILE ("-" for standard input)
	quiet                bool
	asJSON               bool     // --json: print the result as JSON
	skipEmpty            bool     // --skip-empty
	charset              string   // --charset: the body's character set
	inline               []string // --inline CID=FILE
}

func newSendCommand(env *environment) *cobra.Command {
	var o sendOptions
	cmd := &cobra.Command{
		Use:   "send --to ADDRESS --subject TEXT [--body TEXT | --body-file FILE | < body] | send --mime FILE [--to/--cc/--bcc ADDRESS]",
		Short: "Send one message",
		Long: `Send one message through Microsoft Graph (and the SMTP fallback when
configured). The body comes from --body, --body-file ("-": standard
input), or standard input; with none given and standard input a terminal,
/dev/null or closed, the body is empty (an attachment-only job).
--skip-empty sends nothing when the body read is empty or white space.

Success is quiet: one summary line on standard output when it is a terminal
(or with --verbose), nothing on standard error; --json prints the result as
one JSON object instead.

With --mime, send an existing RFC 5322 message (an .eml file, or "-" for
standard input) byte for byte through Graph's MIME sendMail; --to, --cc and
--bcc then name extra recipients, added to its Bcc header.

A message over Graph's 4 MB request limit goes through an upload session
when large_messages is upload_session (needs Mail.ReadWrite), else to the
SMTP fallback when it is within smtp.max_message_size.`,
		Example: `  # try it on the built-in sandbox tenant (no Microsoft 365 needed)
  graphmail send --sandbox --to you@example.com --subject hello --body 'it works'

  # a report from cron, body on stdin, with an attachment
  df -h | graphmail send --to ops@contoso.com --subject "disk report" --attach /var/log/disk.csv

  # HTML, several recipients, high importance
  graphmail send --to a@contoso.com,b@contoso.com --cc boss@contoso.com \
      --subject "Weekly" --body-file weekly.html --html --importance high

  # an existing message, with an extra (Bcc) recipient
  graphmail send --mime message.eml --bcc audit@contoso.com

  # mail only if the job printed something
  backup.sh 2>&1 | graphmail send --to ops@contoso.com --subject backup --skip-empty

  # show the plan (path, requests, attachments), send nothing
  graphmail send --dry-run --to a@contoso.com --subject test --body hi`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.bodySet = cmd.Flags().Changed("body")
			o.configFile = configFlag(cmd)
			var err error
			if o.set, err = setFlags(cmd); err != nil {
				return err
			}
			return runSend(cmd.Context(), env, &o)
		},
	}
	f := cmd.Flags()
	f.Var(addressFlag{&o.to}, "to", "recipient: an address or an RFC 5322 list ('a@x.com, \"Smith, Bob\" <b@x.com>'); repeat for more")
	f.Var(addressFlag{&o.cc}, "cc", "carbon-copy recipient (an address or a list; repeat for more)")
	f.Var(addressFlag{&o.bcc}, "bcc", "blind carbon-copy recipient, never shown to others (an address or a list; repeat for more)")
	f.Var(addressFlag{&o.replyTo}, "reply-to", "address replies should go to (an address or a list)")
	f.StringVar(&o.from, "from", "", "author shown to recipients (default: the sender mailbox); needs Send As rights")
	f.StringVar(&o.subject, "subject", "", "subject line")
	f.StringVar(&o.body, "body", "", "message body")
	f.StringVar(&o.bodyFile, "body-file", "", "read the body from this file (\"-\": standard input)")
	f.BoolVar(&o.skipEmpty, "skip-empty", false, "send nothing and exit 0 when the body read from standard input or --body-file is empty or only white space")
	f.StringVar(&o.charset, "charset", "", "the body's character set, converted to UTF-8 (e.g. iso-8859-1, windows-1252); default UTF-8")
	f.BoolVar(&o.html, "html", false, "the body is HTML")
	f.StringArrayVar(&o.attach, "attach", nil, "attach a file (repeat for more); files over 3 MB need large_messages: upload_session or the SMTP fallback")
	f.StringArrayVar(&o.inline, "inline", nil, "inline image CID=FILE for an HTML body that shows it as <img src=\"cid:CID\"> (repeat for more; needs --html)")
	f.StringVar(&o.mime, "mime", "", "send this RFC 5322 message file as it is (\"-\": standard input); --to/--cc/--bcc add recipients")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "no progress bar for large uploads")
	f.BoolVar(&o.asJSON, "json", false, "print the result (message ID, path, attempts, request IDs) as one JSON object")
	f.StringVar(&o.importance, "importance", "", "low, normal or high")
	f.StringArrayVar(&o.headers, "header", nil, "extra header 'X-Name: value' (repeat for more; names must start with X-)")
	f.Var(&o.dryRun, "dry-run", "send nothing; show the plan: path, requests, SMTP envelope, attachments (size, sha256) and the body without attachment content (--dry-run=full: the exact body)")
	f.Lookup("dry-run").NoOptDefVal = "true"
	f.StringVar(&o.via, "via", "", "path: auto (Graph, SMTP fallback), graph or smtp; default from smtp.fallback")
	f.BoolVar(&o.sandbox, "sandbox", false, "send to a built-in local fake Microsoft 365 tenant instead of a real one")
	f.StringVar(&o.sandboxDir, "sandbox-dir", "", "with --sandbox: where delivered messages are written (default: a new temporary directory)")
	f.IntVar(&o.sandboxFailGraph, "sandbox-fail-graph", 0, "with --sandbox: make the sandbox's Graph answer every request with this HTTP status (e.g. 503), to watch the SMTP fallback")
	return cmd
}

func runSend(ctx context.Context, env *environment, o *sendOptions) error {
	var (
		msg   *graphmail.Message
		raw   []byte
		extra []graphmail.Address
		err   error
	)
	if o.mime != "" {
		raw, extra, err = readMIME(env, o)
	} else {
		msg, err = buildMessage(env, o)
	}
	skip := errors.Is(err, errSkipEmpty)
	if err != nil && !skip {
		return err
	}
	policy, err := viaPolicy(o.via)
	if err != nil {
		return err
	}
	lopts := config.Options{ConfigFile: o.configFile, LookupEnv: env.lookupEnv, Environ: env.environ, Overrides: o.set, RequireCredentials: o.dryRun == dryRunOff}
	if skip {
		return skipEmpty(env, lopts)
	}
	var box *sandbox
	if o.sandbox {
		// quiet like the rest of send: the sandbox's own log at warn,
		// info with --verbose
		level := slog.LevelWarn
		if env.verbose {
			level = slog.LevelInfo
		}
		box, err = startSandbox(o.sandboxDir, env, level)
		if err != nil {
			return err
		}
		defer box.Close()
		if o.sandboxFailGraph != 0 {
			box.srv.Fail(graphmailtest.Failure{Endpoint: graphmailtest.EndpointGraph, Status: o.sandboxFailGraph, Times: -1})
		}
		lopts.Overrides = box.overrides()
		for k, v := range o.set {
			lopts.Overrides[k] = v
		}
		lopts.RequireCredentials = true
	}
	cfg, err := config.Load(lopts)
	if err != nil {
		return err
	}
	bar := newProgressBar(env, o.quiet)
	a, err := newApp(cfg, env, policy, o.dryRun != dryRunOff, func(c *graphmail.Config) { c.Progress = bar.update })
	if err != nil {
		return err
	}
	defer a.Close()
	if o.dryRun == dryRunOff && !o.sandbox {
		setup.WarnCredentialExpiry(a, time.Now())
	}

	if o.dryRun != dryRunOff {
		return printDryRun(env, a, cfg, o.dryRun, msg, raw, extra)
	}
	var (
		res   graphmail.Result
		rcpts int
	)
	if raw != nil {
		res, err = a.Mail.SendMIME(ctx, raw, extra)
		rcpts = -1
	} else {
		res, err = a.Mail.Send(ctx, msg)
		rcpts = len(msg.Recipients())
	}
	bar.done()
	if err != nil {
		return err
	}
	return printSent(env, o.asJSON, res, rcpts, box)
}

// skipEmpty ends a --skip-empty send whose body is empty: nothing is sent,
// and a debug line in the configured log says so. The configuration is
// read for the log settings only; credentials are not needed.
func skipEmpty(env *environment, lopts config.Options) error {
	lopts.RequireCredentials = false
	cfg, err := config.Load(lopts)
	if err != nil {
		return err
	}
	lg, err := setup.OpenLog(cfg.Log, setup.LogOptions{Stderr: env.stderr})
	if err != nil {
		return err
	}
	defer lg.Close()
	lg.Debug("the body is empty; nothing sent (--skip-empty)")
	return nil
}

// buildMessage turns flags and input files into a message; with
// --skip-empty and an empty body it returns errSkipEmpty.
func buildMessage(env *environment, o *sendOptions) (*graphmail.Message, error) {
	if len(o.to)+len(o.cc)+len(o.bcc) == 0 {
		return nil, usagef("no recipients: give at least one --to, --cc or --bcc")
	}
	if o.bodySet && o.bodyFile != "" {
		return nil, usagef("--body and --body-file are mutually exclusive")
	}
	m := &graphmail.Message{Subject: o.subject}
	var err error
	for _, l := range []struct {
		flag string
		in   []string
		out  *[]graphmail.Address
	}{{"to", o.to, &m.To}, {"cc", o.cc, &m.Cc}, {"bcc", o.bcc, &m.Bcc}, {"reply-to", o.replyTo, &m.ReplyTo}} {
		if *l.out, err = parseAddresses(l.flag, l.in); err != nil {
			return nil, err
		}
	}
	if len(m.Recipients()) == 0 {
		return nil, usagef("no recipients: give at least one --to, --cc or --bcc")
	}
	if o.from != "" {
		if m.From, err = graphmail.ParseAddress(o.from); err != nil {
			return nil, &inputError{err: fmt.Errorf("--from: %q is not an e-mail address", o.from), hint: "write the address as user@example.com or 'Name <user@example.com>'"}
		}
	}
	switch strings.ToLower(o.importance) {
	case "":
	case "low", "normal", "high":
		m.Importance = graphmail.Importance(strings.ToLower(o.importance))
	default:
		return nil, usagef("--importance must be low, normal or high, not %q", o.importance)
	}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, usagef("--header %q: write it as 'X-Name: value'", h)
		}
		m.Headers = append(m.Headers, graphmail.Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)})
	}
	body, err := readBody(env, o)
	if err != nil {
		return nil, err
	}
	if o.html {
		m.HTML = body
	} else {
		m.Text = body
	}
	for _, path := range o.attach {
		a, err := readAttachment("--attach", path)
		if err != nil {
			return nil, err
		}
		m.Attachments = append(m.Attachments, a)
	}
	if len(o.inline) > 0 && !o.html {
		return nil, usagef("--inline needs an HTML body (--html) that refers to the image as cid:ID")
	}
	for _, v := range o.inline {
		cid, path, ok := strings.Cut(v, "=")
		if !ok || cid == "" || path == "" {
			return nil, usagef("--inline %s: write it as CID=FILE, e.g. --inline logo=logo.png for <img src=\"cid:logo\">", quoteShort(v))
		}
		a, err := readAttachment("--inline", path)
		if err != nil {
			return nil, err
		}
		a.Inline, a.ContentID = true, cid
		m.Attachments = append(m.Attachments, a)
	}
	return m, nil
}

// errSkipEmpty: --skip-empty and the body read is empty; nothing is sent.
var errSkipEmpty = errors.New("the body is empty")

// readBody returns the body: --body, --body-file (a file, or "-" for
// standard input), or standard input. With no body given and standard
// input a terminal the body is empty: nobody is typing into a cron job,
// so send never waits for it. A closed standard input reads as empty
// (cron and systemd give /dev/null or a closed pipe). The body is
// converted from --charset to UTF-8; without --charset it must be UTF-8.
// With --skip-empty an empty or white-space-only body read from standard
// input or a file is errSkipEmpty.
func readBody(env *environment, o *sendOptions) (string, error) {
	var (
		raw  []byte
		err  error
		read = true // read from standard input or a file (for --skip-empty)
	)
	switch {
	case o.bodySet:
		raw, read = []byte(o.body), false
	case o.bodyFile == "-":
		raw, err = readStdin(env)
	case o.bodyFile != "":
		if raw, err = os.ReadFile(o.bodyFile); err != nil {
			return "", &inputError{err: fmt.Errorf("--body-file: %w", err), hint: "check the path and that the file is readable"}
		}
	case stdinIsTerminal(env):
		// No body given at a terminal: an empty body, without waiting.
	default:
		raw, err = readStdin(env)
	}
	if err != nil {
		return "", err
	}
	if read && o.skipEmpty && len(bytes.TrimSpace(raw)) == 0 {
		return "", errSkipEmpty
	}
	body, err := toUTF8(raw, o.charset)
	var be *bodyEncodingError
	switch {
	case errors.As(err, &be) && o.charset == "":
		return "", &inputError{err: err, hint: "give the body's character set with --charset, e.g. --charset iso-8859-1 (Latin-1) or --charset windows-1252"}
	case errors.As(err, &be):
		return "", &inputError{err: err, hint: "check the --charset value against the body's encoding"}
	case err != nil:
		return "", &usageError{err: err}
	}
	return body, nil
}

// stdinIsTerminal reports whether standard input is a terminal.
func stdinIsTerminal(env *environment) bool {
	f, ok := env.stdin.(*os.File)
	return ok && isTerminal(f)
}

// readStdin reads standard input to its end. A closed standard input
// (started with <&-) reads as empty.
func readStdin(env *environment) ([]byte, error) {
	if env.stdin == nil {
		return nil, nil
	}
	b, err := io.ReadAll(env.stdin)
	if errors.Is(err, syscall.EBADF) || errors.Is(err, os.ErrClosed) {
		return nil, nil
	}
	if err != nil {
		return nil, &inputError{err: fmt.Errorf("reading the body from standard input: %w", err)}
	}
	return b, nil
}

// readAttachment records a file to attach. Its content is read when the
// message is sent: whole for a request under 4 MB or the SMTP fallback, in
// chunks for an upload session.
func readAttachment(flag, path string) (graphmail.Attachment, error) {
	if _, err := os.Stat(path); err != nil {
		return graphmail.Attachment{}, &inputError{err: fmt.Errorf("%s: %w", flag, err), hint: "check the path and that the file is readable"}
	}
	a, err := graphmail.AttachFile(path)
	if err != nil {
		return graphmail.Attachment{}, &inputError{err: fmt.Errorf("%s %s: %w", flag, path, errors.Unwrap(err)), hint: "attach regular, readable files"}
	}
	return a, nil
}

// readMIME reads the --mime message and the extra recipients.
func readMIME(env *environment, o *sendOptions) ([]byte, []graphmail.Address, error) {
	for _, c := range []struct {
		set  bool
		flag string
	}{{o.subject != "", "--subject"}, {o.bodySet, "--body"}, {o.bodyFile != "", "--body-file"}, {o.html, "--html"},
		{len(o.attach) > 0, "--attach"}, {o.importance != "", "--importance"}, {len(o.headers) > 0, "--header"},
		{o.from != "", "--from"}, {len(o.replyTo) > 0, "--reply-to"}, {o.skipEmpty, "--skip-empty"},
		{o.charset != "", "--charset"}, {len(o.inline) > 0, "--inline"}} {
		if c.set {
			return nil, nil, usagef("%s cannot be combined with --mime: the message is sent as it is", c.flag)
		}
	}
	var extra []graphmail.Address
	for _, l := range []struct {
		flag string
		in   []string
	}{{"to", o.to}, {"cc", o.cc}, {"bcc", o.bcc}} {
		list, err := parseAddresses(l.flag, l.in)
		if err != nil {
			return nil, nil, err
		}
		extra = append(extra, list...)
	}
	var (
		raw []byte
		err error
	)
	if o.mime == "-" {
		raw, err = readStdin(env)
	} else {
		raw, err = os.ReadFile(o.mime)
	}
	if err != nil {
		return nil, nil, &inputError{err: fmt.Errorf("--mime: %w", err), hint: "check the path and that the file is readable"}
	}
	return raw, extra, nil
}

func viaPolicy(via string) (graphmail.Policy, error) {
	switch via {
	case "":
		return "", nil
	case "auto":
		return graphmail.PolicyAuto, nil
	case "graph":
		return graphmail.PolicyNever, nil
	case "smtp":
		return graphmail.PolicyOnly, nil
	}
	return "", usagef("--via must be auto, graph or smtp, not %q", via)
}
