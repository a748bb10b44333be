package main

import (
	"context"
	"crypto/tls"
	"errors"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/auth"
	"github.com/graphmail/graphmail/smtpfallback"
)

// smtpAdapter lets graphmail hand messages to smtpfallback; the two packages
// do not know each other.
type smtpAdapter struct{ c *smtpfallback.Client }

func (a smtpAdapter) Send(ctx context.Context, from string, to []string, mime []byte) (string, error) {
	r, err := a.c.Send(ctx, smtpfallback.Envelope{From: from, To: to}, mime)
	return r.Reply, err
}

// newSMTPFallback builds the SMTP XOAUTH2 transport on the shared token
// provider, with the Outlook scope of the configured cloud, authenticating
// as user (the XOAUTH2 user=; MAIL FROM is the sender mailbox).
func newSMTPFallback(cfg *config.Config, tlsCfg *tls.Config, tokens *auth.Provider, user string) (graphmail.Fallback, func() error, error) {
	c, err := smtpfallback.New(smtpfallback.Config{
		Host:      cfg.SMTP.Host,
		Port:      cfg.SMTP.Port,
		Username:  user,
		Tokens:    tokens.Source(cfg.SMTP.Scope),
		TLSConfig: tlsCfg.Clone(),
	})
	if err != nil {
		return nil, nil, &config.Error{Key: "smtp.host", Problem: err.Error(), Hint: "check smtp.host and smtp.port"}
	}
	return smtpAdapter{c}, c.Close, nil
}

// smtpExitCode maps SMTP failures to sysexits, or 0 when err is not one.
func smtpExitCode(err error) int {
	var se *smtpfallback.SMTPError
	if !errors.As(err, &se) {
		return 0
	}
	switch {
	case se.AuthFailure():
		return exitNoPerm
	case se.Temporary():
		return exitTempFail
	case se.Stage == "rcpt" || se.Stage == "data" && se.Code == 552:
		return exitDataErr
	}
	return exitUnavailable
}

// smtpHint gives the next step for an SMTP failure, or "".
func smtpHint(err error) string {
	var se *smtpfallback.SMTPError
	if !errors.As(err, &se) {
		return ""
	}
	switch {
	case se.AuthDisabled():
		return "SMTP AUTH is disabled for the tenant or mailbox; enable it (Set-TransportConfig -SmtpClientAuthenticationDisabled $false, or Set-CASMailbox <sender> -SmtpClientAuthenticationDisabled $false) or use --via graph"
	case se.AuthFailure():
		return "Exchange rejected the token for SMTP; grant the SMTP.SendAsApp permission with admin consent, register the app's service principal in Exchange (New-ServicePrincipal) and give it access to the sender mailbox (Add-MailboxPermission -AccessRights FullAccess)"
	case se.Code == 432:
		return "too many concurrent SMTP connections for this mailbox (Exchange allows 3); try again later"
	case se.Temporary():
		return "the SMTP server asked to try again later"
	}
	return ""
}
