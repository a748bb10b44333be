package graphmailtest

import (
	"fmt"
	"strconv"

	"github.com/graphmail/graphmail/graphmail/graphmailtest/smtpd"
)

// startSMTP starts the tenant's fake Exchange Online SMTP submission server
// (STARTTLS with the tenant's certificate, AUTH XOAUTH2 checking tokens the
// tenant issued for the Outlook resource). Messages it accepts are recorded
// with DeliverSMTP, so Messages and Options.Dir show every path.
func (s *Server) startSMTP(addr string) error {
	srv, err := smtpd.New(smtpd.Options{
		Addr:      addr,
		TLSConfig: s.TLSConfig(),
		ParseToken: func(raw string) (*smtpd.Claims, error) {
			c, err := s.ParseToken(raw)
			if err != nil {
				return nil, err
			}
			return &smtpd.Claims{Audience: c.Audience, Roles: c.Roles, Scopes: c.Scopes, UPN: c.UPN, AppID: c.AppID, TenantID: c.TenantID, Expiry: c.Expiry}, nil
		},
		Audience:     ResourceOutlook,
		Mailboxes:    s.Mailboxes(),
		Unresolvable: s.unresolvable,
		Logger:       s.log,
		OnMessage: func(m smtpd.Message) error {
			_, err := s.DeliverSMTP(m.User, m.To, m.Data)
			return err
		},
	})
	if err != nil {
		return fmt.Errorf("graphmailtest: smtp: %w", err)
	}
	s.smtp = srv
	return nil
}

// SMTPHost returns the host of the fake SMTP submission server ("127.0.0.1").
func (s *Server) SMTPHost() string { return s.smtp.Host() }

// SMTPPort returns the port of the fake SMTP submission server.
func (s *Server) SMTPPort() int { return s.smtp.Port() }

// SMTPAddr returns host:port of the fake SMTP submission server.
func (s *Server) SMTPAddr() string { return s.smtp.Host() + ":" + strconv.Itoa(s.smtp.Port()) }

// SMTP returns the fake SMTP server, to inject failures (FailNext), turn
// SMTP AUTH off (DisableAuth) or count authentications.
func (s *Server) SMTP() *smtpd.Server { return s.smtp }
