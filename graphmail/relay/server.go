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
	"time"

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
	now    func() time.Time

	// Fixed at New: the command timeout, the name in replies and whether
	// connections begin with a PROXY header.
	timeout time.Duration
	domain  string
	proxy   bool
	// refusedLog and errorLog keep refused connections and go-smtp's
	// errors (failed TLS handshakes…) from flooding the log.
	refusedLog, errorLog quietLog

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
	s := &Server{lim: newLimiter(cfg.now), log: cfg.Logger, now: cfg.now, checks: make(chan struct{}, cfg.maxChecks), timeout: cfg.CommandTimeout, domain: cfg.Domain, proxy: cfg.ProxyProtocol}
	s.cfg.Store(cfg)
	mk := func() *smtp.Server {
		srv := smtp.NewServer(backend{s})
		srv.Domain = cfg.Domain
		srv.MaxMessageBytes = cfg.MaxMessageBytes
		srv.MaxLineLength = MaxLineBytes
		// go-smtp sets these deadlines before each command line and each
		// reply; conn adjusts the read ones (see conn.SetReadDeadline).
		srv.ReadTimeout = cfg.CommandTimeout
		srv.WriteTimeout = cfg.CommandTimeout
		srv.TLSConfig = cfg.TLSConfig
		// Sessions decide themselves: AUTH is offered over TLS or to
		// loopback clients only (see session.AuthMechanisms).
		srv.AllowInsecureAuth = true
		srv.ErrorLog = slogLogger{s}
		return srv
	}
	s.plain, s.tls = mk(), mk()
	return s, nil
}

// Reload replaces the allow-lists, accounts, sender lists and limits. Open
// connections stay open and see the new rules from their next command.
// Addr, TLSAddr, TLSConfig, Domain, CommandTimeout and ProxyProtocol keep the
// values given to New (ProxyTrustedNets is reloaded), and so does the SIZE announced in EHLO: MaxMessageBytes can be
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
	return s.plain.Serve(newLimitListener(ln, s, true))
}

// ServeTLS accepts implicit-TLS connections on ln until Close.
func (s *Server) ServeTLS(ln net.Listener) error {
	cfg := s.config()
	if cfg.TLSConfig == nil {
		return &ConfigError{Field: "TLSConfig", Problem: "is required for ServeTLS"}
	}
	s.track(ln)
	return s.tls.Serve(tls.NewListener(newLimitListener(ln, s, false), cfg.TLSConfig))
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

// limitListener refuses connections beyond MaxConnections and the
// per-client limits, and wraps the others in a conn.
type limitListener struct {
	net.Listener
	s     *Server
	plain bool        // not implicit TLS: refused connections get a 421
	px    *proxyState // when the PROXY protocol is on
}

func (l *limitListener) Accept() (net.Conn, error) {
	if l.s.proxy {
		return l.acceptProxied()
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if lc := l.admit(c, clientIP(c.RemoteAddr(), l.s.config())); lc != nil {
			return lc, nil
		}
	}
}

// admit counts c as a connection from ip and wraps it in a conn, or
// refuses it (a 421 on the plain listener), closes it and returns nil.
func (l *limitListener) admit(c net.Conn, ip netip.Addr) net.Conn {
	cfg := l.s.config()
	var reply, why string
	switch l.s.lim.openConn(ip, cfg.MaxConnections, cfg.MaxConnsPerClient, cfg.ConnsPerMinute) {
	case connOK:
		return l.s.newConn(c, ip, l.plain)
	case connTooMany:
		reply, why = "Too many connections, try again later", "too many connections (max_connections)"
	case connFromIP:
		reply, why = "Too many connections from your address, try again later", "too many from client"
	case connRateOfIP:
		reply, why = "Too many connections from your address, try again later", "connection rate of client"
	}
	if ok, dropped := l.s.refusedLog.allow(l.s.now()); ok {
		l.s.log.Warn("relay: connection refused: "+why, withDropped([]any{"client", ip}, "refusals_not_logged", dropped)...)
	}
	if l.plain {
		c.SetWriteDeadline(time.Now().Add(time.Second))
		fmt.Fprintf(c, "421 4.7.0 %s %s\r\n", cfg.Domain, reply)
	}
	c.Close()
	return nil
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

// slogLogger adapts slog to go-smtp's Logger, at most quietBurst lines a
// minute.
type slogLogger struct{ s *Server }

func (l slogLogger) Printf(format string, v ...any) { l.log(fmt.Sprintf(format, v...)) }
func (l slogLogger) Println(v ...any)               { l.log(fmt.Sprint(v...)) }

func (l slogLogger) log(msg string) {
	if ok, dropped := l.s.errorLog.allow(l.s.now()); ok {
		l.s.log.Warn("relay: "+msg, withDropped(nil, "errors_not_logged", dropped)...)
	}
}

// withDropped adds key=dropped to attrs when lines were left out.
func withDropped(attrs []any, key string, dropped int) []any {
	if dropped > 0 {
		attrs = append(attrs, key, dropped)
	}
	return attrs
}
