package smtpfallback

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Envelope is the SMTP envelope of a message.
//
// Bcc recipients belong in To (and must be removed from the MIME headers by
// the caller): the server delivers to exactly these addresses, whatever the
// headers say.
type Envelope struct {
	// From is the MAIL FROM address. Exchange Online requires the
	// authenticated mailbox here (else 550 5.7.60).
	From string
	// To lists the RCPT TO addresses: To, Cc and Bcc together.
	To []string
	// Partial asks for delivery to the recipients the server accepts even
	// when it refuses others. Each refused RCPT TO is listed in
	// [Receipt.Rejected] and the message goes to the rest. If the server
	// refuses every recipient, Send returns the first refusal as its error,
	// as it does without Partial. Without Partial, any refusal ends the
	// transaction and nothing is sent.
	Partial bool
}

// validate rejects envelopes that cannot be sent.
func (env Envelope) validate() error {
	if env.From == "" {
		return fmt.Errorf("%w: no sender", ErrInvalidEnvelope)
	}
	if len(env.To) == 0 {
		return fmt.Errorf("%w: no recipients", ErrInvalidEnvelope)
	}
	for _, a := range append([]string{env.From}, env.To...) {
		if a == "" || strings.ContainsAny(a, "\x00\r\n<> ") {
			return fmt.Errorf("%w: bad address %q", ErrInvalidEnvelope, a)
		}
	}
	return nil
}

// Receipt is the outcome of [Client.Send]. After an error only Attempts,
// Reencoded and Rejected are set.
type Receipt struct {
	// Reply is the server's final reply to DATA, without the 250, e.g.
	// "2.0.0 OK <id> [Hostname=...]".
	Reply string
	// Attempts counts the connections Send used: 1 normally, more if a
	// pooled connection turned out to be dead or the server dropped the
	// connection after a rejected token.
	Attempts int
	// Reencoded is set when the message had lines over 998 octets and was
	// re-encoded to carry them (see the package documentation).
	Reencoded bool
	// Rejected lists the recipients the server refused, in envelope order,
	// when [Envelope.Partial] is set. It is set even if Send then failed.
	Rejected []RecipientError
}

// RecipientError is a recipient the server refused at RCPT TO, reported in
// [Receipt.Rejected] under [Envelope.Partial].
type RecipientError struct {
	// Address is the refused address, as given in [Envelope.To].
	Address string
	// Err is the server's reply (Stage [StageRcpt], Recipient set). It is
	// temporary for a 4xx reply (try this recipient again later) and
	// permanent for a 5xx.
	Err *SMTPError
}

// Error returns the reply's error text.
func (e RecipientError) Error() string { return e.Err.Error() }

// Unwrap returns the server's reply.
func (e RecipientError) Unwrap() error { return e.Err }

// Temporary reports whether the refusal was a 4xx reply.
func (e RecipientError) Temporary() bool { return e.Err.Temporary() }

// Client sends messages over SMTP AUTH XOAUTH2. It is safe for concurrent
// use; share one Client per server so the per-mailbox connection limit holds.
type Client struct {
	cfg  Config
	addr string

	mu     sync.Mutex
	pools  map[string]*pool // by lower-cased mailbox
	closed bool
}

// New checks cfg and returns a Client. It does not connect.
func New(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, addr: addr(cfg.Host, cfg.Port), pools: make(map[string]*pool)}, nil
}

// Send submits mime (a complete RFC 5322 message, CRLF or LF line endings)
// to the envelope's recipients and returns the server's final reply.
//
// A message with a line over 998 octets is re-encoded first (see the package
// documentation); one that cannot be gives a [*LineLengthError] before
// anything is dialled. Other messages go out byte for byte.
//
// It reuses an idle authenticated connection of the mailbox when there is
// one, and otherwise dials, requires TLS and authenticates, waiting while
// [Config.MaxConns] connections are busy. Send does not retry a transaction
// the server rejected or that broke part-way: use [Temporary] to decide.
// Errors are described in the package documentation.
func (c *Client) Send(ctx context.Context, env Envelope, mime []byte) (Receipt, error) {
	err := env.validate()
	if err != nil {
		return Receipt{}, err
	}
	if len(mime) == 0 {
		return Receipt{}, ErrEmptyMessage
	}
	var r Receipt
	mime, r.Reencoded, err = reencode(mime)
	if err != nil {
		return Receipt{}, err
	}
	user := c.cfg.Username
	if user == "" {
		user = env.From
	}
	p, err := c.pool(user)
	if err != nil {
		return r, err
	}

	for {
		if ctx.Err() != nil {
			return r, &NetError{Stage: StageConnect, Err: ctx.Err()}
		}
		s, err := p.get(ctx)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return r, err
			}
			return r, &NetError{Stage: StageConnect, Err: err}
		}
		if s != nil {
			r.Attempts++
			if err := s.reset(ctx); err != nil {
				s.close()
				p.release()
				continue // dead pooled connection: try the next or dial
			}
		} else {
			var n int
			s, n, err = c.open(ctx, user)
			r.Attempts += n
			if err != nil {
				p.release()
				return r, err
			}
		}

		reply, rejected, err := s.send(ctx, env, mime, c.cfg.DataTimeout)
		r.Rejected = rejected
		if err != nil {
			if s.reusable(err) {
				p.put(s)
			} else {
				s.close()
				p.release()
			}
			return r, err
		}
		p.put(s)
		r.Reply = reply
		return r, nil
	}
}

// open connects and authenticates as user, asking for a fresh token and
// trying once more if the first token is rejected with 535. It returns the
// number of connections used.
func (c *Client) open(ctx context.Context, user string) (*session, int, error) {
	token, err := c.token(ctx, false)
	if err != nil {
		return nil, 0, err
	}
	s, err := c.connect(ctx)
	if err != nil {
		return nil, 1, err
	}
	err = s.auth(ctx, user, token)
	if err == nil {
		s.user = user
		return s, 1, nil
	}
	var se *SMTPError
	if !errors.As(err, &se) || !se.AuthFailure() || se.AuthDisabled() {
		s.close()
		return nil, 1, err
	}

	// The token may have come from a cache and be revoked or stale.
	token, err = c.token(ctx, true)
	if err != nil {
		s.close()
		return nil, 1, err
	}
	conns := 1
	err = s.auth(ctx, user, token)
	if err != nil && connGone(err) && ctx.Err() == nil {
		s.close()
		conns++
		if s, err = c.connect(ctx); err != nil {
			return nil, conns, err
		}
		err = s.auth(ctx, user, token)
	}
	if err != nil {
		if errors.As(err, &se) && se.AuthFailure() {
			se.FreshToken = true
		}
		s.close()
		return nil, conns, err
	}
	s.user = user
	return s, conns, nil
}

// token asks the TokenSource and checks the token can be framed.
func (c *Client) token(ctx context.Context, force bool) (string, error) {
	tok, err := c.cfg.Tokens.Token(ctx, force)
	if err != nil {
		return "", &TokenError{Forced: force, Err: err}
	}
	if tok == "" {
		return "", &TokenError{Forced: force, Err: errors.New("token source returned an empty token")}
	}
	if strings.ContainsAny(tok, "\x00\x01\r\n") {
		return "", &TokenError{Forced: force, Err: errors.New("token contains control characters")}
	}
	return tok, nil
}

// pool returns the pool of user's connections.
func (c *Client) pool(user string) (*pool, error) {
	key := strings.ToLower(user)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	p := c.pools[key]
	if p == nil {
		p = newPool(c.cfg.MaxConns, c.cfg.IdleTimeout, c.cfg.Now)
		c.pools[key] = p
	}
	return p, nil
}

// Close closes idle connections (with QUIT) and makes later and waiting
// Sends fail with [ErrClosed]. Connections in use are closed when their
// Send finishes. Close always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	pools := c.pools
	c.mu.Unlock()

	var wg sync.WaitGroup
	for _, p := range pools {
		wg.Go(p.close)
	}
	wg.Wait()
	return nil
}
