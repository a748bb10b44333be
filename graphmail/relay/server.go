package relay

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/emersion/go-smtp"
)

// config is the reloadable part of a Server: Options with parsed hashes.
type config struct {
	Options
	hashes map[string]hash
	// dummy is checked for unknown user names (see dummyFor).
	dummy hash
}

func newConfig(opts Options) (*config, error) {
	opts.defaults()
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &config{Options: opts, hashes: map[string]hash{}}
	for user, a := range opts.Accounts {
		h, err := parseHash(a.PasswordHash)
		if err != nil {
			return nil, &ConfigError{Field: "Accounts[" + user + "].PasswordHash", Problem: err.Error()}
		}
		c.hashes[user] = h
	}
	c.dummy = dummyFor(c.hashes)
	return c, nil
}

// Server is an SMTP submission server that hands each accepted message to
// Options.Submit. It is safe for concurrent use.
type Server struct {
	cfg atomic.Pointer[config]
	lim *limiter
	// checks holds a token for each password check under way; it bounds
	// the memory argon2id takes (64 MiB each with HashPassword's
	// parameters).
	checks chan struct{}
	plain  *smtp.Server // Addr: plain, STARTTLS when configured
	tls    *smtp.Server // TLSAddr: implicit TLS
	log    *slog.Logger

	mu        sync.Mutex
	listeners []net.Listener
}

// New checks opts and returns a Server; it does not listen yet (see
// ListenAndServe, Serve and ServeTLS).
func New(opts Options) (*Server, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Server{lim: newLimiter(), log: cfg.Logger, checks: make(chan struct{}, cfg.maxChecks)}
	s.cfg.Store(cfg)
	mk := func() *smtp.Server {
		srv := smtp.NewServer(backend{s})
		srv.Domain = cfg.Domain
		srv.MaxMessageBytes = cfg.MaxMessageBytes
		srv.MaxLineLength = MaxLineBytes
		srv.ReadTimeout = cfg.IdleTimeout
		srv.WriteTimeout = cfg.IdleTimeout
		srv.TLSConfig = cfg.TLSConfig
		// Sessions decide themselves: AUTH is offered over TLS or to
		// loopback clients only (see session.AuthMechanisms).
		srv.AllowInsecureAuth = true
		srv.ErrorLog = slogLogger{cfg.Logger}
		return srv
	}
	s.plain, s.tls = mk(), mk()
	return s, nil
}

// Reload replaces the allow-lists, accounts, sender lists and limits. Open
// connections stay open and see the new rules from their next command.
// Addr, TLSAddr, TLSConfig, Domain and IdleTimeout keep the values given to
// New, and so does the SIZE announced in EHLO: MaxMessageBytes can be
// lowered by Reload but not raised above it without a restart.
func (s *Server) Reload(opts Options) error {
	cfg, err := newConfig(opts)
	if err != nil {
		return err
	}
	s.cfg.Store(cfg)
	return nil
}

func (s *Server) config() *config { return s.cfg.Load() }

// ListenAndServe listens on Options.Addr (and Options.TLSAddr when set)
// and serves until Close. It returns the first listener's error.
func (s *Server) ListenAndServe() error {
	cfg := s.config()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	errc := make(chan error, 2)
	go func() { errc <- s.Serve(ln) }()
	if cfg.TLSAddr != "" {
		tln, err := net.Listen("tcp", cfg.TLSAddr)
		if err != nil {
			s.Close()
			return fmt.Errorf("relay: %w", err)
		}
		go func() { errc <- s.ServeTLS(tln) }()
	}
	return <-errc
}

// Serve accepts submission connections on ln (plain, with STARTTLS when
// Options.TLSConfig is set) until Close.
func (s *Server) Serve(ln net.Listener) error {
	s.track(ln)
	return s.plain.Serve(&limitListener{Listener: ln, s: s, greet: true})
}

// ServeTLS accepts implicit-TLS connections on ln until Close.
func (s *Server) ServeTLS(ln net.Listener) error {
	cfg := s.config()
	if cfg.TLSConfig == nil {
		return &ConfigError{Field: "TLSConfig", Problem: "is required for ServeTLS"}
	}
	s.track(ln)
	return s.tls.Serve(tls.NewListener(&limitListener{Listener: ln, s: s}, cfg.TLSConfig))
}

func (s *Server) track(ln net.Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, ln)
	s.mu.Unlock()
}

// Close stops listening and closes every connection at once.
func (s *Server) Close() error {
	return errors.Join(s.plain.Close(), s.tls.Close())
}

// Shutdown stops listening and waits for open connections to end (their
// clients QUIT or time out) until ctx ends. A message being received when
// ctx ends is not acknowledged, so its client sends it again.
func (s *Server) Shutdown(ctx context.Context) error {
	return errors.Join(s.plain.Shutdown(ctx), s.tls.Shutdown(ctx))
}

// limitListener refuses connections beyond the per-client limits.
type limitListener struct {
	net.Listener
	s     *Server
	greet bool // answer refused connections with 421 (not on implicit TLS)
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		cfg := l.s.config()
		ip := clientIP(c.RemoteAddr(), cfg)
		if !l.s.lim.openConn(ip, cfg.MaxConnsPerClient, cfg.ConnsPerMinute) {
			l.s.log.Warn("relay: connection refused: too many from client", "client", ip)
			if l.greet {
				fmt.Fprintf(c, "421 4.7.0 %s Too many connections from your address, try again later\r\n", cfg.Domain)
			}
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: sync.OnceFunc(func() { l.s.lim.closeConn(ip) })}, nil
	}
}

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}

// clientIP returns the address the rules apply to.
func clientIP(a net.Addr, cfg *config) netip.Addr {
	var ip netip.Addr
	if ta, ok := a.(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	} else if ap, err := netip.ParseAddrPort(a.String()); err == nil {
		ip = ap.Addr().Unmap()
	}
	if cfg.clientAddr != nil {
		ip = cfg.clientAddr(ip)
	}
	return ip
}

// slogLogger adapts slog to go-smtp's Logger.
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) { l.l.Warn("relay: " + fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.l.Warn("relay: " + fmt.Sprint(v...)) }
