package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Serve configures "graphmail serve", the SMTP submission relay for
// legacy applications.
type Serve struct {
	// Listen is the SMTP submission address (serve.listen, default
	// 127.0.0.1:2525). STARTTLS is offered when TLSCert and TLSKey are set.
	Listen string
	// TLSListen is an optional implicit-TLS listener (serve.tls_listen).
	TLSListen string
	// TLSCert and TLSKey are the relay's PEM certificate and key.
	TLSCert, TLSKey string
	// AllowNets are the client networks that may submit without
	// authenticating (serve.allow_nets, default loopback only). A bare
	// address in the configuration is a single host (/32 or /128).
	AllowNets []netip.Prefix
	// AllowedFrom limits the senders of unauthenticated clients
	// (serve.allowed_from: addresses or @domain; empty: any).
	AllowedFrom []string
	// Postmaster receives a copy of every bounce ("" for none).
	Postmaster string
	// Mailbox chooses the mailbox a relayed message is sent through
	// (serve.mailbox): MailboxSender (the sender mailbox, default) or
	// MailboxFrom (the From address, when the client may use it). An
	// account's Mailbox overrides it.
	Mailbox RelayMailbox
	// Rewrite are the header rules applied to relayed messages before
	// they are queued (serve.rewrite, file only), in order.
	Rewrite []Rewrite
	// Accounts are the local SMTP AUTH accounts (serve.accounts, file only).
	Accounts map[string]Account
	// MaxMessageSize is the largest message accepted (serve.max_message_size,
	// default 35 MB), announced with SIZE.
	MaxMessageSize int64
	// MaxRecipients is the most recipients per message (default 500).
	MaxRecipients int
	// MessagesPerMinute and ConnectionsPerMinute limit each client
	// (0: no limit).
	MessagesPerMinute, ConnectionsPerMinute int
	// MaxConnections is the most simultaneous connections, all clients
	// together (serve.max_connections, default 100).
	MaxConnections int
	// CommandTimeout bounds the wait for each command line and each read
	// of a message, like Postfix's smtpd_timeout (serve.command_timeout,
	// default 5m).
	CommandTimeout time.Duration
	// ProxyProtocol makes every connection to the listeners begin with a
	// PROXY protocol v1 or v2 header from a load balancer
	// (serve.proxy_protocol, default false): the client address it names
	// is the one allow_nets, the per-client limits and the log see.
	ProxyProtocol bool
	// ProxyTrustedNets are the load balancers' networks
	// (serve.proxy_trusted_nets); a connection from elsewhere is closed.
	// Required with ProxyProtocol.
	ProxyTrustedNets []netip.Prefix
	// MetricsListen is the HTTP address of /healthz, /readyz and /metrics
	// (serve.metrics_listen; empty: off).
	MetricsListen string
}

// Account is a local SMTP AUTH account of the relay.
type Account struct {
	// PasswordHash is a bcrypt ("$2…") or argon2id ("$argon2id$…") hash;
	// "graphmail serve hash-password" makes one.
	PasswordHash string `json:"-"`
	// AllowedFrom lists the senders the account may use (addresses or
	// @domain); empty means the sender mailbox only.
	AllowedFrom []string
	// Mailbox, when set, is the mailbox every message of the account is
	// sent through, whatever serve.mailbox says.
	Mailbox string
}

// RelayMailbox is a choice of serve.mailbox.
type RelayMailbox string

// The choices of serve.mailbox.
const (
	// MailboxSender sends every relayed message through the sender mailbox.
	MailboxSender RelayMailbox = "sender"
	// MailboxFrom sends a relayed message through the mailbox of its From
	// address when the client may use that address: it matches the
	// account's allowed_from (or serve.allowed_from for clients without
	// AUTH), or, when that list is empty, is in the sender mailbox's domain.
	MailboxFrom RelayMailbox = "from"
)

// Rewrite is one header rule of the relay (an item of serve.rewrite),
// after Postfix's canonical and header_checks: it applies to a message
// whose client matches (an account in Accounts, or an address in Nets;
// with neither, every message) and changes the header as its fields say.
type Rewrite struct {
	// Accounts and Nets select the clients (accounts, nets).
	Accounts []string
	Nets     []netip.Prefix
	// FromMailbox sets From to the mailbox the message is sent through
	// (from: mailbox).
	FromMailbox bool
	// ReplyTo keeps the original From as Reply-To when From is replaced
	// and the message has no Reply-To (reply_to: true).
	ReplyTo bool
	// DropAddressNames drops a display name that contains "@" from the
	// From, Sender, Reply-To, To and Cc fields ("printer@x <printer@x>"
	// becomes "printer@x"), which Graph refuses (drop_address_names: true).
	DropAddressNames bool
	// SubjectPrefix is put in front of the Subject unless it is already
	// there (subject_prefix).
	SubjectPrefix string
	// Qualify resolves bare local names ("root") in the envelope and in
	// To/Cc through the aliases file (qualify: true).
	Qualify bool
}

// Spool configures the durable queue of "graphmail serve" and
// "graphmail sendmail" with sendmail.spool.
type Spool struct {
	// Dir is the spool directory (spool.dir; default
	// $XDG_STATE_HOME/graphmail/spool, else ~/.local/state/graphmail/spool,
	// and /var/spool/graphmail for root or an account without a home).
	Dir string
	// MaxAge is how long a message is retried before it becomes a dead
	// letter (spool.max_age, default 120h).
	MaxAge time.Duration
	// RetryInterval is the wait after the first failed attempt; it doubles
	// with each further failure up to an hour (spool.retry_interval,
	// default 1m).
	RetryInterval time.Duration
	// Workers is the number of concurrent deliveries (spool.workers, default 4).
	Workers int
	// KeepDone keeps delivered messages in done/ instead of deleting them
	// (spool.keep_done).
	KeepDone bool
	// Backend is where the queue lives (spool.backend): the directory
	// spool (SpoolDir, the default) or a NATS JetStream stream shared by
	// several relays (SpoolNATS, configured by the nats section).
	Backend SpoolBackend
}

// SpoolBackend is where the durable queue lives (spool.backend).
type SpoolBackend string

// The spool backends.
const (
	// SpoolDir is the fsynced directory spool in spool.dir: one relay
	// delivers from it; it needs nothing else.
	SpoolDir SpoolBackend = "dir"
	// SpoolNATS is a JetStream stream (nats.*): every relay on it accepts
	// and delivers, and the per-mailbox budget holds across them.
	SpoolNATS SpoolBackend = "nats"
)

// NATS configures the NATS JetStream backend of the spool
// (spool.backend: nats) and of the cluster-wide mailbox budget.
type NATS struct {
	// URL lists the servers, comma-separated (nats.url), for example
	// "nats://n1:4222,nats://n2:4222".
	URL string
	// CredsFile is a NATS credentials file (nats.creds_file: a user JWT
	// and its NKey seed); "" means none.
	CredsFile string
	// CAFile is the CA bundle that signs the servers' certificates
	// (nats.ca_file); "" means the system roots when TLS is used.
	CAFile string
	// TLSCert and TLSKey are a client certificate and its key for
	// mutual TLS (nats.tls_cert, nats.tls_key).
	TLSCert, TLSKey string
	// Stream is the JetStream stream's name (nats.stream, default
	// GRAPHMAIL); the dead letters, the KV buckets and the object store
	// are named after it.
	Stream string
	// Replicas is the stream's replica count (nats.replicas, default 1;
	// 3 on a cluster, so that the 250 waits for a quorum).
	Replicas int
}

// Sendmail configures the sendmail drop-in.
type Sendmail struct {
	// Spool, when true, drops messages into the spool of a running
	// "graphmail serve" instead of sending them directly (sendmail.spool).
	Spool bool
}

// validateDaemon checks the daemon sections.
func (l *loader) validateDaemon(c *Config) {
	for _, k := range []struct{ key, v string }{{"serve.listen", c.Serve.Listen}, {"serve.tls_listen", c.Serve.TLSListen}, {"serve.metrics_listen", c.Serve.MetricsListen}} {
		if k.v == "" || l.bad[k.key] {
			continue
		}
		if _, port, err := net.SplitHostPort(k.v); err != nil || port == "" {
			l.fail(k.key, "not a host:port address", "write e.g. 127.0.0.1:2525 (loopback) or 0.0.0.0:587 (all interfaces)", nil)
		}
	}
	if c.Spool.Backend == SpoolNATS {
		if strings.TrimSpace(c.NATS.URL) == "" {
			l.fail("nats.url", "spool.backend: nats needs the NATS servers", "write e.g. nats://127.0.0.1:4222, or several comma-separated for a cluster", nil)
		}
		if !l.bad["nats.replicas"] && (c.NATS.Replicas < 1 || c.NATS.Replicas > 5) {
			l.fail("nats.replicas", "must be between 1 and 5", "1 on a single NATS server, 3 on a three-node cluster", nil)
		}
		if (c.NATS.TLSCert == "") != (c.NATS.TLSKey == "") {
			l.fail("nats.tls_cert", "nats.tls_cert and nats.tls_key must be set together", "give the client certificate and its key, or neither", nil)
		}
		if !validStreamName(c.NATS.Stream) {
			l.fail("nats.stream", "not a JetStream stream name", "use letters, digits, - and _ only (for example GRAPHMAIL)", nil)
		}
	}
	if (c.Serve.TLSCert == "") != (c.Serve.TLSKey == "") {
		l.fail("serve.tls_cert", "serve.tls_cert and serve.tls_key must be set together", "give the relay's PEM certificate and its key, or neither", nil)
	}
	if c.Serve.TLSListen != "" && c.Serve.TLSCert == "" {
		l.fail("serve.tls_listen", "needs serve.tls_cert and serve.tls_key", "set the certificate and key, or remove serve.tls_listen", nil)
	}
	names := make([]string, 0, len(c.Serve.Accounts))
	for n := range c.Serve.Accounts {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := c.Serve.Accounts[n].PasswordHash
		if !strings.HasPrefix(h, "$2") && !strings.HasPrefix(h, "$argon2id$") {
			l.fail("serve.accounts", "account "+n+": password_hash is not a bcrypt or argon2id hash",
				"store a hash, never a password: graphmail serve hash-password prints one", nil)
		}
	}
	for _, n := range names {
		if m := c.Serve.Accounts[n].Mailbox; m != "" && !plainAddress(m) {
			l.fail("serve.accounts", "account "+n+": mailbox "+strconvQuote(m)+" is not an address", "write the mailbox's address, e.g. scanner@contoso.com", nil)
		}
	}
	for i, r := range c.Serve.Rewrite {
		for _, a := range r.Accounts {
			if _, ok := c.Serve.Accounts[a]; !ok {
				l.fail("serve.rewrite", fmt.Sprintf("rule %d names account %s, which serve.accounts does not have", i+1, strconvQuote(a)), "add the account or remove it from the rule", nil)
			}
		}
		if r.ReplyTo && !r.FromMailbox {
			l.fail("serve.rewrite", fmt.Sprintf("rule %d: reply_to needs from: mailbox", i+1), "reply_to keeps the original From when the rule replaces it", nil)
		}
	}
	if !l.bad["serve.max_recipients"] && c.Serve.MaxRecipients < 1 {
		l.fail("serve.max_recipients", "must be at least 1", "Exchange Online allows 500 recipients per message", nil)
	}
	if !l.bad["serve.max_connections"] && c.Serve.MaxConnections < 1 {
		l.fail("serve.max_connections", "must be at least 1", "the default is 100 simultaneous connections", nil)
	}
	if !l.bad["serve.command_timeout"] && c.Serve.CommandTimeout < time.Second {
		l.fail("serve.command_timeout", "must be at least 1s", "the default is 5m, like Postfix's smtpd_timeout", nil)
	}
	if !l.bad["serve.proxy_protocol"] && !l.bad["serve.proxy_trusted_nets"] && c.Serve.ProxyProtocol && len(c.Serve.ProxyTrustedNets) == 0 {
		l.fail("serve.proxy_trusted_nets", "must list the load balancers' networks when serve.proxy_protocol is on",
			"name the balancers' addresses, e.g. [10.0.0.0/24]; a header from any other peer is never trusted", nil)
	}
	if !l.bad["spool.workers"] && (c.Spool.Workers < 1 || c.Spool.Workers > 64) {
		l.fail("spool.workers", "must be between 1 and 64", "Graph allows 4 concurrent requests per mailbox; 4 is the default", nil)
	}
	if !l.bad["spool.retry_interval"] && (c.Spool.RetryInterval < 100*time.Millisecond || c.Spool.RetryInterval > time.Hour) {
		l.fail("spool.retry_interval", "must be between 100ms and 1h", "the default is 1m, doubling after each failure up to 1h", nil)
	}
	if !l.bad["spool.max_age"] && c.Spool.MaxAge < time.Minute {
		l.fail("spool.max_age", "must be at least 1m", "the default is 120h (5 days), like Postfix's maximal_queue_lifetime", nil)
	}
}

// plainAddress reports whether s looks like a bare mail address.
func plainAddress(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && !strings.ContainsAny(s, " \t\r\n<>,;\"\x00")
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// rewriteText shows the rules in one line.
func rewriteText(r []Rewrite) string {
	if len(r) == 0 {
		return ""
	}
	return fmt.Sprintf("%d rule(s)", len(r))
}

// accountsText shows accounts without their hashes.
func accountsText(a map[string]Account) string {
	if len(a) == 0 {
		return ""
	}
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Sprintf("%d account(s): %s (hashes not shown)", len(a), strings.Join(names, ", "))
}

// Matches reports whether the rule applies to a client that authenticated
// as user ("" for none) from addr: a rule without Accounts and Nets
// applies to every client; otherwise either must match.
func (r Rewrite) Matches(user string, addr netip.Addr) bool {
	if len(r.Accounts) == 0 && len(r.Nets) == 0 {
		return true
	}
	if user != "" && slices.Contains(r.Accounts, user) {
		return true
	}
	addr = addr.Unmap()
	for _, n := range r.Nets {
		if addr.IsValid() && n.Contains(addr) {
			return true
		}
	}
	return false
}

// validStreamName reports whether name can name a JetStream stream, and
// the buckets named after it: letters, digits, "-" and "_", at most 32.
func validStreamName(name string) bool {
	if name == "" || len(name) > 32 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
