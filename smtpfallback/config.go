package smtpfallback

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Defaults for the zero values in [Config].
const (
	DefaultPort           = 587
	DefaultDialTimeout    = 30 * time.Second
	DefaultCommandTimeout = 5 * time.Minute  // RFC 5321 §4.5.3.2 suggests 5 minutes
	DefaultDataTimeout    = 10 * time.Minute // RFC 5321: 10 minutes for the final reply
	DefaultIdleTimeout    = 60 * time.Second
	DefaultMaxConns       = 3 // Exchange Online allows 3 concurrent connections per mailbox
)

// TokenSource yields an OAuth2 access token for the SMTP resource
// (scope https://outlook.office365.com/.default).
//
// forceRefresh asks for a new token, bypassing any cache, after the server
// rejected one that may have come from a cache. Token must be safe for
// concurrent use. Errors are returned to the caller of [Client.Send] wrapped
// in a [*TokenError].
type TokenSource interface {
	Token(ctx context.Context, forceRefresh bool) (string, error)
}

// TokenFunc adapts a function to [TokenSource].
type TokenFunc func(ctx context.Context, forceRefresh bool) (string, error)

// Token calls f.
func (f TokenFunc) Token(ctx context.Context, forceRefresh bool) (string, error) {
	return f(ctx, forceRefresh)
}

// Config configures a [Client]. Zero values mean the documented defaults.
type Config struct {
	// Host is the SMTP server, e.g. "smtp.office365.com". Required.
	Host string
	// Port defaults to 587.
	Port int
	// Username is the mailbox sent as user= in XOAUTH2. If empty, each
	// message authenticates as its Envelope.From (and gets its own pool).
	Username string
	// Tokens supplies access tokens. Required.
	Tokens TokenSource
	// TLSConfig is cloned; set RootCAs to trust a private CA (ca_file).
	// ServerName defaults to Host and MinVersion to TLS 1.2. Certificates are
	// always verified: InsecureSkipVerify is refused by [New].
	TLSConfig *tls.Config
	// ImplicitTLS starts TLS right after connecting (port 465 style). By
	// default the client requires STARTTLS.
	ImplicitTLS bool
	// Dial opens the TCP connection; nil means a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// DialTimeout bounds the dial (default 30s).
	DialTimeout time.Duration
	// CommandTimeout bounds each command's round trip, the greeting and the
	// TLS handshake (default 5m).
	CommandTimeout time.Duration
	// DataTimeout bounds writing the message and waiting for the final reply
	// to DATA (default 10m).
	DataTimeout time.Duration
	// IdleTimeout is how long an authenticated connection is kept for reuse
	// (default 60s).
	IdleTimeout time.Duration
	// LocalName is the EHLO name; default os.Hostname, or "localhost".
	LocalName string
	// MaxConns caps concurrent connections per mailbox (default 3).
	MaxConns int
	// Now is the clock for idle-connection bookkeeping; default time.Now.
	// Network deadlines always use the real clock.
	Now func() time.Time
}

// withDefaults validates cfg and fills in the defaults.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Host == "" {
		return cfg, errors.New("smtpfallback: Config.Host is required")
	}
	if cfg.Tokens == nil {
		return cfg, errors.New("smtpfallback: Config.Tokens is required")
	}
	if cfg.Port == 0 {
		cfg.Port = DefaultPort
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return cfg, fmt.Errorf("smtpfallback: port %d out of range", cfg.Port)
	}
	if cfg.MaxConns < 0 {
		return cfg, fmt.Errorf("smtpfallback: MaxConns %d is negative", cfg.MaxConns)
	}
	if strings.ContainsAny(cfg.Username, "\x00\x01\r\n") {
		return cfg, errors.New("smtpfallback: Config.Username contains control characters")
	}
	tc := &tls.Config{}
	if cfg.TLSConfig != nil {
		if cfg.TLSConfig.InsecureSkipVerify {
			return cfg, errors.New("smtpfallback: TLSConfig.InsecureSkipVerify is not allowed; trust the server's CA with RootCAs instead")
		}
		tc = cfg.TLSConfig.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = cfg.Host
	}
	if tc.MinVersion < tls.VersionTLS12 {
		tc.MinVersion = tls.VersionTLS12
	}
	cfg.TLSConfig = tc
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.CommandTimeout <= 0 {
		cfg.CommandTimeout = DefaultCommandTimeout
	}
	if cfg.DataTimeout <= 0 {
		cfg.DataTimeout = DefaultDataTimeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.LocalName == "" {
		cfg.LocalName = "localhost"
		if h, err := os.Hostname(); err == nil && h != "" && !strings.ContainsAny(h, " \t\r\n") {
			cfg.LocalName = h
		}
	}
	if strings.ContainsAny(cfg.LocalName, " \t\r\n") {
		return cfg, fmt.Errorf("smtpfallback: LocalName %q contains white space", cfg.LocalName)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return cfg, nil
}
