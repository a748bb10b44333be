package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/graphmail/graphmail/config"
	"github.com/graphmail/graphmail/graphmail"
	"github.com/graphmail/graphmail/graphmail/natsspool"
	"github.com/graphmail/graphmail/graphmail/relay"
	"github.com/graphmail/graphmail/graphmail/setup"
	"github.com/graphmail/graphmail/graphmail/spool"
)

// Options configure a Daemon.
type Options struct {
	// Stack is the wired-up client (package setup); its Config is the
	// daemon's configuration. Required.
	Stack *setup.Stack
	// Reload re-reads the configuration when the reload channel of Run
	// fires; nil means reloading is not supported.
	Reload func() (*config.Config, error)
	// Hostname is the name the relay greets with; "" means os.Hostname.
	Hostname string
	// OnEvent, if set, is called after each finished delivery attempt
	// (after the metrics count it).
	OnEvent func(spool.Event)
	// TokenWatchInterval is how often the credential is checked for
	// /readyz and the token expiry metric; 0 means TokenWatchInterval.
	TokenWatchInterval time.Duration
}

// Daemon is a running relay: listeners, spool, deliveries and metrics.
type Daemon struct {
	o       Options
	cfg     *config.Config
	log     *slog.Logger
	sp      spool.Queue
	m       *Metrics
	srv     *relay.Server
	ln, tln net.Listener
	mln     net.Listener
	// creds watches the client credential (set by Run).
	creds *credWatch
}

// New checks the serve section, opens the spool and builds the relay. It
// binds nothing yet (see Listen).
func New(o Options) (*Daemon, error) {
	if o.Stack == nil || o.Stack.Config == nil {
		return nil, errors.New("daemon: Options.Stack is required")
	}
	if o.Hostname == "" {
		o.Hostname = hostname()
	}
	d := &Daemon{o: o, cfg: o.Stack.Config, log: o.Stack.Log, m: NewMetrics()}
	if !d.cfg.SaveToSentItems {
		// Every relayed message goes to Graph as MIME, which Graph always
		// keeps in Sent Items: say so once rather than ignore the key.
		d.log.Warn("save_to_sent_items: false has no effect on relayed mail: Graph keeps every MIME send in Sent Items")
	}
	sp, err := OpenSpool(d.cfg, d.log)
	if err != nil {
		return nil, err
	}
	d.sp = sp
	shareBudget(o.Stack, sp)
	opts, err := d.relayOptions(d.cfg)
	if err != nil {
		return nil, err
	}
	if wide := nonLoopback(d.cfg.Serve.AllowNets); len(wide) > 0 {
		d.log.Warn("serve.allow_nets lets clients beyond loopback submit without AUTH: every host there can send mail as the allowed senders",
			"networks", strings.Join(wide, ","), "serve.allowed_from", strings.Join(d.cfg.Serve.AllowedFrom, ","),
			"hint", "keep serve.allow_nets to the devices that need it, limit serve.allowed_from, or give those clients serve.accounts")
	}
	if opts.MaxMessageBytes < d.cfg.Serve.MaxMessageSize {
		d.log.Warn("serve.max_message_size is more than the configured paths can carry; the relay announces and accepts the smaller size (552 beyond it)",
			"serve.max_message_size", d.cfg.Serve.MaxMessageSize, "accepted", opts.MaxMessageBytes,
			"smtp.fallback", string(d.cfg.SMTP.Fallback), "large_messages", string(d.cfg.LargeMessages), "smtp.max_message_size", d.cfg.SMTP.MaxMessageSize)
	}
	if d.srv, err = relay.New(opts); err != nil {
		return nil, &config.Error{Key: "serve", Problem: err.Error(), Hint: "check the serve section"}
	}
	return d, nil
}

// nonLoopback returns the networks of nets that reach beyond loopback.
func nonLoopback(nets []netip.Prefix) []string {
	var out []string
	for _, n := range nets {
		if a := n.Addr().Unmap(); !a.IsLoopback() || !(a.Is4() && n.Bits() >= 8 || a.Is6() && n.Bits() == 128) {
			out = append(out, n.String())
		}
	}
	return out
}

// acceptedSize is the largest message the relay takes: serve.max_message_size,
// but never more than a configured path can carry, so that no message gets
// a 250 that can only end in the dead letters.
func acceptedSize(cfg *config.Config, policy graphmail.Policy) int64 {
	if policy == "" {
		policy = graphmail.Policy(cfg.SMTP.Fallback)
	}
	return min(cfg.Serve.MaxMessageSize, graphmail.MaxMessageBytes(policy, graphmail.LargeMessages(cfg.LargeMessages), cfg.SMTP.MaxMessageSize))
}

// Spool returns the daemon's spool.
func (d *Daemon) Spool() spool.Queue { return d.sp }

// Metrics returns the daemon's counters.
func (d *Daemon) Metrics() *Metrics { return d.m }

// Listen binds serve.listen, serve.tls_listen and serve.metrics_listen.
func (d *Daemon) Listen() error {
	var err error
	if d.ln, err = net.Listen("tcp", d.cfg.Serve.Listen); err != nil {
		return &config.Error{Key: "serve.listen", Problem: err.Error(), Hint: "pick a free address; ports below 1024 need root or CAP_NET_BIND_SERVICE"}
	}
	if d.cfg.Serve.TLSListen != "" {
		if d.tln, err = net.Listen("tcp", d.cfg.Serve.TLSListen); err != nil {
			d.closeListeners()
			return &config.Error{Key: "serve.tls_listen", Problem: err.Error(), Hint: "pick a free address"}
		}
	}
	if d.cfg.Serve.MetricsListen != "" {
		if d.mln, err = net.Listen("tcp", d.cfg.Serve.MetricsListen); err != nil {
			d.closeListeners()
			return &config.Error{Key: "serve.metrics_listen", Problem: err.Error(), Hint: "pick a free address"}
		}
	}
	return nil
}

func (d *Daemon) closeListeners() {
	for _, l := range []net.Listener{d.ln, d.tln, d.mln} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// Addr is the SMTP listener's address (after Listen).
func (d *Daemon) Addr() net.Addr { return d.ln.Addr() }

// MetricsAddr is the metrics listener's address, or nil.
func (d *Daemon) MetricsAddr() net.Addr {
	if d.mln == nil {
		return nil
	}
	return d.mln.Addr()
}

// Run serves SMTP, delivers the spool and serves the metrics until ctx
// ends; then it stops accepting, lets deliveries in flight finish and
// returns nil, leaving undelivered messages in the spool. Each value on
// reload re-reads the configuration and applies the relay's allow-lists,
// accounts and limits without dropping connections. Listen must have
// succeeded.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	if d.ln == nil {
		return errors.New("daemon: Run before Listen")
	}
	serveErr := make(chan error, 2)
	go func() { serveErr <- d.srv.Serve(d.ln) }()
	if d.tln != nil {
		go func() { serveErr <- d.srv.ServeTLS(d.tln) }()
	}
	d.m.listening.Store(true)

	scope := d.cfg.GraphScope
	if d.cfg.SMTP.Fallback == config.FallbackOnly {
		scope = d.cfg.SMTP.Scope
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	watchDone := make(chan struct{})
	// Run returns only after the token check has ended: nothing of the
	// daemon outlives it.
	defer func() {
		stopWatch()
		<-watchDone
	}()
	var tokens TokenSource
	if d.o.Stack.Tokens != nil {
		tokens = d.o.Stack.Tokens
	}
	watch := newTokenWatch(tokens, scope, d.o.TokenWatchInterval)
	d.creds = newCredWatch(d.o.Stack, d.sp, d.log, d.o.TokenWatchInterval, nil)
	// An expiring credential is said before anything else, from what is
	// known locally; the app registration is read in the background.
	d.creds.warnExpiring()
	go func() {
		defer close(watchDone)
		var wg sync.WaitGroup
		wg.Go(func() { d.creds.run(watchCtx) })
		watch.run(watchCtx)
		wg.Wait()
	}()
	var metricsSrv *http.Server
	if d.mln != nil {
		dir := d.cfg.Spool.Dir
		if d.cfg.Spool.Backend == config.SpoolNATS {
			dir = "" // nothing to write locally: the stream's health says it
		}
		metricsSrv = &http.Server{Handler: d.m.handler(d.sp, dir, watch, d.creds), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = metricsSrv.Serve(d.mln) }()
		d.log.Info("metrics listening", "addr", d.mln.Addr().String())
	}

	runCtx, stopRun := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRun()
	runDone := make(chan error, 1)
	cfg := d.cfg
	go func() {
		o := RunOptions(cfg)
		o.OnEvent = func(e spool.Event) {
			d.m.Observe(e)
			d.creds.observe(e)
			if d.o.OnEvent != nil {
				d.o.OnEvent(e)
			}
		}
		o, del := newBouncer(d.sp, cfg, d.log, d.m).wrap(o, NewDeliverer(d.o.Stack.Mail))
		runDone <- d.sp.Run(runCtx, del, o)
	}()
	defer d.sp.Close()
	d.log.Info("serving", "smtp", d.ln.Addr().String(), "spool", d.sp.Dir(), "sender", cfg.Sender)

	for {
		select {
		case <-reload:
			d.reload()
		case err := <-runDone:
			d.srv.Close()
			if metricsSrv != nil {
				_ = metricsSrv.Close()
			}
			if errors.Is(err, spool.ErrLocked) {
				return &config.Error{Key: "spool.dir", Problem: "another graphmail serve is using " + cfg.Spool.Dir, Hint: "stop it, or give this one its own spool.dir"}
			}
			return err
		case err := <-serveErr:
			stopRun()
			<-runDone
			if metricsSrv != nil {
				_ = metricsSrv.Close()
			}
			return err
		case <-ctx.Done():
			d.log.Info("stopping: no new connections; deliveries in flight may finish")
			shutCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_ = d.srv.Shutdown(shutCtx)
			cancel()
			stopRun()
			err := <-runDone
			if metricsSrv != nil {
				_ = metricsSrv.Close()
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				return err
			}
			return nil
		}
	}
}

// reload re-reads the configuration and applies the relay's allow-lists,
// accounts and limits without dropping connections; a broken configuration
// is refused and the running one stays in force.
func (d *Daemon) reload() {
	// SIGHUP also reads the credential files again at once: a rotated
	// secret or certificate is used without waiting for the next poll.
	d.creds.poll(true)
	if d.o.Reload == nil {
		d.log.Warn("reload requested, but this daemon cannot re-read its configuration")
		return
	}
	cfg, err := d.o.Reload()
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return
	}
	opts, err := d.relayOptions(cfg)
	if err == nil {
		err = d.srv.Reload(opts)
	}
	if err != nil {
		d.log.Error("reload failed; keeping the running configuration", "error", err.Error())
		return
	}
	d.creds.reconfigure(cfg)
	if cfg.Serve.ProxyProtocol != d.cfg.Serve.ProxyProtocol {
		d.log.Warn("serve.proxy_protocol changed; restart graphmail serve to apply it (serve.proxy_trusted_nets is applied now)",
			"running", d.cfg.Serve.ProxyProtocol)
	}
	d.log.Info("configuration reloaded", "allow_nets", len(opts.AllowNets), "accounts", len(opts.Accounts))
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// relayOptions turns the serve section into relay options whose Submit
// spools the message durably before the client gets 250.
func (d *Daemon) relayOptions(cfg *config.Config) (relay.Options, error) {
	pol, err := newPolicy(cfg)
	if err != nil {
		return relay.Options{}, err
	}
	opts := relay.Options{
		Addr:                 cfg.Serve.Listen,
		TLSAddr:              cfg.Serve.TLSListen,
		Domain:               d.o.Hostname,
		AllowNets:            cfg.Serve.AllowNets,
		AllowedFromAnonymous: cfg.Serve.AllowedFrom,
		MaxMessageBytes:      acceptedSize(cfg, d.o.Stack.Policy),
		MaxRecipients:        cfg.Serve.MaxRecipients,
		MessagesPerMinute:    cfg.Serve.MessagesPerMinute,
		ConnsPerMinute:       cfg.Serve.ConnectionsPerMinute,
		MaxConnections:       cfg.Serve.MaxConnections,
		CommandTimeout:       cfg.Serve.CommandTimeout,
		ProxyProtocol:        cfg.Serve.ProxyProtocol,
		ProxyTrustedNets:     cfg.Serve.ProxyTrustedNets,
		Logger:               d.log,
		Submit: func(ctx context.Context, env relay.Envelope, r io.Reader) error {
			client := env.ClientAddr.String()
			if env.User != "" {
				client += " user=" + env.User
			}
			// Only the header is held, for serve.mailbox and
			// serve.rewrite; the body is written to the spool file as it
			// arrives: a large scan is never held in memory.
			hdr, rest, err := readHeader(r, maxPolicyHeader)
			if err != nil {
				return SubmitReply(err)
			}
			dec, err := pol.apply(env, hdr)
			if err != nil {
				reply := SubmitReply(err)
				d.log.Warn("refused by serve.rewrite", "client", client, "error", err.Error(), "reply", reply.Code)
				return reply
			}
			raw := &countingReader{r: io.MultiReader(bytes.NewReader(dec.raw), rest)}
			id, err := d.sp.EnqueueFrom(ctx, spool.Envelope{From: env.From, To: dec.to}, raw, spool.Meta{Client: client, Mailbox: dec.mailbox})
			if err != nil {
				reply := SubmitReply(err)
				d.log.Error("spooling failed", "error", err.Error(), "reply", reply.Code)
				return reply
			}
			d.m.ReceivedOne()
			attrs := []any{"id", string(id), "client", client, "recipients", len(dec.to), "bytes", raw.n}
			if dec.mailbox != "" {
				attrs = append(attrs, "mailbox", dec.mailbox)
			}
			if dec.rules > 0 {
				attrs = append(attrs, "rewrite_rules", dec.rules)
			}
			d.log.Info("spooled", attrs...)
			return nil
		},
	}
	if len(cfg.Serve.Accounts) > 0 {
		opts.Accounts = map[string]relay.Account{}
		for name, acc := range cfg.Serve.Accounts {
			from := acc.AllowedFrom
			if len(from) == 0 {
				from = []string{cfg.Sender}
			}
			opts.Accounts[name] = relay.Account{PasswordHash: acc.PasswordHash, AllowedFrom: from}
		}
	}
	if cfg.Serve.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.Serve.TLSCert, cfg.Serve.TLSKey)
		if err != nil {
			return opts, &config.Error{Key: "serve.tls_cert", Problem: err.Error(), Hint: "give a PEM certificate (with its chain) and its unencrypted key"}
		}
		opts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	return opts, nil
}

// submitReplies is the relay's answer to a failed submission, by class:
// a message that can never be sent is refused for good, anything else
// asks the client to try again later.
var submitReplies = [...]*smtp.SMTPError{
	graphmail.None:             relay.ErrNotQueued,
	graphmail.Transient:        relay.ErrNotQueued,
	graphmail.NeedsOperator:    {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure, try again later"},
	graphmail.Misconfigured:    {Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 5}, Message: "System incorrectly configured, try again later"},
	graphmail.BadMessage:       relay.ErrBadMessage,
	graphmail.Usage:            relay.ErrBadMessage,
	graphmail.UnknownRecipient: {Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "Recipient address unknown"},
	graphmail.Refused:          relay.ErrNotQueued,
}

// SubmitReply is the SMTP reply for a message that could not be taken:
// a table over graphmail.ClassOf(err). An *smtp.SMTPError passes as is.
func SubmitReply(err error) *smtp.SMTPError {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	c := graphmail.ClassOf(err)
	if int(c) < len(submitReplies) {
		return submitReplies[c]
	}
	return relay.ErrNotQueued
}

// OpenSpool opens the queue of spool.backend: spool.dir, or the NATS
// stream of the nats section. Close it when done.
func OpenSpool(cfg *config.Config, log *slog.Logger) (spool.Queue, error) {
	if cfg.Spool.Backend == config.SpoolNATS {
		return openNATS(cfg, log)
	}
	sp, err := spool.Open(cfg.Spool.Dir, spool.Options{DeleteDone: !cfg.Spool.KeepDone, Logger: log, Hostname: setup.MailDomain(cfg.Sender)})
	if err != nil {
		var se *spool.Error
		if errors.As(err, &se) {
			return nil, &config.Error{Key: "spool.dir", Problem: err.Error(), Hint: "set spool.dir to a directory this user may create and write (mode 0700)"}
		}
		return nil, err
	}
	return sp, nil
}

// openNATS connects to the stream of the nats section. A message from the
// object store is spooled to spool.dir/scratch while it is delivered (not
// to a tmpfs /tmp: a scan can be large).
func openNATS(cfg *config.Config, log *slog.Logger) (spool.Queue, error) {
	scratch := filepath.Join(cfg.Spool.Dir, "scratch")
	if err := os.MkdirAll(scratch, 0o700); err != nil {
		scratch = ""
	}
	q, err := natsspool.Open(context.Background(), natsspool.Options{
		URL: cfg.NATS.URL, CredsFile: cfg.NATS.CredsFile, CAFile: cfg.NATS.CAFile,
		TLSCert: cfg.NATS.TLSCert, TLSKey: cfg.NATS.TLSKey,
		Stream: cfg.NATS.Stream, Replicas: cfg.NATS.Replicas,
		Hostname: setup.MailDomain(cfg.Sender), ScratchDir: scratch, Logger: log,
	})
	if err != nil {
		return nil, &config.Error{Key: "nats.url", Problem: err.Error(),
			Hint: "check that the NATS servers run with JetStream enabled and are reachable, and nats.creds_file / nats.ca_file"}
	}
	return q, nil
}

// shareBudget makes st keep each mailbox's budget where every relay on
// the queue sees it, when the queue is shared (the nats backend's KV
// bucket); with the directory spool the host's budget file stays.
func shareBudget(st *setup.Stack, q spool.Queue) {
	if nq, ok := q.(*natsspool.Queue); ok {
		st.UseBudgetStore(nq.BudgetStore())
	}
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		return "this host"
	}
	return h
}
