package main

import (
	"fmt"
	"strings"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
)

// dryRunMode is the value of --dry-run: off, the plan with the body
// without attachment content ("--dry-run"), or the exact body
// ("--dry-run=full").
type dryRunMode int

const (
	dryRunOff dryRunMode = iota
	dryRunSummary
	dryRunFull
)

// Set parses --dry-run[=true|false|full].
func (d *dryRunMode) Set(s string) error {
	switch strings.ToLower(s) {
	case "true", "1", "summary":
		*d = dryRunSummary
	case "false", "0":
		*d = dryRunOff
	case "full":
		*d = dryRunFull
	default:
		return fmt.Errorf("want true, false or full, not %q", s)
	}
	return nil
}

// String returns the value as Set takes it.
func (d *dryRunMode) String() string {
	switch *d {
	case dryRunSummary:
		return "true"
	case dryRunFull:
		return "full"
	}
	return "false"
}

// Type names the value in --help.
func (d *dryRunMode) Type() string { return "[=full]" }

// printDryRun shows what send would do, from the library's plan (the same
// decision the real send makes): the path, each request, the SMTP
// envelope, the attachments summarised, and the body. Tokens are never
// part of it: the Authorization header is added by the transport.
func printDryRun(env *environment, a *app, cfg *config.Config, mode dryRunMode, m *graphmail.Message, raw []byte, extra []graphmail.Address) error {
	opts := graphmail.PlanOptions{Full: mode == dryRunFull}
	var (
		p   *graphmail.Plan
		err error
	)
	if raw != nil {
		p, err = a.Mail.PlanMIME(raw, extra, opts)
	} else {
		p, err = a.Mail.Plan(m, opts)
	}
	if err != nil {
		return err
	}
	sender := cfg.Sender
	if sender == "" {
		sender = "{sender}"
	}
	mailbox := p.Mailbox
	if cfg.Sender == "" && !strings.HasSuffix(mailbox, "/me") {
		// No sender configured: show where it goes in the URL.
		mailbox = mailbox[:strings.LastIndex(mailbox, "/")+1] + "{sender}"
	}
	smtpLine := func(prefix string) {
		env.printf("%sSMTP %s:%d  MAIL FROM:<%s>  RCPT TO: %d recipient(s)\n", prefix, cfg.SMTP.Host, cfg.SMTP.Port, sender, len(p.RcptTo))
	}
	env.printf("# dry run: nothing is sent; path %s, Message-ID <%s>\n", p.Path, p.MessageID)
	switch p.Path {
	case graphmail.PlanSMTP:
		if p.FallbackReason != "" {
			env.printf("# %s: the SMTP fallback takes it, %s as MIME\n", p.FallbackReason, formatSize(p.MIMEBytes))
		}
		smtpLine("# ")
		for _, r := range p.RcptTo {
			env.printf("#   RCPT TO:<%s>\n", r)
		}
	default:
		for i, r := range p.Requests {
			url := strings.Replace(r.URL, p.Mailbox, mailbox, 1)
			line := fmt.Sprintf("%s %s", r.Method, url)
			if i == 0 {
				env.printf("%s\n", line) // the first request line, as curl would send it
				if r.ContentType != "" {
					env.printf("Content-Type: %s\n", r.ContentType)
				}
				env.printf("# %s, %s\n", r.What, formatSize(r.Bytes))
				continue
			}
			switch {
			case r.Chunks > 0:
				env.printf("# then %s: %s, %s in %d chunk(s)\n", r.What, line, formatSize(r.Bytes), r.Chunks)
			case r.Bytes > 0:
				env.printf("# then %s: %s, %s\n", r.What, line, formatSize(r.Bytes))
			default:
				env.printf("# then %s: %s\n", r.What, line)
			}
		}
		if p.FallbackOnFailure {
			smtpLine("# if Graph is unreachable, fails with 5xx, throttles or refuses the size: ")
		}
	}
	for _, at := range p.Attachments {
		kind := "attachment"
		if at.Inline {
			kind = "inline cid:" + at.ContentID
		}
		how := ""
		if at.Upload {
			how = ", upload session"
		}
		env.printf("# %s %q %s, %s%s, sha256 %s\n", kind, at.Name, at.ContentType, formatSize(at.Size), how, at.SHA256)
	}
	env.printf("\n")
	if _, err := env.stdout.Write(p.Body); err != nil {
		return err
	}
	if len(p.Body) > 0 && p.Body[len(p.Body)-1] != '\n' {
		env.printf("\n")
	}
	return nil
}

// formatSize writes n bytes for people.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB (%d bytes)", float64(n)/(1<<20), n)
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB (%d bytes)", float64(n)/(1<<10), n)
	}
	return fmt.Sprintf("%d bytes", n)
}
