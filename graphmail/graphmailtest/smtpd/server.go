package smtpd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

// Hostname is the name the fake server gives itself in its greeting and in
// the final reply to DATA.
const Hostname = "FAKE.PROD.OUTLOOK.COM"

// DefaultAudience is the audience of tokens for the Outlook resource
// (scope https://outlook.office365.com/.default).
const DefaultAudience = "https://outlook.office365.com"

// RoleSendAsApp is the application permission SMTP AUTH requires.
const RoleSendAsApp = "SMTP.SendAsApp"

// ScopeSend is the delegated permission SMTP AUTH requires of a user's
// token; user= must then be the token's user.
const ScopeSend = "SMTP.Send"

// Claims are the parts of an access token the server checks.
type Claims struct {
	// Audience is the aud claim (the first one if it is a list).
	Audience string
	// Roles is the roles claim: application permissions.
	Roles []string
	// Scopes is the scp claim of a delegated (user) token.
	Scopes []string
	// UPN is the upn claim of a delegated token.
	UPN string
	// AppID and TenantID are the appid (or azp) and tid claims.
	AppID, TenantID string
	// Expiry is the exp claim; a zero value means none.
	Expiry time.Time
}

// Options configures a [Server].
type Options struct {
	// TLSConfig holds the server certificate. With it, STARTTLS is offered
	// and AUTH is refused until it has been used; without it, STARTTLS is
	// not offered and every AUTH is refused.
	TLSConfig *tls.Config
	// ParseToken verifies a bearer token's signature and expiry and returns
	// its claims; an error means 535 5.7.3. Required.
	ParseToken func(raw string) (*Claims, error)
	// Audience is the required aud claim; default DefaultAudience. A
	// trailing slash is ignored on either side.
	Audience string
	// Mailboxes lists the mailboxes the app may authenticate as (user= in
	// XOAUTH2, compared case-insensitively). Empty means any.
	Mailboxes []string
	// Dir, if set, receives each accepted message as a .eml file (mode 0600).
	Dir string
	// MaxConnsPerMailbox caps authenticated connections per mailbox
	// (default 3); MAIL FROM on a connection beyond it gets 432 4.3.2.
	MaxConnsPerMailbox int
	// Addr is the listen address; default "127.0.0.1:0".
	Addr string
	// Unresolvable, if set, reports the recipients Exchange cannot resolve:
	// RCPT TO gets 550 5.1.10 RESOLVER.ADR.RecipientNotFound for them.
	Unresolvable func(addr string) bool
	// OnMessage, if set, is called with each accepted message before the
	// final reply; an error turns the reply into 451 4.3.0.
	OnMessage func(Message) error
	// Logger receives one line per event; tokens are never logged. Nil
	// discards.
	Logger *slog.Logger
}

// Message is a message the server accepted.
type Message struct {
	// From is the MAIL FROM address.
	From string
	// To lists the RCPT TO addresses.
	To []string
	// Data is the message as received (CRLF line endings, dots unstuffed).
	Data []byte
	// User is the mailbox the connection authenticated as.
	User string
	// Path is the .eml file, if Options.Dir is set.
	Path string
}

// injected is a reply queued by FailNext.
type injected struct {
	code     int
	enhanced [3]int
	msg      string
}

// Server is a running fake SMTP submission server.
type Server struct {
	opts Options
	log  *slog.Logger
	ln   net.Listener
	srv  *smtp.Server
	done chan struct{}

	mu            sync.Mutex
	messages      []Message
	authDisabled  bool
	fail          map[string][]injected // by stage
	authCount     int
	active        map[string]int      // authenticated sessions by lower-cased mailbox
	authed        map[*session]string // authenticated session → key in active
	maxConcurrent int
	seq           int
}

// New starts a server on Options.Addr (127.0.0.1 on a free port by
// default). Close stops it.
func New(opts Options) (*Server, error) {
	if opts.ParseToken == nil {
		return nil, errors.New("smtpd: Options.ParseToken is required")
	}
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	if opts.MaxConnsPerMailbox <= 0 {
		opts.MaxConnsPerMailbox = 3
	}
	if opts.TLSConfig != nil {
		opts.TLSConfig = opts.TLSConfig.Clone()
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("smtpd: %w", err)
	}
	s := &Server{
		opts:   opts,
		log:    log,
		ln:     ln,
		done:   make(chan struct{}),
		fail:   make(map[string][]injected),
		active: make(map[string]int),
		authed: make(map[*session]string),
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain = Hostname
	srv.TLSConfig = opts.TLSConfig
	// AUTH must reach the backend before STARTTLS so that it can answer
	// like Exchange (530 5.7.0); the session refuses it there.
	srv.AllowInsecureAuth = true
	// An XOAUTH2 line carries a JWT of a few kilobytes, base64 encoded.
	srv.MaxLineLength = 64 << 10
	srv.MaxMessageBytes = 35 << 20 // Exchange Online's default limit
	srv.EnableSMTPUTF8 = true
	srv.ReadTimeout = 10 * time.Minute
	srv.WriteTimeout = time.Minute
	srv.ErrorLog = slogLogger{log}
	s.srv = srv
	go func() {
		defer close(s.done)
		_ = srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the listening address, "127.0.0.1:port".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Host is "127.0.0.1".
func (s *Server) Host() string { return s.ln.Addr().(*net.TCPAddr).IP.String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// AllowMailbox adds a mailbox to Options.Mailboxes.
func (s *Server) AllowMailbox(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.opts.Mailboxes) > 0 && !slices.ContainsFunc(s.opts.Mailboxes, func(x string) bool { return strings.EqualFold(x, m) }) {
		s.opts.Mailboxes = append(slices.Clone(s.opts.Mailboxes), m)
	}
}

// Close stops listening and closes every connection.
func (s *Server) Close() error {
	err := s.srv.Close()
	// Serve may not have registered the listener yet; close it ourselves.
	s.ln.Close()
	<-s.done
	if errors.Is(err, smtp.ErrServerClosed) || errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Messages returns copies of the messages accepted so far, oldest first.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Message, len(s.messages))
	for i, m := range s.messages {
		m.To = append([]string(nil), m.To...)
		m.Data = append([]byte(nil), m.Data...)
		out[i] = m
	}
	return out
}

// DisableAuth makes AUTH fail like a tenant with SMTP AUTH turned off
// (535 5.7.139), until called with false.
func (s *Server) DisableAuth(disabled bool) {
	s.mu.Lock()
	s.authDisabled = disabled
	s.mu.Unlock()
}

// FailNext makes the next command at stage ("auth", "mail", "rcpt" or
// "data") fail with the given reply, once. Calls queue up. At "auth" the
// reply replaces the credential check; at "data" it comes after the message
// was read (and the message is not stored).
func (s *Server) FailNext(code int, enhanced [3]int, msg string, stage string) {
	switch stage {
	case "auth", "mail", "rcpt", "data":
	default:
		panic(fmt.Sprintf("smtpd: FailNext: unknown stage %q", stage))
	}
	s.mu.Lock()
	s.fail[stage] = append(s.fail[stage], injected{code, enhanced, msg})
	s.mu.Unlock()
}

// AuthCount is the number of successful AUTHs so far.
func (s *Server) AuthCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.authCount
}

// MaxConcurrent is the highest number of authenticated connections any one
// mailbox has had open at the same time.
func (s *Server) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxConcurrent
}

// takeFailure pops an injected reply for stage, if any.
func (s *Server) takeFailure(stage string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.fail[stage]
	if len(q) == 0 {
		return nil
	}
	f := q[0]
	s.fail[stage] = q[1:]
	return &smtp.SMTPError{Code: f.code, EnhancedCode: smtp.EnhancedCode(f.enhanced), Message: f.msg}
}

// slogLogger adapts slog to go-smtp's Logger.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) {
	l.l.Log(context.Background(), slog.LevelWarn, strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l slogLogger) Println(v ...any) {
	l.l.Log(context.Background(), slog.LevelWarn, strings.TrimSpace(fmt.Sprintln(v...)))
}
