package config

import (
	"errors"
	"net/netip"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDaemonDefaults(t *testing.T) {
	c, err := load(Options{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.Listen != "127.0.0.1:2525" || !reflect.DeepEqual(c.Serve.AllowNets, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}) ||
		c.Serve.MaxMessageSize != 35<<20 || c.Serve.MaxRecipients != 500 || c.Serve.MaxConnections != 100 || c.Serve.CommandTimeout != 5*time.Minute || c.Serve.ProxyProtocol || c.Serve.ProxyTrustedNets != nil || c.Spool.MaxAge != 120*time.Hour || c.Spool.Workers != 4 || c.Sendmail.Spool ||
		c.Spool.Backend != SpoolDir || c.NATS.Stream != "GRAPHMAIL" || c.NATS.Replicas != 1 || c.NATS.URL != "" {
		t.Errorf("defaults = %+v %+v %+v", c.Serve, c.Spool, c.Sendmail)
	}
}

func TestDaemonFromFileAndEnv(t *testing.T) {
	dir := t.TempDir()
	path := writeFile(t, dir, "graphmail.yaml", `
serve:
  listen: 0.0.0.0:587
  allow_nets: [10.1.2.0/24, 192.0.2.7]
  allowed_from: ["@contoso.com"]
  max_connections: 20
  command_timeout: 90s
  proxy_protocol: true
  proxy_trusted_nets: [10.9.0.0/16, 10.8.0.5]
  tls_cert: relay.pem
  tls_key: relay.key
  accounts:
    printer:
      password_hash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"
      allowed_from: [scanner@contoso.com]
      mailbox: scanner@contoso.com
  mailbox: from
  rewrite:
    - accounts: [printer]
      nets: [10.1.2.0/24, 192.0.2.9]
      from: mailbox
      reply_to: true
      drop_address_names: true
      subject_prefix: "[scan] "
      qualify: true
    - subject_prefix: "[relay] "
spool:
  dir: /var/spool/graphmail
  max_age: 48h
`)
	c, err := load(Options{ConfigFile: path}, fakeEnv{"GRAPHMAIL_SERVE_ALLOWED_FROM": "a@contoso.com, b@contoso.com", "GRAPHMAIL_SENDMAIL_SPOOL": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Serve.Listen != "0.0.0.0:587" || !reflect.DeepEqual(c.Serve.AllowNets, []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("192.0.2.7/32")}) {
		t.Errorf("serve = %+v", c.Serve)
	}
	if !reflect.DeepEqual(c.Serve.AllowedFrom, []string{"a@contoso.com", "b@contoso.com"}) || c.Sources["serve.allowed_from"] != SourceEnv {
		t.Errorf("env list = %v from %s", c.Serve.AllowedFrom, c.Sources["serve.allowed_from"])
	}
	if !c.Serve.ProxyProtocol || !reflect.DeepEqual(c.Serve.ProxyTrustedNets, []netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("10.8.0.5/32")}) {
		t.Errorf("proxy_protocol %v proxy_trusted_nets %v", c.Serve.ProxyProtocol, c.Serve.ProxyTrustedNets)
	}
	if c.Serve.MaxConnections != 20 || c.Serve.CommandTimeout != 90*time.Second {
		t.Errorf("max_connections %d command_timeout %v, want 20 and 90s", c.Serve.MaxConnections, c.Serve.CommandTimeout)
	}
	if c.Serve.TLSCert != filepath.Join(dir, "relay.pem") {
		t.Errorf("tls_cert = %s, want it relative to the file", c.Serve.TLSCert)
	}
	a := c.Serve.Accounts["printer"]
	if !strings.HasPrefix(a.PasswordHash, "$argon2id$") || !reflect.DeepEqual(a.AllowedFrom, []string{"scanner@contoso.com"}) {
		t.Errorf("account = %+v", a)
	}
	if a.Mailbox != "scanner@contoso.com" || c.Serve.Mailbox != MailboxFrom {
		t.Errorf("account mailbox %q, serve.mailbox %q", a.Mailbox, c.Serve.Mailbox)
	}
	want := []Rewrite{
		{Accounts: []string{"printer"}, Nets: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("192.0.2.9/32")},
			FromMailbox: true, ReplyTo: true, DropAddressNames: true, SubjectPrefix: "[scan] ", Qualify: true},
		{SubjectPrefix: "[relay] "},
	}
	if !reflect.DeepEqual(c.Serve.Rewrite, want) {
		t.Errorf("rewrite = %+v, want %+v", c.Serve.Rewrite, want)
	}
	if c.Spool.MaxAge != 48*time.Hour || !c.Sendmail.Spool {
		t.Errorf("spool = %+v sendmail = %+v", c.Spool, c.Sendmail)
	}
	for _, s := range c.Settings() {
		if s.Key == "serve.accounts" && (strings.Contains(s.Value, "argon2id") || !strings.Contains(s.Value, "printer")) {
			t.Errorf("config show of accounts = %q", s.Value)
		}
	}
}

func TestDaemonValidation(t *testing.T) {
	tests := []struct {
		name, yaml, key, problem string
	}{
		{"bad listen", "serve: {listen: localhost}", "serve.listen", "not a host:port address"},
		{"cert without key", "serve: {tls_cert: a.pem}", "serve.tls_cert", "serve.tls_cert and serve.tls_key must be set together"},
		{"tls listener without cert", "serve: {tls_listen: 127.0.0.1:465}", "serve.tls_listen", "needs serve.tls_cert and serve.tls_key"},
		{"bad network", "serve: {allow_nets: [10.0.0.0/33]}", "serve.allow_nets", `"10.0.0.0/33" is not a network`},
		{"plain password", "serve: {accounts: {printer: {password_hash: hunter2}}}", "serve.accounts", "account printer: password_hash is not a bcrypt or argon2id hash"},
		{"unknown account field", "serve: {accounts: {printer: {password: x}}}", "serve.accounts", "not a table of accounts"},
		{"bad serve.mailbox", "serve: {mailbox: header}", "serve.mailbox", "not one of sender, from"},
		{"account mailbox not an address", "serve: {accounts: {printer: {password_hash: $2a$10$x, mailbox: scanner}}}", "serve.accounts", `account printer: mailbox "scanner" is not an address`},
		{"rewrite not a list", "serve: {rewrite: {from: mailbox}}", "serve.rewrite", "not a list of rules"},
		{"rewrite unknown field", "serve: {rewrite: [{from_header: x}]}", "serve.rewrite", "rule 1: unknown field from_header (accounts, nets, from, reply_to, drop_address_names, subject_prefix, qualify)"},
		{"rewrite bad from", "serve: {rewrite: [{from: header}]}", "serve.rewrite", "rule 1: from is not mailbox or keep"},
		{"rewrite bad net", "serve: {rewrite: [{nets: [10.0.0.0/33]}]}", "serve.rewrite", "rule 1: nets is not a list of networks (10.0.0.0/33)"},
		{"rewrite unknown account", "serve: {rewrite: [{accounts: [ghost]}]}", "serve.rewrite", `rule 1 names account "ghost", which serve.accounts does not have`},
		{"rewrite reply_to alone", "serve: {rewrite: [{reply_to: true}]}", "serve.rewrite", "rule 1: reply_to needs from: mailbox"},
		{"zero connections", "serve: {max_connections: 0}", "serve.max_connections", "must be at least 1"},
		{"tiny command timeout", "serve: {command_timeout: 10ms}", "serve.command_timeout", "must be at least 1s"},
		{"proxy protocol without trusted nets", "serve: {proxy_protocol: true}", "serve.proxy_trusted_nets", "must list the load balancers' networks when serve.proxy_protocol is on"},
		{"bad proxy trusted net", "serve: {proxy_protocol: true, proxy_trusted_nets: [10.0.0.0/33]}", "serve.proxy_trusted_nets", `"10.0.0.0/33" is not a network`},
		{"zero workers", "spool: {workers: 0}", "spool.workers", "must be between 1 and 64"},
		{"short max age", "spool: {max_age: 10s}", "spool.max_age", "must be at least 1m"},
		{"bad backend", "spool: {backend: redis}", "spool.backend", "not one of dir, nats"},
		{"nats without url", "spool: {backend: nats}", "nats.url", "spool.backend: nats needs the NATS servers"},
		{"nats zero replicas", "spool: {backend: nats}\nnats: {url: nats://127.0.0.1:4222, replicas: 0}", "nats.replicas", "must be between 1 and 5"},
		{"nats cert without key", "spool: {backend: nats}\nnats: {url: nats://127.0.0.1:4222, tls_cert: c.pem}", "nats.tls_cert", "nats.tls_cert and nats.tls_key must be set together"},
		{"nats bad stream", "spool: {backend: nats}\nnats: {url: nats://127.0.0.1:4222, stream: a.b}", "nats.stream", "not a JetStream stream name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, t.TempDir(), "g.yaml", tt.yaml)
			_, err := load(Options{ConfigFile: path}, nil)
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
			}
			for _, e := range errs {
				if e.Key == tt.key && e.Problem == tt.problem {
					if strings.Contains(e.Error(), "hunter2") {
						t.Errorf("error reveals the password: %v", e)
					}
					return
				}
			}
			t.Errorf("errors = %v, want %s: %s", err, tt.key, tt.problem)
		})
	}
}
