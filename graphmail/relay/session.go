package relay

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"os"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/graphmail/graphmail/graphmail/internal/rfc5322"
)

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	lc := connOf(c.Conn())
	if lc == nil {
		return nil, errors.New("relay: connection not accepted by the relay's listener")
	}
	lc.setTop(c.Conn())
	lc.did()
	_, isTLS := c.TLSConnectionState()
	return &session{srv: b.s, conn: c, c: lc, ip: lc.ip, tls: isTLS}, nil
}

// session is one connection's state until STARTTLS (go-smtp then starts a
// new session, forgetting any AUTH) or the end.
type session struct {
	srv  *Server
	conn *smtp.Conn
	c    *conn // the connection's limits, which outlive the session
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
		s.c.refuse()
		return nil, ErrEncryptionRequired
	}
	switch mech {
	case sasl.Plain:
		return saslSteps{s.c, sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return s.authFailed(username, "authorization identity differs")
			}
			return s.authenticate(username, password)
		})}, nil
	case sasl.Login:
		return saslSteps{s.c, &loginServer{authenticate: s.authenticate}}, nil
	}
	s.c.refuse()
	return nil, smtp.ErrAuthUnknownMechanism
}

// saslSteps counts each line of an AUTH exchange as a command that did
// something.
type saslSteps struct {
	c *conn
	sasl.Server
}

func (x saslSteps) Next(response []byte) ([]byte, bool, error) {
	x.c.did()
	return x.Server.Next(response)
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
		s.c.refuse()
		return ErrTooLarge
	}
	if !s.srv.lim.message(s.ip, cfg.MessagesPerMinute) {
		s.refuse("message rate limit", from)
		return ErrRateLimited
	}
	s.from, s.to, s.mail = from, nil, true
	s.c.did()
	return nil
}

// refuse counts a refused command and logs it, unless the connection has
// had its share of refusal lines (see conn).
func (s *session) refuse(why, from string) {
	if s.c.refuse() {
		s.srv.log.Warn("relay: refused", "client", s.ip, "user", s.user, "reason", why, "from", from)
	}
}

// Rcpt adds a recipient; a submission server relays to anyone once the
// client was allowed at MAIL.
func (s *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	if len(s.to) >= s.srv.config().MaxRecipients {
		s.c.refuse()
		return ErrTooManyRecipients
	}
	s.to = append(s.to, to)
	s.c.did()
	return nil
}

// Data reads the message, checks its From header and hands it to Submit;
// the 250 goes out only when Submit has returned nil.
func (s *session) Data(r io.Reader) error {
	s.c.startData()
	err := s.data(r)
	if errors.Is(err, smtp.ErrDataReset) {
		// BDAT ended by RSET or the client: go-smtp reads no more of it.
		s.c.endData()
	}
	return err
}

func (s *session) data(r io.Reader) error {
	cfg := s.srv.config()
	raw, err := io.ReadAll(io.LimitReader(r, cfg.MaxMessageBytes+1))
	switch {
	case errors.Is(err, smtp.ErrTooLongLine):
		s.refuse("line longer than 65536 octets in the message", s.from)
		s.drain(cfg)
		// go-smtp cannot read on after a long line: close quietly after
		// the reply.
		s.c.closeAfter("", "", slog.LevelInfo)
		return ErrLineTooLong
	case errors.Is(err, os.ErrDeadlineExceeded):
		// conn has logged why; the rest of the message must not be read
		// as commands.
		s.c.closeAfter("", "timeout while reading a message", slog.LevelWarn)
		return ErrDataTimeout
	case errors.Is(err, smtp.ErrDataReset):
		return err
	case err != nil:
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			s.c.refuse()
			return se
		}
		return ErrNotQueued
	}
	if int64(len(raw)) > cfg.MaxMessageBytes {
		s.c.refuse()
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
	s.c.delivered()
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
			list, err := rfc5322.AddressList(v)
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

// Reset forgets the current message. go-smtp calls it after it has read
// all of a message, whatever the reply.
func (s *session) Reset() {
	s.from, s.to, s.mail = "", nil, false
	s.c.endData()
}

// Logout ends the session: at STARTTLS, when go-smtp already uses the
// *tls.Conn, or when the connection closes.
func (s *session) Logout() error {
	s.c.setTop(s.conn.Conn())
	return nil
}
