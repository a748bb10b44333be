package config

import (
	"errors"
	"io/fs"
	"os"
	"reflect"
	"strings"
	"time"
)

// Config is the validated configuration: typed values, every default
// resolved (cloud endpoints, the token cache, its key file and the spool
// directory included). Printing or marshalling it never shows a secret
// (see Secret). Each field is filled by the key named in its comment; the
// package documentation lists them all.
type Config struct {
	// TenantID is the Directory (tenant) ID, a GUID or a verified domain
	// such as contoso.onmicrosoft.com.
	TenantID string
	// ClientID is the Application (client) ID of the app registration.
	ClientID string
	// ClientSecret is the client secret: the value of client_secret, or the
	// contents of client_secret_file with surrounding white space removed.
	ClientSecret Secret
	// ClientSecretFiles are the files of client_secret_file: one, or two
	// during a rotation (tried in order).
	ClientSecretFiles []string
	// ClientSecretFile is the first of ClientSecretFiles (the file the
	// secret was read from), or "".
	ClientSecretFile string
	// ClientSecretExpires is client_secret_expires: when the client secret
	// (the first one, with two files) expires; zero when not configured.
	ClientSecretExpires time.Time
	// CredentialWarnDays is how many days before a client secret or
	// certificate expires graphmail starts warning (credential_warn_days,
	// default 30).
	CredentialWarnDays int
	// ClientCertificates are the files of client_certificate: one, or two
	// during a rotation (tried in order).
	ClientCertificates []string
	// ClientCertificate is the first of ClientCertificates: the path of a
	// PEM file (certificate and key) or a .pfx/.p12 file, or "". Load
	// checks only that the files exist.
	ClientCertificate string
	// ClientCertificatePassword decrypts a .pfx/.p12 file.
	ClientCertificatePassword Secret
	// FederatedTokenFile is the file holding a federated token for
	// workload identity federation: federated_token_file, else
	// AZURE_FEDERATED_TOKEN_FILE. Load checks only that it exists.
	FederatedTokenFile string
	// ManagedIdentityClientID selects a user-assigned managed identity by
	// client ID; "" means the system-assigned identity.
	ManagedIdentityClientID string
	// Auth says how graphmail authenticates.
	Auth Auth
	// Delegated configures auth.method delegated.
	Delegated Delegated
	// Cloud is global (the default), usgov, usgovdod or china.
	Cloud Cloud
	// AuthorityHost is "https://host" with no trailing slash: authority_host,
	// else the cloud's login host.
	AuthorityHost string
	// GraphEndpoint is graph_endpoint, else the cloud's Graph root, with no
	// trailing slash and no API version ("https://graph.microsoft.com").
	GraphEndpoint string
	// GraphScope is the scope requested for Graph tokens: graph_scope, else
	// the cloud's ("https://graph.microsoft.com/.default"). It does not
	// follow GraphEndpoint, so a test endpoint keeps the real scope.
	GraphScope string
	// InstanceDiscovery lets MSAL validate the authority with
	// login.microsoftonline.com; turn it off for a non-Microsoft authority.
	// Default true.
	InstanceDiscovery bool
	// CAFile is a PEM bundle of extra trusted roots, or "".
	CAFile string
	// Sender is the address of the mailbox that sends.
	Sender string
	// SaveToSentItems keeps a copy in the sender's Sent Items. Default true.
	SaveToSentItems bool
	// SMTP configures the SMTP XOAUTH2 fallback.
	SMTP SMTP
	// Retry bounds retries of temporary Graph failures.
	Retry Retry
	// LargeMessages is how a message over Graph's 4 MB request limit is
	// sent (large_messages).
	LargeMessages LargeMessages
	// Limits paces sending per mailbox.
	Limits Limits
	// TokenCache configures the persistent token cache.
	TokenCache TokenCache
	// Serve configures the SMTP relay daemon.
	Serve Serve
	// Spool configures the durable queue.
	Spool Spool
	// NATS configures the NATS JetStream backend (spool.backend: nats).
	NATS NATS
	// Sendmail configures the sendmail drop-in.
	Sendmail Sendmail
	// Aliases is the aliases(5) file (aliases) that maps local recipient
	// names such as root to mailbox addresses; "" means none.
	Aliases string
	// Log configures logging.
	Log Log
	// Sources maps every key (dotted, lower case, e.g. "smtp.host") to where
	// its value came from: "flag", "env", "file", "azure-env" or "default".
	Sources map[string]string
	// File is the configuration file that was read, "" when none.
	File string
}

// Retry bounds how often and how long a temporary Graph failure (429, 503,
// 504, network) is retried before it is reported or handed to the fallback.
type Retry struct {
	// MaxAttempts is the number of tries including the first
	// (retry.max_attempts, default 4).
	MaxAttempts int
	// MaxElapsed bounds the total time spent waiting between tries
	// (retry.max_elapsed, default 2m).
	MaxElapsed time.Duration
}

// Limits paces sending so that Exchange Online delays or throttles
// nothing.
type Limits struct {
	// MessagesPerMinute is the most messages one process starts per minute
	// and sending mailbox (limits.messages_per_minute, default 30,
	// Exchange Online's limit); 0 means unlimited.
	MessagesPerMinute int
	// BudgetFile is the state file through which the processes of the
	// host share each mailbox's limits (limits.budget_file; default
	// budget.json beside the token cache, see setup.BudgetPath), or
	// "none" to keep them per process.
	BudgetFile string
}

// SMTP configures the SMTP fallback.
type SMTP struct {
	// Host is the submission server; default from the cloud
	// (smtp.office365.com, smtp.office365.us, smtp.partner.outlook.cn).
	Host string
	// Port is the submission port (STARTTLS). Default 587.
	Port int
	// Fallback is smtp.fallback: auto (use SMTP when Graph fails;
	// default), never, or only (skip Graph).
	Fallback FallbackPolicy
	// Scope is the OAuth scope requested for SMTP tokens; smtp.scope, else
	// the cloud's ("https://outlook.office365.com/.default").
	Scope string
	// MaxMessageSize is the largest message, in bytes, handed to the SMTP
	// fallback (smtp.max_message_size, default 35 MB = 36700160 bytes,
	// Exchange Online's default; units are binary: 1 MB = 1048576).
	MaxMessageSize int64
}

// TokenCache configures the persistent token cache.
type TokenCache struct {
	// Path is the cache file (token_cache.path; default
	// $XDG_CACHE_HOME/graphmail/tokens.bin, see tokencache.DefaultPath),
	// or "none" to keep tokens in memory only.
	Path string
	// KeyFile is the file holding the random key that encrypts the cache
	// for auth.method delegated without a client secret
	// (token_cache.key_file; default graphmail/token-cache.key in the
	// configuration directory, /var/lib/graphmail for root).
	KeyFile string
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level LogLevel
	// Format is text (default) or json.
	Format LogFormat
	// Recipients logs recipient addresses when true. Default false.
	Recipients bool
	// Subject logs each message's Subject in the audit line (log.subject).
	// Default false.
	Subject bool
	// File is a file the log is also appended to ("" for none).
	File string
	// Syslog also sends the log to the local syslog (facility mail).
	Syslog bool
}

// LogLevel is a value of log.level.
type LogLevel string

// The log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info"
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// LogFormat is a value of log.format.
type LogFormat string

// The log formats.
const (
	LogText LogFormat = "text" // log/slog's text handler
	LogJSON LogFormat = "json" // one JSON object per line, for log shippers
)

// FallbackPolicy is a value of smtp.fallback: when the SMTP fallback is
// used.
type FallbackPolicy string

// The fallback policies.
const (
	FallbackAuto  FallbackPolicy = "auto"  // Graph, then SMTP when Graph cannot take the message
	FallbackNever FallbackPolicy = "never" // Graph only
	FallbackOnly  FallbackPolicy = "only"  // SMTP only
)

// LargeMessages is a value of large_messages: how a message over Graph's
// 4 MB request limit is sent.
type LargeMessages string

// The ways of sending large messages.
const (
	// LargeMessagesFallback hands the message to the SMTP fallback when it
	// fits smtp.max_message_size.
	LargeMessagesFallback LargeMessages = ""
	// LargeMessagesUploadSession sends it through Graph as a draft whose
	// attachments are uploaded in chunks (needs the Mail.ReadWrite
	// application permission).
	LargeMessagesUploadSession LargeMessages = "upload_session"
)

// AuthMethod is a value of auth.method: how graphmail authenticates.
type AuthMethod string

// The credential methods.
const (
	MethodSecret           AuthMethod = "secret"            // client secret
	MethodCertificate      AuthMethod = "certificate"       // client certificate
	MethodWorkloadIdentity AuthMethod = "workload_identity" // federated token file
	MethodManagedIdentity  AuthMethod = "managed_identity"  // the Azure host's identity
	MethodDelegated        AuthMethod = "delegated"         // a signed-in user (graphmail login)
)

// Delegated is the delegated section: a user signs in once with
// "graphmail login" and graphmail acts for them.
type Delegated struct {
	// User is delegated.user: the user principal name of the account to
	// use when several are signed in, and the login hint of
	// "graphmail login --browser". Optional.
	User string
}

// Auth is the auth section.
type Auth struct {
	// Method is auth.method: secret, certificate, workload_identity,
	// managed_identity or delegated (never chosen automatically). When
	// unset it is chosen from what is configured: a client secret gives
	// secret, client_certificate certificate, federated_token_file
	// workload_identity (in that order); with none of them it stays "".
	Method AuthMethod
}

// credentialKeys are the keys that choose how graphmail authenticates.
var credentialKeys = []string{"client_secret", "client_secret_file", "client_certificate", "client_certificate_password"}

// build resolves every key of keyTable into its Config field. Conversion
// problems are recorded in l.errs; validation of the values is left to
// validate.
func (l *loader) build() *Config {
	c := &Config{Sources: l.sources, File: l.file}
	// The cloud picks the defaults of several other keys, so it comes first.
	l.denv.cloud = clouds[CloudGlobal]
	cloud, _ := lookupKey("cloud")
	l.set(c, cloud)
	if c.Cloud == "" {
		c.Cloud = CloudGlobal
	}
	if def, ok := clouds[c.Cloud]; ok {
		l.denv.cloud = def
	}
	for _, k := range keyTable {
		if k.name != cloud.name {
			l.set(c, k)
		}
	}
	c.ClientSecretFile, c.ClientCertificate = first(c.ClientSecretFiles), first(c.ClientCertificates)
	l.dropAmbientCredentials(c)
	if c.Auth.Method == "" {
		switch {
		case c.ClientSecret != "" || c.ClientSecretFile != "":
			c.Auth.Method = MethodSecret
		case c.ClientCertificate != "":
			c.Auth.Method = MethodCertificate
		case c.FederatedTokenFile != "":
			c.Auth.Method = MethodWorkloadIdentity
		}
	}
	if c.ClientSecretFile != "" && c.ClientSecret == "" && (c.Auth.Method == MethodSecret || c.Auth.Method == "") {
		l.readSecretFile(c)
	}
	return c
}

// first returns list[0], or "" for an empty list.
func first(list []string) string {
	if len(list) == 0 {
		return ""
	}
	return list[0]
}

// set resolves key k, converts its value and stores it in its field of c.
// The conversions yield the field's underlying type (string for every
// named string type); TestKeyFields checks each key's field against its
// kind.
func (l *loader) set(c *Config, k keyDef) {
	dst := reflect.ValueOf(k.field(c)).Elem()
	dst.Set(reflect.ValueOf(l.value(k)).Convert(dst.Type()))
}

// dropAmbientCredentials ignores the AZURE_* credential variables when a
// credential is configured for graphmail itself (flag, GRAPHMAIL_* or the
// file). azure-env is a fallback layer, so an AZURE_CLIENT_SECRET meant for
// another tool must not collide with client_certificate from the file. The
// dropped keys are recorded with source "default".
func (l *loader) dropAmbientCredentials(c *Config) {
	own := false
	for _, k := range credentialKeys[:3] {
		switch l.sources[k] {
		case SourceFlag, SourceEnv, SourceFile:
			own = true
		}
	}
	if !own {
		return
	}
	if l.sources["federated_token_file"] == SourceAzureEnv && c.Auth.Method != MethodWorkloadIdentity {
		l.sources["federated_token_file"], l.origins["federated_token_file"] = SourceDefault, "default"
		c.FederatedTokenFile = ""
	}
	for _, k := range credentialKeys {
		if l.sources[k] != SourceAzureEnv {
			continue
		}
		l.sources[k], l.origins[k] = SourceDefault, "default"
		switch k {
		case "client_secret":
			c.ClientSecret = ""
		case "client_certificate":
			c.ClientCertificate, c.ClientCertificates = "", nil
		case "client_certificate_password":
			c.ClientCertificatePassword = ""
		}
	}
}

// readSecretFile loads ClientSecret from ClientSecretFile. Problems are
// reported only when credentials are required; otherwise the secret simply
// stays empty. Loose permissions are not checked here.
func (l *loader) readSecretFile(c *Config) {
	data, err := os.ReadFile(c.ClientSecretFile)
	if err != nil {
		if l.opts.RequireCredentials {
			hint := "check the path and that graphmail's user may read the file"
			if errors.Is(err, fs.ErrNotExist) {
				hint = "check the path; it should name a file holding only the secret's value"
			}
			l.fail("client_secret_file", "cannot read "+c.ClientSecretFile+": "+causeText(err), hint, err)
		}
		return
	}
	c.ClientSecret = Secret(strings.TrimSpace(string(data)))
	if c.ClientSecret == "" && l.opts.RequireCredentials {
		l.fail("client_secret_file", "the file is empty",
			"write the secret's value (not its ID) from Certificates & secrets into it", nil)
	}
}
