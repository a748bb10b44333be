package config

import (
	"crypto/x509"
	"errors"
	"io/fs"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
)

var (
	guidRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	// domainRE matches a DNS name with at least two labels and an
	// alphabetic top-level label.
	domainRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?i)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	})
)

// Hints shared by several checks.
const (
	hintTenant = "copy the Directory (tenant) ID from the app registration's Overview page"
	hintClient = "copy the Application (client) ID from the app registration's Overview page"
)

// validate checks the values in c. Presence and file checks run only with
// RequireCredentials; a value that is set is always checked for its form.
// Keys whose value failed to convert, or is not one of an enum's choices,
// were reported already and are skipped.
func (l *loader) validate(c *Config) {
	req := l.opts.RequireCredentials
	managed := c.Auth.Method == MethodManagedIdentity
	ok := func(key string, value string) bool { return value != "" && !l.bad[key] }
	missing := func(key, hint string) {
		if req && !l.bad[key] {
			l.missing = true
			l.fail(key, "not set", "set "+key+" in the file or "+EnvName(key)+"; "+hint, nil)
		}
	}

	switch {
	case ok("tenant_id", c.TenantID):
		l.checkTenant(c.TenantID)
	case !managed:
		missing("tenant_id", hintTenant)
	}
	switch {
	case ok("client_id", c.ClientID):
		if !guidRE().MatchString(c.ClientID) {
			l.fail("client_id", "not a GUID", hintClient, nil)
		}
	case !managed:
		missing("client_id", hintClient)
	}
	if req && !l.bad["auth.method"] {
		l.checkCredentials(c)
	}
	if ok("managed_identity_client_id", c.ManagedIdentityClientID) && !guidRE().MatchString(c.ManagedIdentityClientID) {
		l.fail("managed_identity_client_id", "not a GUID",
			"copy the Client ID (not the Object ID) from the user-assigned managed identity's Overview page, or leave it unset for the system-assigned identity", nil)
	}

	if ok("authority_host", c.AuthorityHost) {
		l.checkURL("authority_host", c.AuthorityHost, false)
	}
	if ok("graph_endpoint", c.GraphEndpoint) {
		l.checkURL("graph_endpoint", c.GraphEndpoint, true)
	}
	if ok("graph_scope", c.GraphScope) {
		l.checkScope("graph_scope", c.GraphScope, "https://graph.microsoft.com/.default")
	}
	if ok("ca_file", c.CAFile) && req {
		l.checkCAFile(c.CAFile)
	}

	if ok("delegated.user", c.Delegated.User) {
		if a, err := mail.ParseAddress(c.Delegated.User); err != nil || a.Address != c.Delegated.User {
			l.fail("delegated.user", "not a user principal name", "write the account's sign-in name alone, e.g. alice@contoso.com", nil)
		}
	}
	switch {
	case ok("sender", c.Sender):
		if a, err := mail.ParseAddress(c.Sender); err != nil || a.Name != "" || a.Address != c.Sender {
			l.fail("sender", "not an e-mail address",
				"write the sending mailbox's address alone, e.g. reports@contoso.com", nil)
		}
	case c.Auth.Method == MethodDelegated:
		// The signed-in user's own mailbox (/me) by default.
	default:
		missing("sender", "it is the address of the mailbox that sends")
	}

	if ok("smtp.host", c.SMTP.Host) {
		if strings.Contains(c.SMTP.Host, "/") || strings.Count(c.SMTP.Host, ":") == 1 ||
			strings.ContainsAny(c.SMTP.Host, " \t") {
			l.fail("smtp.host", "not a host name",
				"write the host alone, e.g. smtp.office365.com; the port goes in smtp.port", nil)
		}
	}
	if !l.bad["smtp.port"] && (c.SMTP.Port < 1 || c.SMTP.Port > 65535) {
		l.fail("smtp.port", "not a port number (1 to 65535)", "Exchange Online takes submission on 587", nil)
	}
	if ok("smtp.scope", c.SMTP.Scope) {
		l.checkScope("smtp.scope", c.SMTP.Scope, "https://outlook.office365.com/.default")
	}
	if !l.bad["smtp.max_message_size"] && (c.SMTP.MaxMessageSize < 1<<10 || c.SMTP.MaxMessageSize > 150<<20) {
		l.fail("smtp.max_message_size", "must be between 1KB and 150MB",
			"Exchange Online accepts 35MB by default and up to 150MB when an administrator raises the limit", nil)
	}
	if !l.bad["limits.messages_per_minute"] && (c.Limits.MessagesPerMinute < 0 || c.Limits.MessagesPerMinute > 10000) {
		l.fail("limits.messages_per_minute", "must be between 0 and 10000",
			"0 means unlimited; Exchange Online delays messages beyond 30 per minute per mailbox", nil)
	}
	if !l.bad["retry.max_attempts"] && (c.Retry.MaxAttempts < 1 || c.Retry.MaxAttempts > 20) {
		l.fail("retry.max_attempts", "must be between 1 and 20", "1 means no retry; the default is 4", nil)
	}
	if !l.bad["credential_warn_days"] && (c.CredentialWarnDays < 0 || c.CredentialWarnDays > 365) {
		l.fail("credential_warn_days", "must be between 0 and 365", "the default is 30; 0 warns only once the credential has expired", nil)
	}
	l.validateDaemon(c)
}

// checkTenant accepts a GUID or a domain name, but not the multi-tenant
// aliases: client credentials need one specific tenant.
func (l *loader) checkTenant(t string) {
	switch lt := strings.ToLower(t); {
	case lt == "common" || lt == "organizations" || lt == "consumers":
		l.fail("tenant_id", lt+" is not a specific tenant (client credentials need one)", hintTenant, nil)
	case guidRE().MatchString(t) || domainRE().MatchString(t):
	default:
		l.fail("tenant_id", "not a GUID or a domain name", hintTenant+" (a verified domain such as contoso.onmicrosoft.com works too)", nil)
	}
}

// checkCredentials wants what auth.method needs: exactly one of secret and
// certificate for those methods, a federated token file for workload
// identity, nothing for a managed identity.
func (l *loader) checkCredentials(c *Config) {
	switch c.Auth.Method {
	case MethodManagedIdentity, MethodDelegated:
		// A delegated (public) client has no credential; a client secret,
		// if configured, only keys the token cache.
		return
	case MethodWorkloadIdentity:
		l.checkFederatedTokenFile(c)
		return
	case MethodSecret:
		if c.ClientSecret == "" && c.ClientSecretFile == "" && c.ClientCertificate != "" {
			l.fail("auth.method", "is secret but only client_certificate is set", "set auth.method: certificate, or configure client_secret", nil)
			return
		}
	case MethodCertificate:
		if c.ClientCertificate == "" {
			l.fail("client_certificate", "not set (auth.method is certificate)", "set client_certificate to a PEM or PFX file", nil)
			return
		}
	}
	l.checkSecretOrCertificate(c)
}

// checkFederatedTokenFile wants federated_token_file to name a file.
func (l *loader) checkFederatedTokenFile(c *Config) {
	const key = "federated_token_file"
	if l.bad[key] {
		return
	}
	if c.FederatedTokenFile == "" {
		l.fail(key, "not set (auth.method is workload_identity)",
			"set federated_token_file or AZURE_FEDERATED_TOKEN_FILE to the file the platform writes the federated token to (AKS workload identity sets the variable itself)", nil)
		return
	}
	switch fi, err := os.Stat(c.FederatedTokenFile); {
	case err != nil:
		l.fail(key, "cannot read "+c.FederatedTokenFile+": "+causeText(err),
			"check the path and that the token volume is mounted (AKS: the pod needs the label azure.workload.identity/use: \"true\")", err)
	case fi.IsDir():
		l.fail(key, c.FederatedTokenFile+" is a directory", "name the token file itself", nil)
	}
}

// checkSecretOrCertificate wants exactly one of a secret and a certificate
// and usable files.
func (l *loader) checkSecretOrCertificate(c *Config) {
	hasSecret := c.ClientSecret != "" || c.ClientSecretFile != ""
	hasCert := c.ClientCertificate != ""
	if l.bad["client_secret"] || l.bad["client_secret_file"] || l.bad["client_certificate"] {
		return
	}
	switch {
	case !hasSecret && !hasCert:
		l.missing = true
		l.fail("client_secret", "no client credential is set",
			"set client_secret or client_secret_file to a client secret's value, or client_certificate to a PEM or PFX file (both are created under Certificates & secrets in the app registration); without a secret, use federated_token_file (workload identity) or auth.method: managed_identity", nil)
		return
	case hasSecret && hasCert:
		secretKey := "client_secret"
		if c.ClientSecretFile != "" {
			secretKey = "client_secret_file"
		}
		l.fail("client_secret", "both a client secret ("+secretKey+", from "+l.sources[secretKey]+
			") and a certificate (client_certificate, from "+l.sources["client_certificate"]+") are set",
			"keep one of them", nil)
	}
	if c.ClientSecretFile != "" && l.sources["client_secret"] != SourceDefault {
		l.fail("client_secret_file", "set together with client_secret (from "+l.sources["client_secret"]+")",
			"keep one of them; a file keeps the secret out of the configuration and the environment", nil)
	}
	for _, path := range c.ClientCertificates {
		switch fi, err := os.Stat(path); {
		case err != nil:
			hint := "check the path and its permissions"
			if errors.Is(err, fs.ErrNotExist) {
				hint = "check the path; it should name a PEM file (certificate and private key) or a .pfx/.p12 file"
			}
			l.fail("client_certificate", "cannot read "+path+": "+causeText(err), hint, err)
		case fi.IsDir():
			l.fail("client_certificate", path+" is a directory", "name the certificate file itself", nil)
		}
	}
	if hasSecret {
		// The first file was read by build; the second, during a
		// rotation, must at least be there.
		for _, path := range c.ClientSecretFiles[min(1, len(c.ClientSecretFiles)):] {
			switch fi, err := os.Stat(path); {
			case err != nil:
				l.fail("client_secret_file", "cannot read "+path+": "+causeText(err), "check the path; during a rotation both listed files must exist", err)
			case fi.IsDir():
				l.fail("client_secret_file", path+" is a directory", "name the secret file itself", nil)
			}
		}
	}
}

// checkCAFile wants a readable PEM file with at least one certificate.
func (l *loader) checkCAFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		l.fail("ca_file", "cannot read "+path+": "+causeText(err), "check the path and its permissions", err)
		return
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		l.fail("ca_file", "holds no PEM certificate",
			"give a PEM file with one or more -----BEGIN CERTIFICATE----- blocks", nil)
	}
}

// checkURL wants an absolute https URL with no query, fragment or user
// info. The authority may have no path (MSAL requires https always); the
// Graph endpoint may use http on a loopback host and may have a path prefix
// but not the API version.
func (l *loader) checkURL(key, raw string, graph bool) {
	example := "https://login.microsoftonline.com"
	if graph {
		example = "https://graph.microsoft.com"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		l.fail(key, "not an absolute https URL", "write it like "+example, nil)
		return
	}
	if u.Scheme == "http" {
		if !graph {
			l.fail(key, "not an https URL", "MSAL only talks to an https authority; write it like "+example, nil)
			return
		}
		if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" && h != "::1" {
			l.fail(key, "not an https URL", "plain http is allowed only for localhost, 127.0.0.1 and ::1", nil)
			return
		}
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		l.fail(key, "has user info, a query or a fragment", "write it like "+example, nil)
		return
	}
	path := strings.Trim(u.Path, "/")
	switch {
	case !graph && path != "":
		l.fail(key, "has a path", "write only scheme and host, like "+example+"; the tenant goes in tenant_id", nil)
	case graph && (path == "v1.0" || path == "beta" || strings.HasSuffix(path, "/v1.0") || strings.HasSuffix(path, "/beta")):
		l.fail(key, "includes the API version", "drop the /v1.0 or /beta at the end; graphmail adds it", nil)
	}
}

// checkScope wants an absolute URL ending in /.default, the only form the
// client credentials flow accepts (AADSTS1002012 otherwise).
func (l *loader) checkScope(key, scope, example string) {
	u, err := url.Parse(scope)
	if err != nil || u.Scheme == "" || u.Host == "" || !strings.HasSuffix(scope, "/.default") {
		l.fail(key, "not a resource's /.default scope",
			"client credentials need a scope like "+example+"; usually leave it unset so the cloud's default applies", nil)
	}
}
