package config

import (
	"slices"
	"strings"
)

// Where a value came from, as recorded in Config.Sources.
const (
	SourceFlag     = "flag"      // Options.Overrides
	SourceEnv      = "env"       // a GRAPHMAIL_* environment variable
	SourceFile     = "file"      // the configuration file
	SourceAzureEnv = "azure-env" // an AZURE_* variable (azidentity conventions)
	SourceDefault  = "default"   // built in, possibly chosen by cloud or the environment
)

// EnvConfig names the environment variable that points at the
// configuration file when Options.ConfigFile is empty.
const EnvConfig = "GRAPHMAIL_CONFIG"

// envPrefix starts every graphmail environment variable.
const envPrefix = "GRAPHMAIL_"

// kind is the type a key's value is converted to. Each kind fills one Go
// type of Config field; TestKeyFields checks that they agree.
type kind int

const (
	kindString   kind = iota // string, white space trimmed
	kindSecret               // Secret: a string that is never echoed nor trimmed
	kindEnum                 // a named string type: lower-cased, one of choices
	kindURL                  // string: a URL, trailing "/" removed
	kindPath                 // string naming a file; relative paths in the file are relative to it
	kindInt                  // int
	kindBool                 // bool
	kindDuration             // time.Duration: a Go duration such as "90s" or "2m"
	kindSize                 // int64: a byte count, a whole number or with a unit (KB, MB; binary)
	kindList                 // []string: a YAML/TOML/JSON list, or comma-separated in env and flags
	kindNets                 // []netip.Prefix: a list of networks; a bare address is a /32 or /128
	kindAccounts             // map[string]Account: a table of relay accounts (file only)
	kindRewrite              // []Rewrite: a list of relay header rules (file only)
	kindPaths                // []string: one file, or a list of files (YAML/TOML/JSON list, comma-separated in env and flags); relative paths in the file are relative to it
	kindDate                 // time.Time: a date (2006-01-02) or an RFC 3339 time
)

// keyDef declares one configuration key. It is the only place a key is
// declared: the Config field it fills, its environment variables, its
// default, the valid values of an enum, "config show", unknown-key
// suggestions, the key list of the package documentation and the README's
// key table all derive from keyTable.
type keyDef struct {
	name  string            // dotted, lower case
	kind  kind              // how the value is converted
	field func(*Config) any // a pointer to the Config field the key fills

	// def is the built-in default, written as a user would write it
	// ("35MB", "2m"); nil means none (the zero value). defFunc, when set,
	// computes a default that depends on the cloud or the environment.
	def     any
	defFunc func(defaultEnv) any
	// defDoc is the default as the documentation shows it, in Markdown;
	// "" means def rendered as code, or "—" when there is none.
	defDoc string

	// choices are the valid values of a kindEnum key ("" when an empty
	// value is allowed); hint says how to choose, for the error on
	// another value.
	choices []string
	hint    string

	azureEnv string // azidentity variable feeding this key, if any
	doc      string // what the key means: one line of Markdown, no "|"
}

// keyTable lists every configuration key, in the order of the
// documentation and of reported errors.
var keyTable = []keyDef{
	{name: "tenant_id", kind: kindString, field: func(c *Config) any { return &c.TenantID }, azureEnv: "AZURE_TENANT_ID",
		doc: "Directory (tenant) ID, or a verified domain (`contoso.onmicrosoft.com`); not `common`, `organizations` or `consumers`"},
	{name: "client_id", kind: kindString, field: func(c *Config) any { return &c.ClientID }, azureEnv: "AZURE_CLIENT_ID",
		doc: "Application (client) ID"},
	{name: "client_secret", kind: kindSecret, field: func(c *Config) any { return &c.ClientSecret }, azureEnv: "AZURE_CLIENT_SECRET",
		doc: "secret value (prefer `client_secret_file`); printed as `[redacted]`"},
	{name: "client_secret_file", kind: kindPaths, field: func(c *Config) any { return &c.ClientSecretFiles },
		doc: "file holding the secret (white space around it ignored); during a rotation a list of two files, tried in order (see [Rotating credentials](#rotating-credentials)); re-read when it changes"},
	{name: "client_certificate", kind: kindPaths, field: func(c *Config) any { return &c.ClientCertificates }, azureEnv: "AZURE_CLIENT_CERTIFICATE_PATH",
		doc: "PEM with certificate and unencrypted key, or `.pfx`/`.p12`; during a rotation a list of two files, tried in order; re-read when it changes"},
	{name: "client_certificate_password", kind: kindSecret, field: func(c *Config) any { return &c.ClientCertificatePassword }, azureEnv: "AZURE_CLIENT_CERTIFICATE_PASSWORD",
		doc: "password of the `.pfx`; printed as `[redacted]`"},
	{name: "client_secret_expires", kind: kindDate, field: func(c *Config) any { return &c.ClientSecretExpires },
		defDoc: "— (unknown)",
		doc:    "when the client secret expires, as the portal shows it next to the secret (`2026-03-31`); with two secret files, the first one's; `doctor`, `serve` and `send` warn `credential_warn_days` ahead"},
	{name: "credential_warn_days", kind: kindInt, field: func(c *Config) any { return &c.CredentialWarnDays }, def: 30,
		doc: "warn this many days before the client secret or certificate expires (`doctor` warns, `serve` logs one warning a day, `send` and `sendmail` at most one a day); `0`: only when expired"},
	{name: "federated_token_file", kind: kindPath, field: func(c *Config) any { return &c.FederatedTokenFile }, azureEnv: "AZURE_FEDERATED_TOKEN_FILE",
		doc: "file holding a federated token (workload identity federation); re-read on every token request"},
	{name: "managed_identity_client_id", kind: kindString, field: func(c *Config) any { return &c.ManagedIdentityClientID },
		defDoc: "— (system-assigned)",
		doc:    "client ID of a user-assigned managed identity (`auth.method: managed_identity`)"},
	{name: "auth.method", kind: kindEnum, field: func(c *Config) any { return &c.Auth.Method },
		choices: names("", MethodSecret, MethodCertificate, MethodWorkloadIdentity, MethodManagedIdentity, MethodDelegated),
		hint:    "leave it unset to choose from what is configured, or name the credential to use",
		defDoc:  "from what is set",
		doc:     "`secret`, `certificate`, `workload_identity`, `managed_identity` or `delegated` (see [Delegated sign-in](#delegated-sign-in); never chosen automatically); unset: a secret gives `secret`, else `client_certificate` gives `certificate`, else `federated_token_file` gives `workload_identity`"},
	{name: "delegated.user", kind: kindString, field: func(c *Config) any { return &c.Delegated.User },
		defDoc: "— (the only signed-in account)",
		doc:    "`auth.method: delegated`: the account (UPN) to act for when several are signed in, and the login hint of `graphmail login --browser`"},
	{name: "cloud", kind: kindEnum, field: func(c *Config) any { return &c.Cloud }, def: string(CloudGlobal),
		choices: names("", CloudGlobal, CloudUSGov, CloudUSGovDoD, CloudChina),
		hint:    "commercial and GCC tenants use global, GCC High usgov, DoD usgovdod, 21Vianet china",
		doc:     "`global`, `usgov` (GCC High), `usgovdod` or `china`; sets the defaults of `authority_host`, `graph_endpoint`, `graph_scope`, `smtp.host` and `smtp.scope`"},
	{name: "authority_host", kind: kindURL, field: func(c *Config) any { return &c.AuthorityHost }, azureEnv: "AZURE_AUTHORITY_HOST",
		defFunc: func(d defaultEnv) any { return d.cloud.authorityHost }, defDoc: "per cloud",
		doc: "e.g. `https://login.microsoftonline.com`; overrides `cloud`"},
	{name: "graph_endpoint", kind: kindURL, field: func(c *Config) any { return &c.GraphEndpoint },
		defFunc: func(d defaultEnv) any { return d.cloud.graphEndpoint }, defDoc: "per cloud",
		doc: "e.g. `https://graph.microsoft.com`, without the API version (plain http only on localhost, 127.0.0.1 and ::1); overrides `cloud`"},
	{name: "graph_scope", kind: kindString, field: func(c *Config) any { return &c.GraphScope },
		defFunc: func(d defaultEnv) any { return d.cloud.graphScope }, defDoc: "per cloud",
		doc: "e.g. `https://graph.microsoft.com/.default`; does not follow `graph_endpoint`"},
	{name: "instance_discovery", kind: kindBool, field: func(c *Config) any { return &c.InstanceDiscovery }, def: true,
		doc: "`false` for private or test authorities"},
	{name: "ca_file", kind: kindPath, field: func(c *Config) any { return &c.CAFile },
		doc: "extra PEM CA bundle trusted for every TLS connection (proxies that inspect TLS, test tenants)"},
	{name: "sender", kind: kindString, field: func(c *Config) any { return &c.Sender },
		defDoc: "— (delegated: the signed-in user)",
		doc:    "mailbox that sends; with `auth.method: delegated` the signed-in user's own mailbox goes through `/me/sendMail`, another one through `users/{sender}/sendMail` (a mailbox the user may send from)"},
	{name: "save_to_sent_items", kind: kindBool, field: func(c *Config) any { return &c.SaveToSentItems }, def: true,
		doc: "keep a copy in the sender's Sent Items; `false` works for `graphmail send` through Graph JSON only: Graph always keeps MIME sends (`serve`, `sendmail`, `send --mime`, two-body messages) and upload-session sends, and the SMTP fallback never saves one"},
	{name: "smtp.host", kind: kindString, field: func(c *Config) any { return &c.SMTP.Host },
		defFunc: func(d defaultEnv) any { return d.cloud.smtpHost }, defDoc: "per cloud",
		doc: "SMTP submission server of the fallback (STARTTLS), e.g. `smtp.office365.com`"},
	{name: "smtp.port", kind: kindInt, field: func(c *Config) any { return &c.SMTP.Port }, def: 587,
		doc: "SMTP submission port (STARTTLS)"},
	{name: "smtp.fallback", kind: kindEnum, field: func(c *Config) any { return &c.SMTP.Fallback }, def: string(FallbackAuto),
		choices: names(FallbackAuto, FallbackNever, FallbackOnly),
		hint:    "auto sends by SMTP when Graph fails, never disables SMTP, only skips Graph",
		doc:     "`auto` (Graph, then SMTP when Graph cannot take it), `never`, `only`"},
	{name: "smtp.scope", kind: kindString, field: func(c *Config) any { return &c.SMTP.Scope },
		defFunc: func(d defaultEnv) any { return d.cloud.smtpScope }, defDoc: "per cloud",
		doc: "e.g. `https://outlook.office365.com/.default`"},
	{name: "smtp.max_message_size", kind: kindSize, field: func(c *Config) any { return &c.SMTP.MaxMessageSize }, def: "35MB",
		doc: "largest message handed to the SMTP fallback because it is over Graph's 4 MB request limit (Exchange Online's default; raise to at most `150MB` if your tenant does); bytes or `KB`/`MB`, binary units"},
	{name: "large_messages", kind: kindEnum, field: func(c *Config) any { return &c.LargeMessages },
		choices: names(LargeMessagesFallback, LargeMessagesUploadSession),
		hint:    "leave it empty to hand messages over 4 MB to the SMTP fallback, or set upload_session (needs the Mail.ReadWrite application permission)",
		doc:     "empty: a message over Graph's 4 MB request limit goes to the SMTP fallback (if within `smtp.max_message_size`), else exit 65; `upload_session`: sent through Graph as a draft whose attachments over 3 MB are uploaded in 3.75 MiB chunks, streamed from the file (needs the **Mail.ReadWrite** application permission, up to 150 MB per attachment; the draft is deleted if the send fails); a raw message (`send --mime`, sendmail, `serve`) becomes a draft created from its MIME without its largest attachment parts, which are added the same way, decoded from the message as they go: `serve` streams them from its spool file (a 100 MB scan in under 64 MiB of memory), while `send --mime` and sendmail hold their input in memory"},
	{name: "limits.messages_per_minute", kind: kindInt, field: func(c *Config) any { return &c.Limits.MessagesPerMinute }, def: 30,
		doc: "messages started per minute and mailbox, spaced evenly within a process and counted across the host's processes through `limits.budget_file` (Exchange Online delays more than 30); `0`: unlimited. Independently, at most 4 Graph requests per mailbox are ever in flight (Graph's MailboxConcurrency limit)"},
	{name: "limits.budget_file", kind: kindPath, field: func(c *Config) any { return &c.Limits.BudgetFile },
		defFunc: defaultBudgetFile,
		defDoc:  "`budget.json` beside the token cache (`token_cache.path`); `none` when that is `none`",
		doc:     "state file (mode 0600, 0660 in a setgid directory; locked with flock) through which every `send`, `sendmail` and `serve` process of the host shares each mailbox's `limits.messages_per_minute` in any sliding minute and its 4 messages in flight, so cron bursts do not multiply the rate; processes of different users share it only when they name one file in a group-shared directory; `none`: each process keeps to its own limits"},
	{name: "retry.max_attempts", kind: kindInt, field: func(c *Config) any { return &c.Retry.MaxAttempts }, def: 4,
		doc: "tries, including the first, for temporary Graph failures (429, 503, 504, network); `1`: no retry"},
	{name: "retry.max_elapsed", kind: kindDuration, field: func(c *Config) any { return &c.Retry.MaxElapsed }, def: "2m",
		doc: "total time spent waiting between those tries"},
	{name: "token_cache.path", kind: kindPath, field: func(c *Config) any { return &c.TokenCache.Path },
		defFunc: defaultTokenCache,
		defDoc:  "`$XDG_CACHE_HOME/graphmail/tokens.bin`, else `~/.cache/graphmail/tokens.bin`; root or no home: `/var/cache/graphmail/tokens.bin`",
		doc:     "encrypted token cache file (see [Tokens](#tokens-doctor-and-logs)); `none` keeps tokens in memory only (not allowed with `auth.method: delegated`)"},
	{name: "token_cache.key_file", kind: kindPath, field: func(c *Config) any { return &c.TokenCache.KeyFile },
		defFunc: defaultKeyFile,
		defDoc:  "`$XDG_CONFIG_HOME/graphmail/token-cache.key`, else `~/.config/graphmail/token-cache.key`; root or no home: `/var/lib/graphmail/token-cache.key`",
		doc:     "`auth.method: delegated` without a client secret: random key (mode 0600) that encrypts the token cache, created by `graphmail login`"},
	{name: "serve.listen", kind: kindString, field: func(c *Config) any { return &c.Serve.Listen }, def: "127.0.0.1:2525",
		doc: "SMTP submission listener of `graphmail serve` (STARTTLS when `serve.tls_cert`/`serve.tls_key` are set)"},
	{name: "serve.tls_listen", kind: kindString, field: func(c *Config) any { return &c.Serve.TLSListen },
		doc: "optional implicit-TLS listener"},
	{name: "serve.tls_cert", kind: kindPath, field: func(c *Config) any { return &c.Serve.TLSCert },
		doc: "the relay's PEM certificate (with its chain); set together with `serve.tls_key`"},
	{name: "serve.tls_key", kind: kindPath, field: func(c *Config) any { return &c.Serve.TLSKey },
		doc: "the relay's unencrypted PEM private key"},
	{name: "serve.allow_nets", kind: kindNets, field: func(c *Config) any { return &c.Serve.AllowNets }, def: []string{"127.0.0.0/8", "::1/128"},
		doc: "client networks that may submit without AUTH (CIDR; a bare address is one host)"},
	{name: "serve.allowed_from", kind: kindList, field: func(c *Config) any { return &c.Serve.AllowedFrom },
		defDoc: "any",
		doc:    "senders (addresses or `@domain`) those clients may use"},
	{name: "serve.postmaster", kind: kindString, field: func(c *Config) any { return &c.Serve.Postmaster }, def: "",
		doc: "also send every bounce (a delivery status notification for a message given up) to this address; without it bounces go only to a deliverable envelope sender"},
	{name: "serve.accounts", kind: kindAccounts, field: func(c *Config) any { return &c.Serve.Accounts },
		doc: "file only: `NAME: {password_hash: '$argon2id$…', allowed_from: [a@contoso.com], mailbox: scanner@contoso.com}`; hashes from `graphmail serve hash-password`; AUTH only over TLS unless on loopback; `mailbox` sends all of the account's mail through that mailbox"},
	{name: "serve.mailbox", kind: kindEnum, choices: []string{"sender", "from"}, field: func(c *Config) any { return &c.Serve.Mailbox }, def: "sender",
		doc: "the mailbox relayed mail is sent through: `sender` (the sender mailbox) or `from` (the message's From address when the client may use it: it matches the account's `allowed_from`, or `serve.allowed_from` without AUTH, or, when that list is empty, is in the sender's domain; else the sender mailbox); Graph needs Mail.Send for each such mailbox (`graphmail doctor` probes them)"},
	{name: "serve.rewrite", kind: kindRewrite, field: func(c *Config) any { return &c.Serve.Rewrite },
		doc: "file only: header rules for legacy devices, applied in order before a message is queued: `[{accounts: [scanner], nets: [10.1.2.0/24], from: mailbox, reply_to: true, drop_address_names: true, subject_prefix: '[scan] ', qualify: true}]`; a rule without accounts and nets applies to every message; see \"Relay rewrite rules\" in the README"},
	{name: "serve.max_message_size", kind: kindSize, field: func(c *Config) any { return &c.Serve.MaxMessageSize }, def: "35MB",
		doc: "largest message accepted, announced with SIZE; 552 beyond"},
	{name: "serve.max_recipients", kind: kindInt, field: func(c *Config) any { return &c.Serve.MaxRecipients }, def: 500,
		doc: "most recipients per message; 452 beyond"},
	{name: "serve.messages_per_minute", kind: kindInt, field: func(c *Config) any { return &c.Serve.MessagesPerMinute }, def: 0,
		defDoc: "unlimited",
		doc:    "messages per minute and client IP"},
	{name: "serve.connections_per_minute", kind: kindInt, field: func(c *Config) any { return &c.Serve.ConnectionsPerMinute }, def: 0,
		defDoc: "unlimited",
		doc:    "connections per minute and client IP"},
	{name: "serve.max_connections", kind: kindInt, field: func(c *Config) any { return &c.Serve.MaxConnections }, def: 100,
		doc: "most simultaneous SMTP connections, all clients together; beyond it `421 4.7.0` at connect"},
	{name: "serve.command_timeout", kind: kindDuration, field: func(c *Config) any { return &c.Serve.CommandTimeout }, def: "5m",
		doc: "like Postfix's `smtpd_timeout`: the wait for each command line and each read of a message (then `421 4.4.2`); NOOP and other commands that do nothing do not extend it; a message may take this plus 1 s per KiB received"},
	{name: "serve.proxy_protocol", kind: kindBool, field: func(c *Config) any { return &c.Serve.ProxyProtocol }, def: false,
		doc: "behind an L4 load balancer: every connection begins with a PROXY protocol v1 or v2 header (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, nginx `proxy_protocol on`) whose client address is the one `serve.allow_nets`, the per-client limits and the log see; needs `serve.proxy_trusted_nets`; a restart applies a change"},
	{name: "serve.proxy_trusted_nets", kind: kindNets, field: func(c *Config) any { return &c.Serve.ProxyTrustedNets },
		defDoc: "— (none)",
		doc:    "the load balancers' networks (CIDR; a bare address is one host); with `serve.proxy_protocol` a connection from elsewhere, or without a valid header within `serve.command_timeout` (10 s at most), is closed"},
	{name: "serve.metrics_listen", kind: kindString, field: func(c *Config) any { return &c.Serve.MetricsListen },
		defDoc: "— (off)",
		doc:    "HTTP `/healthz`, `/readyz`, `/metrics` (Prometheus)"},
	{name: "spool.dir", kind: kindPath, field: func(c *Config) any { return &c.Spool.Dir },
		defFunc: defaultSpoolDir,
		defDoc:  "`$XDG_STATE_HOME/graphmail/spool`, else `~/.local/state/graphmail/spool`; root or no home: `/var/spool/graphmail`",
		doc:     "the durable queue of `graphmail serve` and `sendmail.spool`"},
	{name: "spool.max_age", kind: kindDuration, field: func(c *Config) any { return &c.Spool.MaxAge }, def: "120h",
		doc: "how long a message is retried before it becomes a dead letter"},
	{name: "spool.retry_interval", kind: kindDuration, field: func(c *Config) any { return &c.Spool.RetryInterval }, def: "1m",
		doc: "wait after the first failed attempt, doubling after each further failure up to 1h"},
	{name: "spool.workers", kind: kindInt, field: func(c *Config) any { return &c.Spool.Workers }, def: 4,
		doc: "parallel deliveries (1 to 64)"},
	{name: "spool.keep_done", kind: kindBool, field: func(c *Config) any { return &c.Spool.KeepDone }, def: false,
		doc: "keep delivered messages in `done/`"},
	{name: "spool.backend", kind: kindEnum, field: func(c *Config) any { return &c.Spool.Backend }, def: string(SpoolDir),
		choices: names(SpoolDir, SpoolNATS),
		doc:     "`dir`: the fsynced directory in `spool.dir`, one relay delivers from it; `nats`: a NATS JetStream stream (the `nats.*` keys) that every relay on it accepts into and delivers from, with one per-mailbox budget across them"},
	{name: "nats.url", kind: kindString, field: func(c *Config) any { return &c.NATS.URL },
		defDoc: "— (required with `spool.backend: nats`)",
		doc:    "the NATS servers, comma-separated (`nats://n1:4222,nats://n2:4222`; `tls://` for TLS)"},
	{name: "nats.creds_file", kind: kindPath, field: func(c *Config) any { return &c.NATS.CredsFile },
		defDoc: "— (none)",
		doc:    "a NATS credentials file (user JWT and NKey seed), kept out of the config like a client secret"},
	{name: "nats.ca_file", kind: kindPath, field: func(c *Config) any { return &c.NATS.CAFile },
		defDoc: "— (system roots)",
		doc:    "the CA bundle that signs the NATS servers' certificates"},
	{name: "nats.tls_cert", kind: kindPath, field: func(c *Config) any { return &c.NATS.TLSCert },
		defDoc: "— (none)",
		doc:    "client certificate (PEM) for mutual TLS with the NATS servers; needs `nats.tls_key`"},
	{name: "nats.tls_key", kind: kindPath, field: func(c *Config) any { return &c.NATS.TLSKey },
		defDoc: "— (none)",
		doc:    "the key of `nats.tls_cert`"},
	{name: "nats.stream", kind: kindString, field: func(c *Config) any { return &c.NATS.Stream }, def: "GRAPHMAIL",
		doc: "the JetStream stream of queued messages; the dead letters (`<stream>_DEAD`), the KV buckets and the object store are named after it"},
	{name: "nats.replicas", kind: kindInt, field: func(c *Config) any { return &c.NATS.Replicas }, def: 1,
		doc: "replicas of the stream, the dead letters, the buckets and the object store: 1 on a single server, 3 on a cluster (the 250 then waits for a quorum)"},
	{name: "aliases", kind: kindPath, field: func(c *Config) any { return &c.Aliases },
		defDoc: "— (none)",
		doc:    "aliases(5) file such as `/etc/aliases` (`root: ops@contoso.com`, comma lists, a `default:` entry for every other local name); local recipients (`root`, `www-data`, `user@localhost`, `user@<hostname>`) resolve through it in the envelope and in To/Cc/Bcc; without an entry they fail (exit 67)"},
	{name: "sendmail.spool", kind: kindBool, field: func(c *Config) any { return &c.Sendmail.Spool }, def: false,
		doc: "`graphmail sendmail` drops messages into the spool of a running `graphmail serve` instead of sending directly"},
	{name: "log.level", kind: kindEnum, field: func(c *Config) any { return &c.Log.Level }, def: string(LogInfo),
		choices: names(LogDebug, LogInfo, LogWarn, LogError),
		doc:     "`debug`, `info`, `warn` or `error`; logs go to standard error"},
	{name: "log.format", kind: kindEnum, field: func(c *Config) any { return &c.Log.Format }, def: string(LogText),
		choices: names(LogText, LogJSON),
		doc:     "`text` or `json` (for log shippers)"},
	{name: "log.recipients", kind: kindBool, field: func(c *Config) any { return &c.Log.Recipients }, def: false,
		doc: "also log recipient addresses in the audit line (by default only their number)"},
	{name: "log.subject", kind: kindBool, field: func(c *Config) any { return &c.Log.Subject }, def: false,
		doc: "also log each message's Subject in the audit line (off by default: subjects can hold personal data)"},
	{name: "log.file", kind: kindPath, field: func(c *Config) any { return &c.Log.File }, def: "",
		doc: "also append the log to this file (mode 0640; reopened on SIGHUP and when logrotate moves it); it records every message at `info` even when standard error is quieter"},
	{name: "log.syslog", kind: kindBool, field: func(c *Config) any { return &c.Log.Syslog }, def: false,
		doc: "also log to the local syslog/journald (facility mail, tag graphmail), every message at `info`"},
}

// names turns enum constants into the choices of a key.
func names[T ~string](values ...T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// Keys returns every configuration key, dotted and lower case, in the order
// of the documentation.
func Keys() []string {
	out := make([]string, len(keyTable))
	for i, k := range keyTable {
		out[i] = k.name
	}
	return out
}

// EnvName returns the environment variable for a key: "GRAPHMAIL_" followed
// by the key upper-cased with "." replaced by "_" (smtp.host →
// GRAPHMAIL_SMTP_HOST, tenant_id → GRAPHMAIL_TENANT_ID).
func EnvName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// keyIndex returns the position of a key in keyTable, or -1.
func keyIndex(name string) int {
	return slices.IndexFunc(keyTable, func(k keyDef) bool { return k.name == name })
}

// lookupKey returns the definition of a key.
func lookupKey(name string) (keyDef, bool) {
	i := keyIndex(name)
	if i < 0 {
		return keyDef{}, false
	}
	return keyTable[i], true
}

// isSection reports whether name is a table holding nested keys (smtp, log,
// token_cache).
func isSection(name string) bool {
	for _, k := range keyTable {
		if strings.HasPrefix(k.name, name+".") {
			return true
		}
	}
	return false
}

// sectionKeys returns the last segments of the keys under a section.
func sectionKeys(section string) []string {
	var out []string
	for _, k := range keyTable {
		if rest, ok := strings.CutPrefix(k.name, section+"."); ok {
			out = append(out, rest)
		}
	}
	return out
}
