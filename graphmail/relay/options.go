package relay

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Envelope is what a client submitted besides the message bytes.
type Envelope struct {
	// From is the MAIL FROM address ("" for the null sender).
	From string
	// To lists every RCPT TO address in order, including recipients that
	// appear in no header (Bcc). Duplicates are kept as sent.
	To []string
	// ClientAddr is the client's IP address.
	ClientAddr netip.Addr
	// User is the account the client authenticated as, or "".
	User string
	// TLS reports whether the session was encrypted.
	TLS bool
}

// Account is a local account that may submit with AUTH PLAIN or LOGIN.
type Account struct {
	// PasswordHash is a bcrypt hash ("$2a$…", "$2b$…", "$2y$…") or an
	// argon2id PHC string ("$argon2id$v=19$m=…,t=…,p=…$salt$hash"); see
	// HashPassword.
	PasswordHash string
	// AllowedFrom lists the addresses ("app@example.com") and domains
	// ("@example.com") this account may send as, in MAIL FROM and in the
	// From header. Empty means none: every message is refused.
	AllowedFrom []string
}

// Options configure a Server. The zero value of each limit means its
// default.
type Options struct {
	// Addr is the submission listener for ListenAndServe, plain with
	// optional STARTTLS; "" means "127.0.0.1:2525".
	Addr string
	// TLSAddr, when set, is an implicit-TLS listener (needs TLSConfig).
	TLSAddr string
	// TLSConfig holds the certificate; with it STARTTLS is offered.
	TLSConfig *tls.Config
	// Domain is the name in the greeting; "" means "localhost".
	Domain string

	// AllowNets lists client networks that may submit without AUTH.
	AllowNets []netip.Prefix
	// AllowedFromAnonymous lists the senders (addresses or "@domain")
	// that clients in AllowNets may use without AUTH; empty means any.
	AllowedFromAnonymous []string
	// Accounts are the local accounts, by user name.
	Accounts map[string]Account

	// MaxMessageBytes is the largest message accepted, announced as SIZE;
	// 0 means 35 MB (Exchange Online's default). Bigger gets 552.
	MaxMessageBytes int64
	// MaxRecipients per message; 0 means 500 (Exchange Online's limit).
	MaxRecipients int
	// MaxConnsPerClient is the most simultaneous connections per client
	// IP; 0 means 20.
	MaxConnsPerClient int
	// ConnsPerMinute is the most new connections per client IP per
	// minute; 0 means unlimited.
	ConnsPerMinute int
	// MessagesPerMinute is the most messages per client IP per minute
	// (beyond it MAIL gets 450 4.7.0); 0 means unlimited.
	MessagesPerMinute int
	// MaxConnections is the most simultaneous connections, all clients
	// together; beyond it a new connection gets 421 4.7.0 and is closed.
	// 0 means 100.
	MaxConnections int
	// CommandTimeout is Postfix's smtpd_timeout: each command line must
	// arrive within it, and while a message is read, each read must bring
	// data within it; otherwise 421 4.4.2 and the connection closes.
	// Commands that do nothing (NOOP, RSET, VRFY, refused ones) do not
	// extend it: CommandTimeout after the last command that did
	// something, the connection closes. A message may take CommandTimeout
	// plus one second per KiB received (Postfix's smtpd_min_data_rate), so
	// a client that trickles bytes is cut while a slow but steady one is
	// not. 0 means 5 minutes.
	CommandTimeout time.Duration
	// AuthFailureDelay is how long the reply to the first failed AUTH from
	// an IP is delayed; it doubles with each further failure (up to 32
	// times) and is forgotten after 15 minutes without one. 0 means 1 s.
	AuthFailureDelay time.Duration

	// ProxyProtocol makes every connection begin with a PROXY protocol
	// header, v1 or v2, from a load balancer in ProxyTrustedNets: the
	// client address it names is the one AllowNets, the per-client
	// limits, the log and Envelope.ClientAddr see. A connection from
	// elsewhere, or whose header is missing, malformed or not complete
	// within CommandTimeout (10 s at most), is closed. A v1 UNKNOWN or v2
	// LOCAL header (the balancer's own health check) keeps the
	// balancer's address. On the implicit-TLS listener the header comes
	// before the handshake. Reload does not change it.
	ProxyProtocol bool
	// ProxyTrustedNets lists the load balancers' networks; required with
	// ProxyProtocol.
	ProxyTrustedNets []netip.Prefix

	// Submit stores an accepted message, durably: the client gets 250
	// only after it returns nil. r yields the message exactly as received
	// (dots unstuffed) as it arrives, so that a large message is never
	// held in memory; Submit must read it to io.EOF and store nothing when
	// reading fails (the message is over MaxMessageBytes, the connection
	// failed or timed out): the relay then answers for the read error
	// (552 for the size) whatever Submit returns. An *smtp.SMTPError is
	// passed to the client as is; any other error becomes 451 4.3.0 so the
	// client retries. Required.
	Submit func(ctx context.Context, env Envelope, r io.Reader) error
	// SubmitTimeout bounds Submit; 0 means 1 minute.
	SubmitTimeout time.Duration
	// Logger receives one line per refused or accepted message; nil
	// discards. Passwords are never logged.
	Logger *slog.Logger

	// clientAddr maps a connection's remote address to the address the
	// rules see; tests use it to play a non-loopback client.
	clientAddr func(netip.Addr) netip.Addr
	// maxChecks and checkWait override maxPasswordChecks and
	// passwordCheckWait (tests).
	maxChecks int
	checkWait time.Duration
	// proxyTimeout bounds the wait for a PROXY header; 0 means
	// CommandTimeout, at most proxyHeaderTimeout (tests set it).
	proxyTimeout time.Duration
	// lingerTimeout and minDataRate override the package's constants
	// (tests).
	lingerTimeout time.Duration
	minDataRate   int64
	// now is the clock of the limits and timeouts; nil means time.Now.
	now func() time.Time
	// dataRead, when set, is told the bytes a connection has read in the
	// message so far, after each read; closed is told when a connection
	// has given its slot back. Tests wait on them.
	dataRead func(total int64)
	closed   func()
	// verify, when set, checks a password instead of h.verify; tests use
	// it to hold and count checks.
	verify func(h hash, password string) bool
}

func (o *Options) defaults() {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:2525"
	}
	if o.Domain == "" {
		o.Domain = "localhost"
	}
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = 35 << 20
	}
	if o.MaxRecipients <= 0 {
		o.MaxRecipients = 500
	}
	if o.MaxConnsPerClient <= 0 {
		o.MaxConnsPerClient = 20
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = 100
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = 5 * time.Minute
	}
	if o.AuthFailureDelay <= 0 {
		o.AuthFailureDelay = time.Second
	}
	if o.SubmitTimeout <= 0 {
		o.SubmitTimeout = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.maxChecks <= 0 {
		o.maxChecks = maxPasswordChecks
	}
	if o.checkWait <= 0 {
		o.checkWait = passwordCheckWait
	}
	if o.proxyTimeout <= 0 {
		o.proxyTimeout = min(o.CommandTimeout, proxyHeaderTimeout)
	}
	if o.lingerTimeout <= 0 {
		o.lingerTimeout = lingerTimeout
	}
	if o.minDataRate <= 0 {
		o.minDataRate = minDataRate
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.verify == nil {
		o.verify = func(h hash, password string) bool { return h.verify(password) }
	}
}

// validate reports the first problem in o.
func (o *Options) validate() error {
	if o.Submit == nil {
		return &ConfigError{Field: "Submit", Problem: "is required"}
	}
	if o.TLSAddr != "" && o.TLSConfig == nil {
		return &ConfigError{Field: "TLSAddr", Problem: "needs TLSConfig"}
	}
	for user, a := range o.Accounts {
		if user == "" {
			return &ConfigError{Field: "Accounts", Problem: "empty user name"}
		}
		if _, err := parseHash(a.PasswordHash); err != nil {
			return &ConfigError{Field: "Accounts[" + user + "].PasswordHash", Problem: err.Error()}
		}
		for _, p := range a.AllowedFrom {
			if err := checkPattern(p); err != nil {
				return &ConfigError{Field: "Accounts[" + user + "].AllowedFrom", Problem: err.Error()}
			}
		}
	}
	for _, p := range o.AllowedFromAnonymous {
		if err := checkPattern(p); err != nil {
			return &ConfigError{Field: "AllowedFromAnonymous", Problem: err.Error()}
		}
	}
	for _, p := range o.AllowNets {
		if !p.IsValid() {
			return &ConfigError{Field: "AllowNets", Problem: "invalid prefix"}
		}
	}
	if o.ProxyProtocol && len(o.ProxyTrustedNets) == 0 {
		return &ConfigError{Field: "ProxyTrustedNets", Problem: "is required with ProxyProtocol"}
	}
	for _, p := range o.ProxyTrustedNets {
		if !p.IsValid() {
			return &ConfigError{Field: "ProxyTrustedNets", Problem: "invalid prefix"}
		}
	}
	return nil
}

func checkPattern(p string) error {
	local, domain, ok := strings.Cut(p, "@")
	if !ok || domain == "" || strings.ContainsAny(p, " <>") || strings.Contains(domain, "@") {
		return fmt.Errorf("%q is neither an address nor @domain", p)
	}
	_ = local
	return nil
}

// senderAllowed reports whether addr matches one of the patterns:
// addresses compare case-insensitively, "@example.com" matches the whole
// domain (not its subdomains).
func senderAllowed(addr string, patterns []string) bool {
	_, domain, ok := strings.Cut(addr, "@")
	if !ok || domain == "" {
		return false
	}
	for _, p := range patterns {
		if strings.HasPrefix(p, "@") {
			if strings.EqualFold(p[1:], domain) {
				return true
			}
		} else if strings.EqualFold(p, addr) {
			return true
		}
	}
	return false
}

// allowedNet reports whether ip is in one of nets.
func allowedNet(ip netip.Addr, nets []netip.Prefix) bool {
	ip = ip.Unmap()
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}
