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
	SourceDefault  = "default"   // built in, possibly chosen by cloud
)

// EnvConfig names the environment variable that points at the
// configuration file when Options.ConfigFile is empty.
const EnvConfig = "GRAPHMAIL_CONFIG"

// envPrefix starts every graphmail environment variable.
const envPrefix = "GRAPHMAIL_"

// kind is the type a key's value is converted to.
type kind int

const (
	kindString kind = iota
	kindSecret      // a string that is never echoed
	kindInt
	kindBool
	kindPath     // a string naming a file; relative paths in the file are relative to it
	kindDuration // a Go duration such as "90s" or "2m"
	kindList     // a list of strings: a YAML/TOML/JSON list, or comma-separated in env and flags
	kindAccounts // a table of relay accounts (file only)
	kindSize     // a byte count: a whole number, or with a unit (KB, MB; binary multiples)
)

// keyDef describes one configuration key.
type keyDef struct {
	name     string // dotted, lower case
	kind     kind
	azureEnv string // azidentity variable feeding this key, if any
}

// keyTable lists every configuration key, in the order errors are reported.
var keyTable = []keyDef{
	{name: "tenant_id", kind: kindString, azureEnv: "AZURE_TENANT_ID"},
	{name: "client_id", kind: kindString, azureEnv: "AZURE_CLIENT_ID"},
	{name: "client_secret", kind: kindSecret, azureEnv: "AZURE_CLIENT_SECRET"},
	{name: "client_secret_file", kind: kindPath},
	{name: "client_certificate", kind: kindPath, azureEnv: "AZURE_CLIENT_CERTIFICATE_PATH"},
	{name: "client_certificate_password", kind: kindSecret, azureEnv: "AZURE_CLIENT_CERTIFICATE_PASSWORD"},
	{name: "federated_token_file", kind: kindPath, azureEnv: "AZURE_FEDERATED_TOKEN_FILE"},
	{name: "managed_identity_client_id", kind: kindString},
	{name: "auth.method", kind: kindString},
	{name: "delegated.user", kind: kindString},
	{name: "cloud", kind: kindString},
	{name: "authority_host", kind: kindString, azureEnv: "AZURE_AUTHORITY_HOST"},
	{name: "graph_endpoint", kind: kindString},
	{name: "graph_scope", kind: kindString},
	{name: "instance_discovery", kind: kindBool},
	{name: "ca_file", kind: kindPath},
	{name: "sender", kind: kindString},
	{name: "save_to_sent_items", kind: kindBool},
	{name: "smtp.host", kind: kindString},
	{name: "smtp.port", kind: kindInt},
	{name: "smtp.fallback", kind: kindString},
	{name: "smtp.scope", kind: kindString},
	{name: "smtp.max_message_size", kind: kindSize},
	{name: "large_messages", kind: kindString},
	{name: "limits.messages_per_minute", kind: kindInt},
	{name: "retry.max_attempts", kind: kindInt},
	{name: "retry.max_elapsed", kind: kindDuration},
	{name: "token_cache.path", kind: kindPath},
	{name: "token_cache.key_file", kind: kindPath},
	{name: "serve.listen", kind: kindString},
	{name: "serve.tls_listen", kind: kindString},
	{name: "serve.tls_cert", kind: kindPath},
	{name: "serve.tls_key", kind: kindPath},
	{name: "serve.allow_nets", kind: kindList},
	{name: "serve.allowed_from", kind: kindList},
	{name: "serve.accounts", kind: kindAccounts},
	{name: "serve.max_message_size", kind: kindSize},
	{name: "serve.max_recipients", kind: kindInt},
	{name: "serve.messages_per_minute", kind: kindInt},
	{name: "serve.connections_per_minute", kind: kindInt},
	{name: "serve.metrics_listen", kind: kindString},
	{name: "spool.dir", kind: kindPath},
	{name: "spool.max_age", kind: kindDuration},
	{name: "spool.retry_interval", kind: kindDuration},
	{name: "spool.workers", kind: kindInt},
	{name: "spool.keep_done", kind: kindBool},
	{name: "sendmail.spool", kind: kindBool},
	{name: "log.level", kind: kindString},
	{name: "log.format", kind: kindString},
	{name: "log.recipients", kind: kindBool},
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

// lookupKey returns the definition of a key.
func lookupKey(name string) (keyDef, bool) {
	i := slices.IndexFunc(keyTable, func(k keyDef) bool { return k.name == name })
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

// suggest returns the candidate closest to name, or "" when none is close
// enough to be a plausible typo. A candidate whose last segment equals name
// (host → smtp.host) also counts as close.
func suggest(name string, candidates []string) string {
	name = strings.ToLower(name)
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(name, strings.ToLower(c))
		if d < bestDist || bestDist < 0 {
			best, bestDist = c, d
		}
	}
	if best != "" && (bestDist <= 2 || bestDist*3 <= len(name)) {
		return best
	}
	for _, c := range candidates {
		if strings.ToLower(c[strings.LastIndex(c, ".")+1:]) == name {
			return c
		}
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b, counted in bytes
// (keys are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
