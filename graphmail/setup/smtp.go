package setup

import (
	"context"
	"crypto/tls"

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

// SendPartial implements graphmail.PartialFallback: the server's refusal
// of some recipients leaves the others their copy.
func (a smtpAdapter) SendPartial(ctx context.Context, from string, to []string, mime []byte) (string, []graphmail.Rejection, error) {
	r, err := a.c.Send(ctx, smtpfallback.Envelope{From: from, To: to, Partial: true}, mime)
	var rej []graphmail.Rejection
	if err == nil {
		for _, x := range r.Rejected {
			rej = append(rej, graphmail.Rejection{Address: x.Address, Err: x.Err})
		}
	}
	return r.Reply, rej, err
}

// newSMTPFallback builds the SMTP XOAUTH2 transport on the shared token
// provider and adapts it to graphmail.Fallback.
func newSMTPFallback(cfg *config.Config, tlsCfg *tls.Config, tokens *auth.Provider, user string) (graphmail.Fallback, func() error, error) {
	c, err := NewSMTP(cfg, tlsCfg, tokens, user)
	if err != nil {
		return nil, nil, err
	}
	return smtpAdapter{c}, c.Close, nil
}

// SMTPClient builds a new SMTP XOAUTH2 client on the stack's tokens and
// TLS settings, authenticating as SMTPUser; the caller closes it.
func (a *Stack) SMTPClient() (*smtpfallback.Client, error) {
	return NewSMTP(a.Config, a.TLS, a.Tokens, a.SMTPUser)
}

// NewSMTP builds the SMTP XOAUTH2 client on tokens, with the Outlook scope
// of the configured cloud, authenticating as user (the XOAUTH2 user=; MAIL
// FROM is the sender mailbox).
func NewSMTP(cfg *config.Config, tlsCfg *tls.Config, tokens *auth.Provider, user string) (*smtpfallback.Client, error) {
	c, err := smtpfallback.New(smtpfallback.Config{
		Host:      cfg.SMTP.Host,
		Port:      cfg.SMTP.Port,
		Username:  user,
		Tokens:    tokens.Source(cfg.SMTP.Scope),
		TLSConfig: tlsCfg.Clone(),
	})
	if err != nil {
		return nil, &config.Error{Key: "smtp.host", Problem: err.Error(), Hint: "check smtp.host and smtp.port"}
	}
	return c, nil
}
