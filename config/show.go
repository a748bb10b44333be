package config

import (
	"strconv"
	"strings"
)

// Setting is one effective configuration value, for display: secrets are
// already redacted.
type Setting struct {
	// Key is the dotted key, e.g. "smtp.host".
	Key string
	// Value is the value as text; a secret shows as "[redacted]".
	Value string
	// Source says where it came from: flag, env, file, azure-env or default.
	Source string
}

// settingValue renders each key of Config. A key missing here is caught by
// TestSettingsCoverEveryKey.
var settingValue = map[string]func(c *Config) string{
	"tenant_id":                    func(c *Config) string { return c.TenantID },
	"client_id":                    func(c *Config) string { return c.ClientID },
	"client_secret":                func(c *Config) string { return c.ClientSecret.String() },
	"client_secret_file":           func(c *Config) string { return c.ClientSecretFile },
	"client_certificate":           func(c *Config) string { return c.ClientCertificate },
	"client_certificate_password":  func(c *Config) string { return c.ClientCertificatePassword.String() },
	"federated_token_file":         func(c *Config) string { return c.FederatedTokenFile },
	"managed_identity_client_id":   func(c *Config) string { return c.ManagedIdentityClientID },
	"auth.method":                  func(c *Config) string { return c.Auth.Method },
	"delegated.user":               func(c *Config) string { return c.Delegated.User },
	"cloud":                        func(c *Config) string { return c.Cloud },
	"authority_host":               func(c *Config) string { return c.AuthorityHost },
	"graph_endpoint":               func(c *Config) string { return c.GraphEndpoint },
	"graph_scope":                  func(c *Config) string { return c.GraphScope },
	"instance_discovery":           func(c *Config) string { return strconv.FormatBool(c.InstanceDiscovery) },
	"ca_file":                      func(c *Config) string { return c.CAFile },
	"sender":                       func(c *Config) string { return c.Sender },
	"save_to_sent_items":           func(c *Config) string { return strconv.FormatBool(c.SaveToSentItems) },
	"smtp.host":                    func(c *Config) string { return c.SMTP.Host },
	"smtp.port":                    func(c *Config) string { return strconv.Itoa(c.SMTP.Port) },
	"smtp.fallback":                func(c *Config) string { return c.SMTP.Fallback },
	"smtp.scope":                   func(c *Config) string { return c.SMTP.Scope },
	"smtp.max_message_size":        func(c *Config) string { return strconv.FormatInt(c.SMTP.MaxMessageSize, 10) },
	"large_messages":               func(c *Config) string { return c.LargeMessages },
	"limits.messages_per_minute":   func(c *Config) string { return strconv.Itoa(c.Limits.MessagesPerMinute) },
	"retry.max_attempts":           func(c *Config) string { return strconv.Itoa(c.Retry.MaxAttempts) },
	"retry.max_elapsed":            func(c *Config) string { return c.Retry.MaxElapsed.String() },
	"token_cache.path":             func(c *Config) string { return c.TokenCache.Path },
	"token_cache.key_file":         func(c *Config) string { return c.TokenCache.KeyFile },
	"serve.listen":                 func(c *Config) string { return c.Serve.Listen },
	"serve.tls_listen":             func(c *Config) string { return c.Serve.TLSListen },
	"serve.tls_cert":               func(c *Config) string { return c.Serve.TLSCert },
	"serve.tls_key":                func(c *Config) string { return c.Serve.TLSKey },
	"serve.allow_nets":             func(c *Config) string { return strings.Join(c.Serve.AllowNets, ",") },
	"serve.allowed_from":           func(c *Config) string { return strings.Join(c.Serve.AllowedFrom, ",") },
	"serve.accounts":               func(c *Config) string { return accountsText(c.Serve.Accounts) },
	"serve.max_message_size":       func(c *Config) string { return strconv.FormatInt(c.Serve.MaxMessageSize, 10) },
	"serve.max_recipients":         func(c *Config) string { return strconv.Itoa(c.Serve.MaxRecipients) },
	"serve.messages_per_minute":    func(c *Config) string { return strconv.Itoa(c.Serve.MessagesPerMinute) },
	"serve.connections_per_minute": func(c *Config) string { return strconv.Itoa(c.Serve.ConnectionsPerMinute) },
	"serve.metrics_listen":         func(c *Config) string { return c.Serve.MetricsListen },
	"spool.dir":                    func(c *Config) string { return c.Spool.Dir },
	"spool.max_age":                func(c *Config) string { return c.Spool.MaxAge.String() },
	"spool.retry_interval":         func(c *Config) string { return c.Spool.RetryInterval.String() },
	"spool.workers":                func(c *Config) string { return strconv.Itoa(c.Spool.Workers) },
	"spool.keep_done":              func(c *Config) string { return strconv.FormatBool(c.Spool.KeepDone) },
	"sendmail.spool":               func(c *Config) string { return strconv.FormatBool(c.Sendmail.Spool) },
	"log.level":                    func(c *Config) string { return c.Log.Level },
	"log.format":                   func(c *Config) string { return c.Log.Format },
	"log.recipients":               func(c *Config) string { return strconv.FormatBool(c.Log.Recipients) },
}

// Settings lists every key with its effective value and source, in the
// order of the documentation. Secrets are redacted.
func (c *Config) Settings() []Setting {
	keys := Keys()
	out := make([]Setting, 0, len(keys))
	for _, k := range keys {
		v := ""
		if f := settingValue[k]; f != nil {
			v = f(c)
		}
		out = append(out, Setting{Key: k, Value: v, Source: c.Sources[k]})
	}
	return out
}
