// Package config turns graphmail's configuration — flags, environment,
// a configuration file and defaults — into a plain, validated Config.
//
// It is the only package that imports viper; everything else takes a
// *Config.
//
// # Sources
//
// Each key takes the first value found in, highest first:
//
//  1. Options.Overrides, the command-line flags ("flag").
//  2. GRAPHMAIL_* environment variables ("env"): the key upper-cased with
//     "." replaced by "_", so smtp.host is GRAPHMAIL_SMTP_HOST and
//     tenant_id is GRAPHMAIL_TENANT_ID (see EnvName). Empty variables count
//     as unset.
//  3. The configuration file ("file"): Options.ConfigFile, else the file
//     named by GRAPHMAIL_CONFIG, else the first existing file of
//     Options.SearchPaths (DefaultSearchPaths:
//     ./graphmail.{yaml,yml,toml,json}, then config.{yaml,yml,toml,json}
//     in $XDG_CONFIG_HOME/graphmail and in /etc/graphmail; two files in one
//     place, such as config.yaml and config.toml, are an error). The
//     extension picks the format: .yaml, .yml (and no extension), .toml or
//     .json. Keys are case-insensitive; nested tables and dotted keys
//     ("smtp.host: x") are equivalent. Relative paths in the file
//     (client_secret_file, client_certificate, ca_file, token_cache.path,
//     spool.dir, …) are relative to the file's directory.
//  4. The azidentity variables ("azure-env"): AZURE_TENANT_ID and the
//     others named under Keys. When a credential (client_secret,
//     client_secret_file or client_certificate) comes from a higher
//     source, the AZURE_* credential variables are ignored, so ambient
//     azidentity settings never clash with graphmail's.
//  5. Built-in defaults ("default"). Several are chosen by cloud; the
//     token cache, its key file and the spool directory follow the XDG
//     base directories of Options.LookupEnv (HOME, XDG_CACHE_HOME,
//     XDG_CONFIG_HOME, XDG_STATE_HOME), with system-wide paths for root
//     (Options.Geteuid) and accounts without a home. Config holds the
//     effective values, never "" for "the default".
//
// Config.Sources records the source of every key.
//
// # How precedence is implemented
//
// Viper parses the file (viper.New per Load, ReadConfig with the type taken
// from the extension) and gives a case-insensitive, flattened view of it,
// which is also how unknown keys are found. Viper's own environment and
// flag layers are not used: viper reads the process environment directly,
// and viper only knows keys it has been told about (env-only values vanish
// unless every key is bound). Instead Load walks a fixed table of keys and,
// for each, asks the five sources above in order through
// Options.LookupEnv. Every key is therefore looked up in the environment
// whether or not a file exists, tests can inject the environment, and the
// value and its recorded source cannot disagree.
//
// That table (keyTable) is the one declaration of each key: the Config
// field it fills, how its value is converted, its default, the valid
// values of an enum, its AZURE_* fallback and its documentation. Adding a
// key means adding a Config field and one table entry; the list below and
// the README's key table are generated from it, and a test fails when they
// drift.
//
// # Keys
//
//	tenant_id
//	    Directory (tenant) ID, or a verified domain
//	    (contoso.onmicrosoft.com); not common, organizations or consumers;
//	    also AZURE_TENANT_ID
//	client_id
//	    Application (client) ID; also AZURE_CLIENT_ID
//	client_secret
//	    secret value (prefer client_secret_file); printed as [redacted];
//	    also AZURE_CLIENT_SECRET
//	client_secret_file
//	    file holding the secret (white space around it ignored); during a
//	    rotation a list of two files, tried in order (see Rotating
//	    credentials); re-read when it changes
//	client_certificate
//	    PEM with certificate and unencrypted key, or .pfx/.p12; during a
//	    rotation a list of two files, tried in order; re-read when it
//	    changes; also AZURE_CLIENT_CERTIFICATE_PATH
//	client_certificate_password
//	    password of the .pfx; printed as [redacted]; also
//	    AZURE_CLIENT_CERTIFICATE_PASSWORD
//	client_secret_expires
//	    when the client secret expires, as the portal shows it next to the
//	    secret (2026-03-31); with two secret files, the first one's; doctor,
//	    serve and send warn credential_warn_days ahead; unset: unknown
//	credential_warn_days
//	    warn this many days before the client secret or certificate expires
//	    (doctor warns, serve logs one warning a day, send and sendmail at
//	    most one a day); 0: only when expired; default 30
//	federated_token_file
//	    file holding a federated token (workload identity federation);
//	    re-read on every token request; also AZURE_FEDERATED_TOKEN_FILE
//	managed_identity_client_id
//	    client ID of a user-assigned managed identity (auth.method:
//	    managed_identity); unset: system-assigned
//	auth.method
//	    secret, certificate, workload_identity, managed_identity or
//	    delegated (see Delegated sign-in; never chosen automatically);
//	    unset: a secret gives secret, else client_certificate gives
//	    certificate, else federated_token_file gives workload_identity;
//	    default from what is set
//	delegated.user
//	    auth.method: delegated: the account (UPN) to act for when several
//	    are signed in, and the login hint of graphmail login --browser;
//	    unset: the only signed-in account
//	cloud
//	    global, usgov (GCC High), usgovdod or china; sets the defaults of
//	    authority_host, graph_endpoint, graph_scope, smtp.host and
//	    smtp.scope; default global
//	authority_host
//	    e.g. https://login.microsoftonline.com; overrides cloud; default per
//	    cloud; also AZURE_AUTHORITY_HOST
//	graph_endpoint
//	    e.g. https://graph.microsoft.com, without the API version (plain
//	    http only on localhost, 127.0.0.1 and ::1); overrides cloud; default
//	    per cloud
//	graph_scope
//	    e.g. https://graph.microsoft.com/.default; does not follow
//	    graph_endpoint; default per cloud
//	instance_discovery
//	    false for private or test authorities; default true
//	ca_file
//	    extra PEM CA bundle trusted for every TLS connection (proxies that
//	    inspect TLS, test tenants)
//	sender
//	    mailbox that sends; with auth.method: delegated the signed-in user's
//	    own mailbox goes through /me/sendMail, another one through
//	    users/{sender}/sendMail (a mailbox the user may send from); unset:
//	    delegated: the signed-in user
//	save_to_sent_items
//	    keep a copy in the sender's Sent Items; false works for graphmail
//	    send through Graph JSON only: Graph always keeps MIME sends (serve,
//	    sendmail, send --mime, two-body messages) and upload-session sends,
//	    and the SMTP fallback never saves one; default true
//	smtp.host
//	    SMTP submission server of the fallback (STARTTLS), e.g.
//	    smtp.office365.com; default per cloud
//	smtp.port
//	    SMTP submission port (STARTTLS); default 587
//	smtp.fallback
//	    auto (Graph, then SMTP when Graph cannot take it), never, only;
//	    default auto
//	smtp.scope
//	    e.g. https://outlook.office365.com/.default; default per cloud
//	smtp.max_message_size
//	    largest message handed to the SMTP fallback because it is over
//	    Graph's 4 MB request limit (Exchange Online's default; raise to at
//	    most 150MB if your tenant does); bytes or KB/MB, binary units;
//	    default 35MB
//	large_messages
//	    empty: a message over Graph's 4 MB request limit goes to the SMTP
//	    fallback (if within smtp.max_message_size), else exit 65;
//	    upload_session: sent through Graph as a draft whose attachments over
//	    3 MB are uploaded in 3.75 MiB chunks, streamed from the file (needs
//	    the Mail.ReadWrite application permission, up to 150 MB per
//	    attachment; the draft is deleted if the send fails); a raw message
//	    (send --mime, sendmail, serve) becomes a draft created from its MIME
//	    without its largest attachment parts, which are added the same way,
//	    decoded from the message as they go: serve streams them from its
//	    spool file (a 100 MB scan in under 64 MiB of memory), while send
//	    --mime and sendmail hold their input in memory
//	limits.messages_per_minute
//	    messages started per minute and mailbox, spaced evenly within a
//	    process and counted across the host's processes through
//	    limits.budget_file (Exchange Online delays more than 30); 0:
//	    unlimited. Independently, at most 4 Graph requests per mailbox are
//	    ever in flight (Graph's MailboxConcurrency limit); default 30
//	limits.budget_file
//	    state file (mode 0600, 0660 in a setgid directory; locked with
//	    flock) through which every send, sendmail and serve process of the
//	    host shares each mailbox's limits.messages_per_minute in any sliding
//	    minute and its 4 messages in flight, so cron bursts do not multiply
//	    the rate; processes of different users share it only when they name
//	    one file in a group-shared directory; none: each process keeps to
//	    its own limits; default budget.json beside the token cache
//	    (token_cache.path); none when that is none
//	retry.max_attempts
//	    tries, including the first, for temporary Graph failures (429, 503,
//	    504, network); 1: no retry; default 4
//	retry.max_elapsed
//	    total time spent waiting between those tries; default 2m
//	token_cache.path
//	    encrypted token cache file (see Tokens); none keeps tokens in memory
//	    only (not allowed with auth.method: delegated); default
//	    $XDG_CACHE_HOME/graphmail/tokens.bin, else
//	    ~/.cache/graphmail/tokens.bin; root or no home:
//	    /var/cache/graphmail/tokens.bin
//	token_cache.key_file
//	    auth.method: delegated without a client secret: random key (mode
//	    0600) that encrypts the token cache, created by graphmail login;
//	    default $XDG_CONFIG_HOME/graphmail/token-cache.key, else
//	    ~/.config/graphmail/token-cache.key; root or no home:
//	    /var/lib/graphmail/token-cache.key
//	serve.listen
//	    SMTP submission listener of graphmail serve (STARTTLS when
//	    serve.tls_cert/serve.tls_key are set); default 127.0.0.1:2525
//	serve.tls_listen
//	    optional implicit-TLS listener
//	serve.tls_cert
//	    the relay's PEM certificate (with its chain); set together with
//	    serve.tls_key
//	serve.tls_key
//	    the relay's unencrypted PEM private key
//	serve.allow_nets
//	    client networks that may submit without AUTH (CIDR; a bare address
//	    is one host); default [127.0.0.0/8, ::1/128]
//	serve.allowed_from
//	    senders (addresses or @domain) those clients may use; default any
//	serve.postmaster
//	    also send every bounce (a delivery status notification for a message
//	    given up) to this address; without it bounces go only to a
//	    deliverable envelope sender
//	serve.accounts
//	    file only: NAME: {password_hash: '$argon2id$…', allowed_from:
//	    [a@contoso.com], mailbox: scanner@contoso.com}; hashes from
//	    graphmail serve hash-password; AUTH only over TLS unless on
//	    loopback; mailbox sends all of the account's mail through that
//	    mailbox
//	serve.mailbox
//	    the mailbox relayed mail is sent through: sender (the sender
//	    mailbox) or from (the message's From address when the client may use
//	    it: it matches the account's allowed_from, or serve.allowed_from
//	    without AUTH, or, when that list is empty, is in the sender's
//	    domain; else the sender mailbox); Graph needs Mail.Send for each
//	    such mailbox (graphmail doctor probes them); default sender
//	serve.rewrite
//	    file only: header rules for legacy devices, applied in order before
//	    a message is queued: [{accounts: [scanner], nets: [10.1.2.0/24],
//	    from: mailbox, reply_to: true, drop_address_names: true,
//	    subject_prefix: '[scan] ', qualify: true}]; a rule without accounts
//	    and nets applies to every message; see "Relay rewrite rules" in the
//	    README
//	serve.max_message_size
//	    largest message accepted, announced with SIZE; 552 beyond; default
//	    35MB
//	serve.max_recipients
//	    most recipients per message; 452 beyond; default 500
//	serve.messages_per_minute
//	    messages per minute and client IP; default unlimited
//	serve.connections_per_minute
//	    connections per minute and client IP; default unlimited
//	serve.max_connections
//	    most simultaneous SMTP connections, all clients together; beyond it
//	    421 4.7.0 at connect; default 100
//	serve.command_timeout
//	    like Postfix's smtpd_timeout: the wait for each command line and
//	    each read of a message (then 421 4.4.2); NOOP and other commands
//	    that do nothing do not extend it; a message may take this plus 1 s
//	    per KiB received; default 5m
//	serve.proxy_protocol
//	    behind an L4 load balancer: every connection begins with a PROXY
//	    protocol v1 or v2 header (HAProxy send-proxy/send-proxy-v2, AWS NLB,
//	    nginx proxy_protocol on) whose client address is the one
//	    serve.allow_nets, the per-client limits and the log see; needs
//	    serve.proxy_trusted_nets; a restart applies a change; default false
//	serve.proxy_trusted_nets
//	    the load balancers' networks (CIDR; a bare address is one host);
//	    with serve.proxy_protocol a connection from elsewhere, or without a
//	    valid header within serve.command_timeout (10 s at most), is closed;
//	    unset: none
//	serve.metrics_listen
//	    HTTP /healthz, /readyz, /metrics (Prometheus); unset: off
//	spool.dir
//	    the durable queue of graphmail serve and sendmail.spool; default
//	    $XDG_STATE_HOME/graphmail/spool, else
//	    ~/.local/state/graphmail/spool; root or no home:
//	    /var/spool/graphmail
//	spool.max_age
//	    how long a message is retried before it becomes a dead letter;
//	    default 120h
//	spool.retry_interval
//	    wait after the first failed attempt, doubling after each further
//	    failure up to 1h; default 1m
//	spool.workers
//	    parallel deliveries (1 to 64); default 4
//	spool.keep_done
//	    keep delivered messages in done/; default false
//	spool.backend
//	    dir: the fsynced directory in spool.dir, one relay delivers from it;
//	    nats: a NATS JetStream stream (the nats.* keys) that every relay on
//	    it accepts into and delivers from, with one per-mailbox budget
//	    across them; default dir
//	nats.url
//	    the NATS servers, comma-separated (nats://n1:4222,nats://n2:4222;
//	    tls:// for TLS); unset: required with spool.backend: nats
//	nats.creds_file
//	    a NATS credentials file (user JWT and NKey seed), kept out of the
//	    config like a client secret; unset: none
//	nats.ca_file
//	    the CA bundle that signs the NATS servers' certificates; unset:
//	    system roots
//	nats.tls_cert
//	    client certificate (PEM) for mutual TLS with the NATS servers; needs
//	    nats.tls_key; unset: none
//	nats.tls_key
//	    the key of nats.tls_cert; unset: none
//	nats.stream
//	    the JetStream stream of queued messages; the dead letters
//	    (<stream>_DEAD), the KV buckets and the object store are named after
//	    it; default GRAPHMAIL
//	nats.replicas
//	    replicas of the stream, the dead letters, the buckets and the object
//	    store: 1 on a single server, 3 on a cluster (the 250 then waits for
//	    a quorum); default 1
//	aliases
//	    aliases(5) file such as /etc/aliases (root: ops@contoso.com, comma
//	    lists, a default: entry for every other local name); local
//	    recipients (root, www-data, user@localhost, user@<hostname>) resolve
//	    through it in the envelope and in To/Cc/Bcc; without an entry they
//	    fail (exit 67); unset: none
//	sendmail.spool
//	    graphmail sendmail drops messages into the spool of a running
//	    graphmail serve instead of sending directly; default false
//	log.level
//	    debug, info, warn or error; logs go to standard error; default info
//	log.format
//	    text or json (for log shippers); default text
//	log.recipients
//	    also log recipient addresses in the audit line (by default only
//	    their number); default false
//	log.subject
//	    also log each message's Subject in the audit line (off by default:
//	    subjects can hold personal data); default false
//	log.file
//	    also append the log to this file (mode 0640; reopened on SIGHUP and
//	    when logrotate moves it); it records every message at info even when
//	    standard error is quieter
//	log.syslog
//	    also log to the local syslog/journald (facility mail, tag
//	    graphmail), every message at info; default false
//
// # Validation
//
// Load checks everything before any network call and returns Errors, one
// *Error per problem, each naming the key, what is wrong and how to fix it.
// Unknown keys in the file, unknown GRAPHMAIL_* variables (other than
// GRAPHMAIL_CONFIG) and unknown override keys are errors, with the nearest
// valid name suggested. With Options.RequireCredentials, Load also insists
// on tenant_id, client_id, sender and exactly one credential, reads
// client_secret_file, and checks that client_certificate exists and that
// ca_file holds PEM certificates. Load does not check the permissions of the
// secret file; group- or world-readable files are accepted.
//
// Two kinds of problem concern the file rather than a key (Error.Key is
// "config"). A file that cannot be used — unreadable, of an unsupported
// type, not parseable, or one of two candidates in one place — is reported
// alone, since the other findings would follow from it. When no file was
// found and a required value is missing, the first error says where Load
// looked.
//
// # Secrets
//
// client_secret and client_certificate_password are of type Secret, which
// prints as "[redacted]" (or "" when empty) through fmt, encoding/json,
// encoding.TextMarshaler and log/slog. Error messages never contain a
// configured value of any key, because a secret pasted into the wrong key
// would otherwise leak.
package config
