package relay

import (
	"context"
	"errors"
	"io"
	"net/mail"
	"net/netip"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	cfg := b.s.config()
	_, isTLS := c.TLSConnectionState()
	ip := clientIP(c.Conn().RemoteAddr(), cfg)
	return &session{srv: b.s, conn: c, ip: ip, tls: isTLS}, nil
}

// session is one connection's state until STARTTLS (go-smtp then starts a
// new session, forgetting any AUTH) or the end.
type session struct {
	srv  *Server
	conn *smtp.Conn
	ip   netip.Addr
	tls  bool

	user string // authenticated account
	from string
	to   []string
	mail bool
}

var _ smtp.AuthSession = (*session)(nil)

// authAllowed: AUTH needs TLS, except from loopback.
func (s *session) authAllowed() bool { return s.tls || s.ip.IsLoopback() }

// AuthMechanisms offers PLAIN and LOGIN when accounts exist and AUTH is
// allowed on this connection.
func (s *session) AuthMechanisms() []string {
	if len(s.srv.config().Accounts) == 0 || !s.authAllowed() {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts an AUTH exchange.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.authAllowed() {
		return nil, ErrEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return s.authFailed(username, "authorization identity differs")
			}
			return s.authenticate(username, password)
		}), nil
	case sasl.Login:
		return &loginServer{authenticate: s.authenticate}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

// senders returns the sender patterns that apply, and whether any sender
// is allowed.
func (s *session) senders(cfg *config) (patterns []string, any bool) {
	if s.user != "" {
		return cfg.Accounts[s.user].AllowedFrom, false
	}
	return cfg.AllowedFromAnonymous, len(cfg.AllowedFromAnonymous) == 0
}

// Mail decides whether this client may submit at all, and as this sender.
func (s *session) Mail(from string, opts *smtp.MailOptions) error {
	cfg := s.srv.config()
	if s.user != "" {
		if _, ok := cfg.Accounts[s.user]; !ok { // removed by Reload
			s.user = ""
		}
	}
	if s.user == "" && !allowedNet(s.ip, cfg.AllowNets) {
		s.refuse("not authenticated and not in allow_nets", from)
		return ErrAuthRequired
	}
	if patterns, any := s.senders(cfg); !any && !senderAllowed(from, patterns) {
		s.refuse("envelope sender not allowed", from)
		return ErrSenderRefused
	}
	if opts != nil && opts.Size > cfg.MaxMessageBytes {
		return ErrTooLarge
	}
	if !s.srv.lim.message(s.ip, cfg.MessagesPerMinute) {
		s.refuse("message rate limit", from)
		return ErrRateLimited
	}
	s.from, s.to, s.mail = from, nil, true
	return nil
}

func (s *session) refuse(why, from string) {
	s.srv.log.Warn("relay: refused", "client", s.ip, "user", s.user, "reason", why, "from", from)
}

// Rcpt adds a recipient; a submission server relays to anyone once the
// client was allowed at MAIL.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if len(s.to) >= s.srv.config().MaxRecipients {
		return ErrTooManyRecipients
	}
	s.to = append(s.to, to)
	return nil
}

// Data reads the message, checks its From header and hands it to Submit;
// the 250 goes out only when Submit has returned nil.
func (s *session) Data(r io.Reader) error {
	cfg := s.srv.config()
	raw, err := io.ReadAll(io.LimitReader(r, cfg.MaxMessageBytes+1))
	if errors.Is(err, smtp.ErrTooLongLine) {
		s.refuse("line longer than 65536 octets in the message", s.from)
		s.drain(cfg)
		return ErrLineTooLong
	}
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return ErrNotQueued
	}
	if int64(len(raw)) > cfg.MaxMessageBytes {
		return ErrTooLarge
	}
	if patterns, any := s.senders(cfg); !any {
		if err := checkHeaderFrom(raw, patterns); err != nil {
			s.refuse("sender header not allowed or ambiguous", s.from)
			return err
		}
	}
	env := Envelope{From: s.from, To: append([]string(nil), s.to...), ClientAddr: s.ip, User: s.user, TLS: s.tls}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.SubmitTimeout)
	defer cancel()
	if err := cfg.Submit(ctx, env, raw); err != nil {
		s.srv.log.Error("relay: could not queue message", "client", s.ip, "user", s.user, "error", err)
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return se
		}
		return ErrNotQueued
	}
	s.srv.log.Info("relay: accepted", "client", s.ip, "user", s.user, "recipients", len(env.To), "bytes", len(raw))
	return nil
}

// senderFields are the header fields that say who sent a message. Every
// address in them must be allowed, whichever one Exchange shows.
var senderFields = []string{"From", "Sender", "Resent-From", "Resent-Sender"}

// checkHeaderFrom refuses a message whose sender fields name an address
// outside patterns or cannot be read, and a message whose header readers
// may disagree on: a bare CR or NUL in the header, two From or two Sender
// fields, or white space before the colon of a sender field. The header is
// read with the parser that the spool and delivery use. A message without
// sender fields passes: the envelope sender was checked.
func checkHeaderFrom(raw []byte, patterns []string) error {
	h := rfc5322.Parse(raw)
	if _, ok := h.Defect(rfc5322.NotAField); ok {
		return ErrBadMessage
	}
	if len(h.Defects) > 0 {
		return ErrAmbiguousHeader
	}
	for _, name := range senderFields {
		fields := h.All(name)
		if len(fields) > 1 && (name == "From" || name == "Sender") {
			return ErrAmbiguousHeader
		}
		for _, f := range fields {
			if f.SpaceBeforeColon {
				return ErrAmbiguousHeader
			}
			v := f.Value()
			if v == "" {
				continue
			}
			list, err := mail.ParseAddressList(v)
			if err != nil {
				return ErrSenderRefused
			}
			for _, a := range list {
				if !senderAllowed(a.Address, patterns) {
					return ErrSenderRefused
				}
			}
		}
	}
	return nil
}

// Reset forgets the current message.
func (s *session) Reset() { s.from, s.to, s.mail = "", nil, false }

// Logout ends the session.
func (s *session) Logout() error { return nil }
