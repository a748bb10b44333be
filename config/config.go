package config

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Config is the validated configuration: plain values, defaults resolved.
// Printing or marshalling it never shows a secret (see Secret).
type Config struct {
	// TenantID is the Directory (tenant) ID, a GUID or a verified domain
	// such as contoso.onmicrosoft.com.
	TenantID string
	// ClientID is the Application (client) ID of the app registration.
	ClientID string
	// ClientSecret is the client secret: the value of client_secret, or the
	// contents of client_secret_file with surrounding white space removed.
	ClientSecret Secret
	// ClientSecretFile is the file the secret was read from, if any.
	ClientSecretFile string
	// ClientCertificate is the path of a PEM file (certificate and key) or
	// a .pfx/.p12 file. Load checks only that the file exists.
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
	// Cloud is global, usgov, usgovdod or china.
	Cloud string
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
	// sent: "" (hand it to the SMTP fallback when it fits
	// smtp.max_message_size) or "upload_session" (a draft with attachments
	// uploaded in chunks; needs the Mail.ReadWrite application permission).
	LargeMessages string
	// Limits paces sending per mailbox.
	Limits Limits
	// TokenCache configures the persistent token cache.
	TokenCache TokenCache
	// Serve configures the SMTP relay daemon.
	Serve Serve
	// Spool configures the durable queue.
	Spool Spool
	// Sendmail configures the sendmail drop-in.
	Sendmail Sendmail
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
}

// SMTP configures the SMTP fallback.
type SMTP struct {
	// Host is the submission server; default from the cloud
	// (smtp.office365.com, smtp.office365.us, smtp.partner.outlook.cn).
	Host string
	// Port is the submission port (STARTTLS). Default 587.
	Port int
	// Fallback is auto (use SMTP when Graph fails; default), never, or only
	// (skip Graph).
	Fallback string
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
	// Path is the cache file: "" for the default location, "none" to keep
	// tokens in memory only.
	Path string
	// KeyFile is the file holding the random key that encrypts the cache
	// for auth.method delegated without a client secret: "" for the
	// default (graphmail/token-cache.key in the configuration directory).
	KeyFile string
}

// Log configures logging.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string
	// Format is text (default) or json.
	Format string
	// Recipients logs recipient addresses when true. Default false.
	Recipients bool
}

// Credential methods, the values of auth.method.
const (
	MethodSecret           = "secret"
	MethodCertificate      = "certificate"
	MethodWorkloadIdentity = "workload_identity"
	MethodManagedIdentity  = "managed_identity"
	MethodDelegated        = "delegated"
)

// methodNames lists the valid values of auth.method.
var methodNames = []string{MethodSecret, MethodCertificate, MethodWorkloadIdentity, MethodManagedIdentity, MethodDelegated}

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
	// managed_identity or delegated (never chosen automatically). When unset it is chosen from what is configured:
	// a client secret gives secret, client_certificate certificate,
	// federated_token_file workload_identity (in that order); with none
	// of them it stays "".
	Method string
}

// credentialKeys are the keys that choose how graphmail authenticates.
var credentialKeys = []string{"client_secret", "client_secret_file", "client_certificate", "client_certificate_password"}

// build resolves every key into a Config. Conversion problems are recorded
// in l.errs; validation of the values is left to validate.
func (l *loader) build() *Config {
	// The cloud picks the defaults of several other keys, so it comes first.
	l.defaults = defaults("global")
	cloud := strings.ToLower(l.value("cloud").(string))
	l.defaults = defaults(cloud)

	str := func(k string) string { return l.value(k).(string) }
	c := &Config{
		TenantID:                  str("tenant_id"),
		ClientID:                  str("client_id"),
		ClientSecret:              Secret(str("client_secret")),
		ClientSecretFile:          str("client_secret_file"),
		ClientCertificate:         str("client_certificate"),
		ClientCertificatePassword: Secret(str("client_certificate_password")),
		FederatedTokenFile:        str("federated_token_file"),
		ManagedIdentityClientID:   str("managed_identity_client_id"),
		Auth:                      Auth{Method: strings.ToLower(str("auth.method"))},
		Delegated:                 Delegated{User: str("delegated.user")},
		Cloud:                     cloud,
		AuthorityHost:             strings.TrimRight(str("authority_host"), "/"),
		GraphEndpoint:             strings.TrimRight(str("graph_endpoint"), "/"),
		GraphScope:                str("graph_scope"),
		InstanceDiscovery:         l.value("instance_discovery").(bool),
		CAFile:                    str("ca_file"),
		Sender:                    str("sender"),
		SaveToSentItems:           l.value("save_to_sent_items").(bool),
		SMTP: SMTP{
			Host:     str("smtp.host"),
			Port:     l.value("smtp.port").(int),
			Fallback: strings.ToLower(str("smtp.fallback")),
			Scope:    str("smtp.scope"),

			MaxMessageSize: l.value("smtp.max_message_size").(int64),
		},
		LargeMessages: strings.ToLower(str("large_messages")),
		Limits:        Limits{MessagesPerMinute: l.value("limits.messages_per_minute").(int)},
		Retry: Retry{
			MaxAttempts: l.value("retry.max_attempts").(int),
			MaxElapsed:  l.value("retry.max_elapsed").(time.Duration),
		},
		TokenCache: TokenCache{Path: str("token_cache.path"), KeyFile: str("token_cache.key_file")},
		Log: Log{
			Level:      strings.ToLower(str("log.level")),
			Format:     strings.ToLower(str("log.format")),
			Recipients: l.value("log.recipients").(bool),
		},
		Sources: l.sources,
		File:    l.file,
	}
	l.buildDaemon(c)
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
			c.ClientCertificate = ""
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
