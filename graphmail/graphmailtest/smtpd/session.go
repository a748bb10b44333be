package smtpd

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Replies to MAIL, worded like Exchange Online's.
var (
	errNotAuthenticated = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 57}, Message: "Client not authenticated to send mail"}
	errSendAs           = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 60}, Message: "SMTP; Client does not have permissions to send as this sender"}
	errThreadLimit      = &smtp.SMTPError{Code: 432, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "STOREDRV.ClientSubmit; sender thread limit exceeded"}
)

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{srv: b.s, conn: c}, nil
}

// session is one connection's state between EHLO and STARTTLS, or after
// STARTTLS (go-smtp starts a new session then).
type session struct {
	srv  *Server
	conn *smtp.Conn

	user string // authenticated mailbox
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (s *session) tls() bool {
	_, ok := s.conn.TLSConnectionState()
	return ok
}

// AuthMechanisms lists XOAUTH2 once TLS is up (Exchange advertises AUTH
// only after STARTTLS).
func (s *session) AuthMechanisms() []string {
	if !s.tls() {
		return nil
	}
	return []string{"XOAUTH2"}
}

// Auth starts an AUTH exchange.
func (s *session) Auth(mech string) (sasl.Server, error) {
	if !s.tls() {
		s.srv.log.Info("smtpd: AUTH before STARTTLS")
		return nil, errMustStartTLS
	}
	if mech != "XOAUTH2" {
		return nil, errUnknownMech
	}
	return &xoauth2Server{authenticate: s.authenticate}, nil
}

// authenticate checks XOAUTH2 credentials like Exchange Online.
func (s *session) authenticate(user, token string) error {
	srv := s.srv
	if err := srv.takeFailure("auth"); err != nil {
		srv.log.Info("smtpd: AUTH failed (injected)", "user", user)
		return err
	}
	srv.mu.Lock()
	disabled := srv.authDisabled
	srv.mu.Unlock()
	if disabled {
		srv.log.Info("smtpd: AUTH refused: SMTP AUTH disabled", "user", user)
		return errAuthDisabled
	}
	srv.mu.Lock()
	mailboxes := srv.opts.Mailboxes
	srv.mu.Unlock()
	if len(mailboxes) > 0 && !slices.ContainsFunc(mailboxes, func(m string) bool { return strings.EqualFold(m, user) }) {
		srv.log.Info("smtpd: AUTH failed: mailbox not allowed", "user", user)
		return errAuthFailed
	}
	claims, err := srv.opts.ParseToken(token)
	if err != nil {
		srv.log.Info("smtpd: AUTH failed: bad token", "user", user, "err", err)
		return errAuthFailed
	}
	if strings.TrimSuffix(claims.Audience, "/") != strings.TrimSuffix(srv.opts.Audience, "/") {
		srv.log.Info("smtpd: AUTH failed: wrong audience", "user", user, "aud", claims.Audience)
		return errAuthFailed
	}
	delegated := claims.UPN != ""
	switch {
	case delegated && !slices.ContainsFunc(claims.Scopes, func(sc string) bool { return strings.EqualFold(sc, ScopeSend) }):
		srv.log.Info("smtpd: AUTH failed: no "+ScopeSend+" scope", "user", user, "scp", claims.Scopes)
		return errAuthFailed
	case delegated && !strings.EqualFold(claims.UPN, user):
		srv.log.Info("smtpd: AUTH failed: user= is not the token's user", "user", user, "upn", claims.UPN)
		return errAuthFailed
	case !delegated && !slices.Contains(claims.Roles, RoleSendAsApp):
		srv.log.Info("smtpd: AUTH failed: no "+RoleSendAsApp+" role", "user", user, "roles", claims.Roles)
		return errAuthFailed
	}
	if !claims.Expiry.IsZero() && !time.Now().Before(claims.Expiry) {
		srv.log.Info("smtpd: AUTH failed: token expired", "user", user)
		return errAuthFailed
	}

	key := strings.ToLower(user)
	srv.mu.Lock()
	srv.authCount++
	srv.active[key]++
	srv.maxConcurrent = max(srv.maxConcurrent, srv.active[key])
	srv.authed[s] = key
	srv.mu.Unlock()
	s.user = user
	srv.log.Info("smtpd: AUTH ok", "user", user, "app", claims.AppID, "tenant", claims.TenantID)
	return nil
}

// Mail checks the sender.
func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.user == "" {
		return errNotAuthenticated
	}
	if err := s.srv.takeFailure("mail"); err != nil {
		return err
	}
	s.srv.mu.Lock()
	over := s.srv.active[strings.ToLower(s.user)] > s.srv.opts.MaxConnsPerMailbox
	s.srv.mu.Unlock()
	if over {
		s.srv.log.Info("smtpd: too many connections", "user", s.user)
		return errThreadLimit
	}
	if !strings.EqualFold(from, s.user) {
		s.srv.log.Info("smtpd: MAIL FROM refused: not the authenticated mailbox", "user", s.user, "from", from)
		return errSendAs
	}
	s.from = from
	return nil
}

// Rcpt adds a recipient.
func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if err := s.srv.takeFailure("rcpt"); err != nil {
		return err
	}
	if u := s.srv.opts.Unresolvable; u != nil && u(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 10}, Message: "RESOLVER.ADR.RecipientNotFound; Recipient " + to + " not found by SMTP address lookup"}
	}
	s.to = append(s.to, to)
	return nil
}

// Data stores the message. go-smtp turns the returned *smtp.SMTPError into
// the reply, which is how a backend sets a 250's text.
func (s *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.srv.takeFailure("data"); err != nil {
		return err
	}
	id := messageID(data)
	m := Message{From: s.from, To: slices.Clone(s.to), Data: data, User: s.user}
	if err := s.srv.store(&m); err != nil {
		s.srv.log.Error("smtpd: storing message", "err", err)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary local problem"}
	}
	s.srv.log.Info("smtpd: message accepted", "user", s.user, "from", s.from, "rcpts", len(s.to), "bytes", len(data), "id", id)
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: "OK " + id + " [Hostname=" + Hostname + "]"}
}

// Reset forgets the transaction (RSET, EHLO, after DATA); AUTH stays.
func (s *session) Reset() {
	s.from, s.to = "", nil
}

// Logout runs when the connection closes or STARTTLS begins.
// It may run on another goroutine than the commands (Server.Close), so it
// only touches state guarded by srv.mu.
func (s *session) Logout() error {
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	if key, ok := s.srv.authed[s]; ok {
		s.srv.active[key]--
		delete(s.srv.authed, s)
	}
	return nil
}

// store records m and writes it to Dir.
func (srv *Server) store(m *Message) error {
	srv.mu.Lock()
	srv.seq++
	seq := srv.seq
	srv.mu.Unlock()
	if srv.opts.Dir != "" {
		name := fmt.Sprintf("%s-%06d.eml", time.Now().UTC().Format("20060102T150405.000Z"), seq)
		m.Path = filepath.Join(srv.opts.Dir, name)
		if err := os.WriteFile(m.Path, m.Data, 0o600); err != nil {
			return err
		}
	}
	if srv.opts.OnMessage != nil {
		if err := srv.opts.OnMessage(*m); err != nil {
			return err
		}
	}
	srv.mu.Lock()
	srv.messages = append(srv.messages, *m)
	srv.mu.Unlock()
	return nil
}

// messageID is the message's Message-ID, or a made-up one.
func messageID(data []byte) string {
	if msg, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		if id := strings.TrimSpace(msg.Header.Get("Message-Id")); strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
			return id
		}
	}
	b := make([]byte, 12)
	rand.Read(b)
	return "<" + strings.ToUpper(hex.EncodeToString(b)) + "@" + Hostname + ">"
}
