package smtpfallback

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-smtp"
)

// quitTimeout bounds the QUIT sent when a connection is retired.
const quitTimeout = 5 * time.Second

// session is one SMTP connection, after TLS and (once in the pool)
// authentication.
type session struct {
	raw  net.Conn // the TCP connection: deadlines and hard close
	sc   *smtp.Client
	user string
	dead bool // closed under us (context) or broken: never reuse

	// Guarded by the pool's mutex.
	idleSince time.Time
	idleGen   uint64
	timer     *time.Timer
}

// guard closes the connection if ctx ends while an operation runs. The
// returned stop reports whether that happened; the session is then dead.
func (s *session) guard(ctx context.Context) (stop func() bool) {
	after := context.AfterFunc(ctx, func() { s.raw.Close() })
	return func() bool {
		if !after() {
			s.dead = true
			return true
		}
		return false
	}
}

// close says QUIT (briefly) and closes the connection.
func (s *session) close() {
	if s.sc != nil && !s.dead {
		s.sc.CommandTimeout = quitTimeout
		_ = s.sc.Quit()
	}
	s.dead = true
	_ = s.raw.Close()
}

// connect dials, sets up TLS and says EHLO. The result is not yet
// authenticated.
func (c *Client) connect(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	raw, err := c.cfg.Dial(dctx, "tcp", c.addr)
	cancel()
	if err != nil {
		return nil, wrapErr(ctx, StageConnect, err)
	}
	s := &session{raw: raw}
	stop := s.guard(ctx)
	err = c.handshake(ctx, s)
	if stop() && err == nil {
		err = &NetError{Stage: StageConnect, Err: ctx.Err()}
	}
	if err != nil {
		s.dead = true
		raw.Close()
		return nil, err
	}
	return s, nil
}

func (c *Client) handshake(ctx context.Context, s *session) error {
	var conn net.Conn
	if c.cfg.ImplicitTLS {
		tc := tls.Client(s.raw, c.cfg.TLSConfig)
		s.raw.SetDeadline(time.Now().Add(c.cfg.CommandTimeout))
		if err := tc.HandshakeContext(ctx); err != nil {
			return tlsHandshakeErr(ctx, err)
		}
		s.raw.SetDeadline(time.Time{})
		conn = tc
	} else {
		tc, err := c.startTLS(ctx, s.raw)
		if err != nil {
			return err
		}
		// go-smtp's Client insists on reading a 220 greeting, which the
		// server sent before STARTTLS; replay one on the TLS connection.
		conn = &greetedConn{Conn: tc, r: io.MultiReader(strings.NewReader("220 "+c.cfg.Host+" TLS established\r\n"), tc)}
	}
	s.sc = smtp.NewClient(conn)
	s.sc.CommandTimeout = c.cfg.CommandTimeout
	s.sc.SubmissionTimeout = c.cfg.DataTimeout
	if err := s.sc.Hello(c.cfg.LocalName); err != nil {
		return wrapErr(ctx, StageConnect, err)
	}
	return nil
}

// startTLS runs the plain-text part of the conversation itself (go-smtp has
// no exported way to check for STARTTLS before issuing it), then the TLS
// handshake.
func (c *Client) startTLS(ctx context.Context, raw net.Conn) (*tls.Conn, error) {
	tp := textproto.NewConn(raw) // never Close: raw belongs to the session
	cmd := func(expect int, format string, args ...any) (string, error) {
		raw.SetDeadline(time.Now().Add(c.cfg.CommandTimeout))
		defer raw.SetDeadline(time.Time{})
		if format != "" {
			id, err := tp.Cmd(format, args...)
			if err != nil {
				return "", err
			}
			tp.StartResponse(id)
			defer tp.EndResponse(id)
		}
		_, msg, err := tp.ReadResponse(expect)
		return msg, err
	}
	protoErr := func(stage string, err error) error {
		var te *textproto.Error
		if errors.As(err, &te) && ctx.Err() == nil {
			return fromTextproto(te, stage)
		}
		return wrapErr(ctx, stage, err)
	}

	if _, err := cmd(220, ""); err != nil {
		return nil, protoErr(StageConnect, err)
	}
	msg, err := cmd(250, "EHLO %s", c.cfg.LocalName)
	if err != nil {
		return nil, protoErr(StageConnect, err)
	}
	if !hasExtension(msg, "STARTTLS") {
		_, _ = cmd(221, "QUIT")
		return nil, &TLSError{Err: ErrSTARTTLSUnavailable}
	}
	if _, err := cmd(220, "STARTTLS"); err != nil {
		err = protoErr(StageStartTLS, err)
		var se *SMTPError
		if errors.As(err, &se) {
			return nil, &TLSError{Err: se}
		}
		return nil, err
	}
	if tp.R.Buffered() > 0 {
		// Anything already sent after the 220 was sent in plain text and could
		// have been injected (CVE-2011-0411 style).
		return nil, &TLSError{Err: errors.New("server sent plain-text data after its STARTTLS reply")}
	}
	tc := tls.Client(raw, c.cfg.TLSConfig)
	raw.SetDeadline(time.Now().Add(c.cfg.CommandTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, tlsHandshakeErr(ctx, err)
	}
	raw.SetDeadline(time.Time{})
	return tc, nil
}

// hasExtension reports whether an EHLO reply (lines joined by "\n", the
// first being the greeting) lists ext.
func hasExtension(ehlo, ext string) bool {
	lines := strings.Split(ehlo, "\n")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(strings.TrimSpace(l), " ")
		if strings.EqualFold(name, ext) {
			return true
		}
	}
	return false
}

// greetedConn is a net.Conn whose reads start with a replayed greeting.
type greetedConn struct {
	net.Conn
	r io.Reader
}

func (g *greetedConn) Read(p []byte) (int, error) { return g.r.Read(p) }

// auth runs AUTH XOAUTH2.
func (s *session) auth(ctx context.Context, user, token string) error {
	a := &xoauth2Client{user: user, token: token}
	stop := s.guard(ctx)
	err := s.sc.Auth(a)
	if stop() && err == nil {
		return &NetError{Stage: StageAuth, Err: ctx.Err()}
	}
	if err == nil {
		return nil
	}
	if errors.Is(err, errUnexpectedChallenge) {
		return err
	}
	err = s.wrap(ctx, StageAuth, err)
	redact(err, token, string(xoauth2Response(user, token)))
	return err
}

// wrap is wrapErr that also marks the session dead after a network error or
// timeout: the conversation is out of step, not even QUIT is worth sending.
func (s *session) wrap(ctx context.Context, stage string, err error) error {
	err = wrapErr(ctx, stage, err)
	var ne *NetError
	if errors.As(err, &ne) {
		s.dead = true
	}
	return err
}

// reset sends RSET on a pooled connection before it carries a new message.
func (s *session) reset(ctx context.Context) error {
	stop := s.guard(ctx)
	err := s.sc.Reset()
	if stop() && err == nil {
		err = context.Cause(ctx)
	}
	if err != nil {
		s.dead = true
		return s.wrap(ctx, StageMail, err)
	}
	return nil
}

// send runs one mail transaction and returns the final reply to DATA and,
// under env.Partial, the refused recipients.
func (s *session) send(ctx context.Context, env Envelope, mime []byte, dataTimeout time.Duration) (string, []RecipientError, error) {
	stop := s.guard(ctx)
	reply, stage, rcpt, rejected, err := s.transact(env, mime, dataTimeout)
	interrupted := stop()
	if err == nil {
		// Delivered, even if ctx ended a moment later.
		return reply, rejected, nil
	}
	if interrupted {
		return "", rejected, &NetError{Stage: stage, Err: ctx.Err()}
	}
	if errors.Is(err, ErrSMTPUTF8Unsupported) {
		return "", rejected, err
	}
	var se *SMTPError
	if errors.As(err, &se) {
		return "", rejected, err // every recipient refused: the first refusal
	}
	err = s.wrap(ctx, stage, err)
	if errors.As(err, &se) {
		se.Recipient = rcpt
	}
	return "", rejected, err
}

func (s *session) transact(env Envelope, mime []byte, dataTimeout time.Duration) (reply, stage, rcpt string, rejected []RecipientError, err error) {
	opts := &smtp.MailOptions{Size: wireSize(mime)}
	if !isASCII(env.From) || !allASCII(env.To) {
		if ok, _ := s.sc.Extension("SMTPUTF8"); !ok {
			return "", StageMail, "", nil, ErrSMTPUTF8Unsupported
		}
		opts.UTF8 = true
	}
	if err := s.sc.Mail(env.From, opts); err != nil {
		return "", StageMail, "", nil, err
	}
	for _, to := range env.To {
		err := s.sc.Rcpt(to, nil)
		if err == nil {
			continue
		}
		var se *smtp.SMTPError
		if !env.Partial || !errors.As(err, &se) || se.Code == 421 {
			// Without Partial any refusal ends the transaction; 421 and
			// I/O errors end it in any case.
			return "", StageRcpt, to, rejected, err
		}
		rejected = append(rejected, RecipientError{Address: to, Err: &SMTPError{
			Code: se.Code, EnhancedCode: se.EnhancedCode, Message: se.Message, Stage: StageRcpt, Recipient: to,
		}})
	}
	if len(rejected) == len(env.To) {
		return "", StageRcpt, rejected[0].Address, rejected, rejected[0].Err
	}
	w, err := s.sc.Data()
	if err != nil {
		return "", StageData, "", rejected, err
	}
	// go-smtp sets deadlines around commands but not while the body is
	// written; bound that here. CloseWithResponse then waits for the final
	// reply for SubmissionTimeout (= DataTimeout).
	s.raw.SetDeadline(time.Now().Add(dataTimeout))
	if _, err := w.Write(mime); err != nil {
		s.dead = true
		return "", StageData, "", rejected, err
	}
	resp, err := w.CloseWithResponse()
	if err != nil {
		return "", StageData, "", rejected, err
	}
	return resp.StatusText, "", "", rejected, nil
}

// reusable reports whether the connection is still in step with the server
// after err: the server answered, and not with "go away".
func (s *session) reusable(err error) bool {
	if s.dead {
		return false
	}
	if errors.Is(err, ErrSMTPUTF8Unsupported) {
		return true
	}
	var se *SMTPError
	if !errors.As(err, &se) {
		return false
	}
	// 421: the server is closing. 4.3.2: too many connections for this
	// mailbox, so give one back.
	return se.Code != 421 && se.EnhancedCode != [3]int{4, 3, 2}
}

// wireSize is the message size after bare LFs become CRLF, for MAIL FROM
// SIZE=.
func wireSize(mime []byte) int64 {
	n := int64(len(mime)) + int64(bytes.Count(mime, []byte("\n"))) - int64(bytes.Count(mime, []byte("\r\n")))
	if len(mime) > 0 && mime[len(mime)-1] != '\n' {
		n += 2
	}
	return n
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func allASCII(ss []string) bool {
	for _, s := range ss {
		if !isASCII(s) {
			return false
		}
	}
	return true
}

// addr joins host and port.
func addr(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
